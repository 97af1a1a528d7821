"""Optuna tuning: the helper, OptunaSearchCV, pruning, storage resume, two workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState
from optuna_integration import OptunaSearchCV
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.model_selection import formula_groups
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.tuning import (
    LSTM_SEARCH_SPACE,
    check_space,
    default_search_space,
    to_distributions,
    tune,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

TINY = dict(embedding_dim=8, atom_hidden=8, crystal_hidden=8, head_hidden=8, random_state=0)
#: A small space for fast trials: only the learning rate and the distance expansion.
SMALL_SPACE = {
    "neighborlstmregressor__lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    "neighborlstmregressor__distance_expansion": {"type": "categorical", "choices": [4, 8]},
}


def pipeline(**params):
    return make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor(**{**TINY, **params}))


@pytest.fixture(scope="module")
def data(mp_sample):
    return list(mp_sample.data), mp_sample.target[:, 0]


def test_default_space_covers_real_parameters_and_converts():
    regressor = NeighborLSTMRegressor()
    check_space(regressor, LSTM_SEARCH_SPACE)
    space = default_search_space("neighborlstmregressor__")
    check_space(pipeline(), space)
    distributions = to_distributions(space)
    assert set(distributions) == set(space)
    space["neighborlstmregressor__lr"]["high"] = 0.5  # plain data: editable, a copy
    assert LSTM_SEARCH_SPACE["lr"]["high"] == 1e-2


def test_bad_spaces_fail_before_any_trial(data, tmp_path):
    X, y = data
    journal = tmp_path / "study.log"
    with pytest.raises(ValueError, match=r"'neighborlstmregressor__lrr' \(did you mean"):
        tune(
            pipeline(),
            X,
            y,
            space={"neighborlstmregressor__lrr": {"type": "float", "low": 1, "high": 2}},
            storage=journal,
            study_name="s",
        )
    with pytest.raises(ValueError, match="type 'uniform'"):
        tune(
            pipeline(),
            X,
            y,
            space={"neighborlstmregressor__lr": {"type": "uniform"}},
            storage=journal,
            study_name="s",
        )
    with pytest.raises(ValueError, match="lacks 'choices'"):
        check_space(pipeline(), {"neighborlstmregressor__atoms": {"type": "categorical"}})
    assert not journal.exists() or not optuna.get_all_study_names(
        optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    )


def test_optuna_search_cv_on_the_pipeline_with_formula_groups(data):
    X, y = data
    search = OptunaSearchCV(
        pipeline(max_epochs=2),
        to_distributions(SMALL_SPACE),
        cv=GroupKFold(n_splits=2),
        n_trials=2,
        scoring="neg_mean_absolute_error",
        random_state=0,
    )
    search.fit(X, y, groups=formula_groups(X))
    assert len(search.trials_) == 2
    assert set(search.best_params_) == set(SMALL_SPACE)
    assert search.predict(X[:3]).shape == (3,)


def test_tune_helper_returns_a_refitted_best_estimator_and_trials(data, tmp_path):
    X, y = data
    result = tune(
        pipeline(max_epochs=3, lr=4e-3, distance_expansion=8),
        X,
        y,
        space=SMALL_SPACE,
        n_trials=3,
        try_current=True,
        storage=tmp_path / "s.log",
        study_name="gap",
    )
    assert result.n_complete + result.n_pruned == 3 == len(result.trials)
    assert set(result.best_params) == set(SMALL_SPACE)
    regressor = result.best_estimator[-1]
    assert regressor.lr == result.best_params["neighborlstmregressor__lr"]
    assert result.best_estimator.predict(X[:4]).shape == (4,)
    assert {"value", "state", "user_attrs_fold_mae"} <= set(result.trials.columns)
    first = result.study.trials[0].params  # try_current: the given settings come first
    assert first == {"lr": 4e-3, "distance_expansion": 8}


def test_pruning_stops_a_hopeless_trial(data, tmp_path):
    X, y = data
    storage = f"sqlite:///{tmp_path / 'prune.db'}"
    study = optuna.create_study(storage=storage, study_name="prune")
    lr = "neighborlstmregressor__lr"
    # the study names parameters without the step prefix (as tune stores them): enqueued
    # under the full name, Optuna would ignore them and sample both trials at random
    study.enqueue_trial({"lr": 5e-3})  # a sound trial, complete: the reference
    study.enqueue_trial({"lr": 3.0})  # a hopeless learning rate
    space = {lr: {"type": "float", "low": 1e-4, "high": 5.0, "log": True}}
    result = tune(
        pipeline(max_epochs=12, patience=12),
        X,
        y,
        space=space,
        n_trials=2,
        storage=storage,
        study_name="prune",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1),
        refit=False,
    )
    sound, hopeless = result.study.trials
    assert sound.params == {"lr": 5e-3} and hopeless.params == {"lr": 3.0}
    assert sound.state == TrialState.COMPLETE and len(sound.intermediate_values) == 12
    assert hopeless.state == TrialState.PRUNED
    assert hopeless.last_step is not None and hopeless.last_step < 6
    assert result.n_pruned == 1 and result.pruned_epochs_saved > 0


def test_storage_resumes_a_study(data, tmp_path):
    X, y = data
    storage = f"sqlite:///{tmp_path / 'study.db'}"

    def run(n_trials):
        model = pipeline(max_epochs=2)
        return tune(model, X, y, space=SMALL_SPACE, n_trials=n_trials, storage=storage,
                    study_name="resume", refit=False)  # fmt: skip

    assert len(run(2).trials) == 2
    assert sorted(run(3).trials["number"]) == [0, 1, 2]  # one more trial, numbering continued
    assert len(run(3).trials) == 3  # nothing left to do


def test_two_worker_processes_share_one_study(rdb_url):
    storage = rdb_url  # SQLite on one machine; PostgreSQL is how a study spans machines
    command = [
        sys.executable,
        "-m",
        "sklearn_bandgap.tuning",
        "--storage",
        storage,
        "--study-name",
        "shared",
        "--subset",
        "sample200",
        "--n-trials",
        "6",
        "--max-epochs",
        "2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-2000:]
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    study = optuna.load_study(study_name="shared", storage=storage)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))  # no duplicated trial
    assert 6 <= len(finished) <= 7  # the trials add up (a worker may start one as the other ends)
    assert len({t.user_attrs["worker_pid"] for t in finished}) == 2  # both worked
    best = min(t.value for t in finished if t.state == TrialState.COMPLETE)
    assert study.best_value == best
    last = max(summaries, key=lambda s: s["n_complete"] + s["n_pruned"])
    assert last["best_validation_mae"] == pytest.approx(best)


def test_a_killed_workers_study_resumes(data, tmp_path):
    X, y = data
    storage = f"sqlite:///{tmp_path / 'killed.db'}"
    command = [sys.executable, "-m", "sklearn_bandgap.tuning", "--storage", storage]
    command += ["--study-name", "gap", "--subset", "sample200", "--n-trials", "100"]
    command += ["--max-epochs", "2"]
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            time.sleep(2)
            try:
                study = optuna.load_study(study_name="gap", storage=storage)
            except KeyError:  # not created yet
                continue
            if len(study.get_trials(states=(TrialState.COMPLETE,))) >= 2:
                break
    finally:
        worker.kill()  # as a crash would: no clean-up
        worker.wait()
    study = optuna.load_study(study_name="gap", storage=storage)
    done = len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)))
    assert done >= 2
    space = {"neighborlstmregressor__lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}
    # the worker's space is the default one; resuming needs the same names only for new trials
    resumed = tune(
        pipeline(max_epochs=2),
        X,
        y,
        space=space,
        n_trials=done + 1,
        storage=storage,
        study_name="gap",
        refit=False,
    )
    assert resumed.n_complete + resumed.n_pruned == done + 1
    numbers = sorted(resumed.trials["number"])
    assert numbers == list(range(len(numbers)))  # numbering continued, nothing lost


def test_a_killed_workers_trial_is_retried_through_its_heartbeat(data, rdb_url):
    """A worker killed mid-trial leaves it RUNNING; once its heartbeat is older than the
    grace period, the next worker's first trial marks it failed and runs its retry."""
    from sklearn_bandgap.tuning import make_storage
    from sklearn_bandgap.tuning._tune import RetryStaleTrial

    X, y = data
    command = [sys.executable, "-m", "sklearn_bandgap.tuning", "--storage", rdb_url]
    command += ["--study-name", "gap", "--subset", "sample200", "--n-trials", "100"]
    command += ["--max-epochs", "200"]  # long trials: it dies inside one
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    killed_number = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and worker.poll() is None:
            time.sleep(1)
            try:
                study = optuna.load_study(study_name="gap", storage=rdb_url)
            except KeyError:  # not created yet
                continue
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if running:
                killed_number = running[0].number
                # Optuna only fails trials that recorded a heartbeat: the worker's
                # heartbeat thread records one as the trial starts; let it
                time.sleep(2)
                break
    finally:
        worker.kill()  # as a crash would: no clean-up, the trial stays RUNNING
        worker.wait()
    assert killed_number is not None, "the worker never started a trial"
    study = optuna.load_study(study_name="gap", storage=rdb_url)
    assert study.trials[killed_number].state == TrialState.RUNNING
    time.sleep(3)  # its last heartbeat is now older than the grace period below
    storage = make_storage(rdb_url, heartbeat_interval=1, grace_period=2)
    result = tune(
        pipeline(max_epochs=2),
        X,
        y,
        space=None,  # the worker's (default) space: the retry repeats its parameters
        n_trials=2,
        storage=storage,
        study_name="gap",
        refit=False,
    )
    trials = result.study.get_trials(deepcopy=False)
    assert trials[killed_number].state == TrialState.FAIL
    retries = [t for t in trials if RetryStaleTrial.retried_trial_number(t) == killed_number]
    assert len(retries) == 1 and retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))


def test_tune_takes_cif_texts_with_default_formula_groups(data):
    """Groups come through the structure-reading layer, as the estimators' input does."""
    X, y = data
    texts = [structure.to(fmt="cif") for structure in X[:60]]
    result = tune(pipeline(max_epochs=1), texts, y[:60], space=SMALL_SPACE, n_trials=1)
    assert result.n_complete == 1
    assert result.best_estimator.predict(texts[:2]).shape == (2,)
