"""``tune``: an Optuna study over a structure pipeline, with pruning and shared storage."""

from __future__ import annotations

import inspect
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState
from optuna_integration import SkorchPruningCallback
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import GroupShuffleSplit, check_cv
from sklearn.pipeline import Pipeline

from sklearn_bandgap.model_selection import formula_groups
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.tuning._spaces import check_space, default_search_space, suggest
from sklearn_bandgap.utils import take

#: A RUNNING trial whose worker sent no heartbeat for this long (s) is marked
#: failed and retried (RDB storages, e.g. SQLite or PostgreSQL).
HEARTBEAT_INTERVAL, GRACE_PERIOD = 30, 120
#: Optuna 4.9 renamed RDBStorage's ``failed_trial_callback`` (the old name warns).
_STALE_TRIAL_CALLBACK = (
    "heartbeat_stale_trial_callback"
    if "heartbeat_stale_trial_callback" in inspect.signature(RDBStorage.__init__).parameters
    else "failed_trial_callback"
)
try:  # Optuna >= 4.9 (its RetryFailedTrialCallback is deprecated there)
    from optuna.storages import RetryHeartbeatStaleTrialCallback as RetryStaleTrial
except ImportError:  # pragma: no cover - older Optuna
    from optuna.storages import RetryFailedTrialCallback as RetryStaleTrial
#: Attempts at opening an RDB storage that another worker is creating.
STORAGE_ATTEMPTS = 5


@dataclass
class TuningResult:
    """What :func:`tune` returns.

    Attributes
    ----------
    best_estimator : estimator or None
        A clone of the estimator with the best parameters, refitted on all the
        data (None if ``refit=False``).
    best_params : dict
        The best trial's parameters (as ``set_params`` takes them).
    study : optuna.Study
        The study (in its storage).
    trials : DataFrame
        ``study.trials_dataframe()``: one row per trial, with its state.
    n_complete, n_pruned : int
        Finished and pruned trials in the study (all workers).
    pruned_epochs_saved : int
        Epochs not trained because of pruning: for each pruned trial, the
        median epochs of the complete trials minus its own.
    """

    best_estimator: BaseEstimator | None
    best_params: dict[str, Any]
    study: optuna.Study
    trials: pd.DataFrame
    n_complete: int
    n_pruned: int
    pruned_epochs_saved: int


def make_storage(
    storage: str | os.PathLike[str] | BaseStorage | None,
    *,
    heartbeat_interval: int = HEARTBEAT_INTERVAL,
    grace_period: int = GRACE_PERIOD,
) -> BaseStorage | None:
    """Optuna storage from a URL, a journal file path, or a storage object.

    Parameters
    ----------
    storage : str, path, optuna storage or None
        ``None``: in memory (one process). An RDB URL (``"sqlite:///study.db"``,
        ``"postgresql://user:pw@host/db"``): shared by workers on one machine
        (SQLite) or many (PostgreSQL/MySQL), with heartbeats so that a killed
        worker's trial is marked failed and retried once. Any other string or
        path: an Optuna journal file (``JournalFileBackend``), shared by the
        processes that see the file.
    heartbeat_interval : int, default=30
        Seconds between the heartbeats a worker records for its running trial
        (RDB storages).
    grace_period : int, default=120
        A running trial whose last heartbeat is older than this (s) counts as
        the trial of a dead worker: the next trial any worker starts marks it
        failed and enqueues its retry (RDB storages).

    Returns
    -------
    storage : optuna storage or None
    """
    if storage is None or isinstance(storage, BaseStorage):
        return storage
    text = os.fspath(storage)
    if "://" in text:
        from sqlalchemy.exc import SQLAlchemyError

        # Workers started together race to create a new database's tables (the loser gets
        # an IntegrityError or "database is locked"); the tables exist when it retries.
        for attempt in range(STORAGE_ATTEMPTS):
            try:
                with warnings.catch_warnings():
                    # heartbeats and the retry callback are Optuna's "experimental" API,
                    # chosen on purpose; it says so on every call
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    retry: dict[str, Any] = {_STALE_TRIAL_CALLBACK: RetryStaleTrial(max_retry=1)}
                    return RDBStorage(
                        text,
                        heartbeat_interval=heartbeat_interval,
                        grace_period=grace_period,
                        **retry,
                    )
            except SQLAlchemyError:
                if attempt == STORAGE_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
    Path(text).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(text))


def regressor_prefix(estimator: BaseEstimator) -> str:
    """The parameter prefix of the :class:`NeighborLSTMRegressor` inside ``estimator``.

    Raises
    ------
    ValueError
        If there is none (pass ``space=`` explicitly for other estimators).
    """
    if isinstance(estimator, NeighborLSTMRegressor):
        return ""
    for name, value in estimator.get_params(deep=True).items():
        if isinstance(value, NeighborLSTMRegressor):
            return f"{name}__"
    raise ValueError(
        f"{type(estimator).__name__} holds no NeighborLSTMRegressor: give space= explicitly."
    )


def _stateless_head(estimator: BaseEstimator) -> bool:
    """True if every step but the last of a pipeline needs no fitting (featurize once)."""
    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return False
    return all(
        step != "passthrough" and not step.__sklearn_tags__().requires_fit
        for _, step in estimator.steps[:-1]
    )


class _Objective:
    """Mean validation MAE over the folds; prunes on the first fold's epochs."""

    def __init__(
        self,
        estimator: BaseEstimator,
        X: Any,
        y: np.ndarray,
        folds: list[tuple[np.ndarray, np.ndarray]],
        space: Mapping[str, Any],
        prune_prefix: str | None,
    ) -> None:
        self.estimator = estimator
        self.X = X
        self.y = y
        self.folds = folds
        self.space = space
        self.prune_prefix = prune_prefix

    def __call__(self, trial: optuna.Trial) -> float:
        params = suggest(trial, self.space)
        trial.set_user_attr("worker_pid", os.getpid())
        maes, epochs = [], []
        start = time.perf_counter()
        for k, (train, valid) in enumerate(self.folds):
            model = clone(self.estimator).set_params(**params)
            prunable = (
                self.prune_prefix is not None
                and model.get_params()[f"{self.prune_prefix}validation_fraction"] > 0
            )  # the pruner reads the per-epoch validation loss
            if k == 0 and prunable:
                # set on the clone (clone() would deep-copy the trial inside the callback),
                # after the estimator's own callbacks
                key = f"{self.prune_prefix}callbacks"
                own = list(model.get_params()[key] or [])
                with warnings.catch_warnings():  # an "experimental" Optuna class, chosen
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    pruning = SkorchPruningCallback(trial, "valid_loss")
                model.set_params(**{key: [*own, pruning]})
            model.fit(take(self.X, train), self.y[train])
            y_pred = np.asarray(model.predict(take(self.X, valid)))
            y_valid = self.y[valid]
            if y_valid.ndim == 2 and y_pred.ndim == 1:  # multi-task: the first column scores
                y_valid = y_valid[:, 0]
            maes.append(present_mae(y_valid, y_pred))
            regressor = model[-1] if isinstance(model, Pipeline) else model
            if isinstance(regressor, NeighborLSTMRegressor):
                epochs.append(len(regressor.net_.history_))
        trial.set_user_attr("fold_mae", maes)
        trial.set_user_attr("epochs", epochs)
        trial.set_user_attr("seconds", round(time.perf_counter() - start, 1))
        return float(np.mean(maes))


def present_mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """MAE over the values ``y_true`` has (NaN: not measured), each column's averaged.

    Without missing values it is ``mean_absolute_error``.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    if not np.isnan(y_true).any():
        return float(mean_absolute_error(y_true, y_pred))
    truth = y_true.reshape(len(y_true), -1)
    guess = np.asarray(y_pred, dtype=np.float64).reshape(truth.shape)
    per_column = [
        float(np.mean(np.abs(guess[present, k] - truth[present, k])))
        for k, present in enumerate((~np.isnan(truth)).T)
        if present.any()
    ]
    if not per_column:
        raise ValueError("a validation part has no target value at all: nothing to score")
    return float(np.mean(per_column))


def tune(
    estimator: BaseEstimator,
    X: Any,
    y: Any,
    *,
    groups: Any = None,
    space: Mapping[str, Mapping[str, Any]] | None = None,
    cv: Any = None,
    n_trials: int | None = 20,
    timeout: float | None = None,
    storage: str | os.PathLike[str] | BaseStorage | None = None,
    study_name: str | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    random_state: int | None = 0,
    refit: bool = True,
    try_current: bool = False,
    show_progress_bar: bool = False,
) -> TuningResult:
    """Tune ``estimator`` with Optuna on formula-group validation folds.

    Each trial draws parameters from ``space``, fits on the training part of
    every fold and scores the MAE on its validation part (the objective is
    the mean). On the first fold the regressor's per-epoch validation loss is
    reported to Optuna (``SkorchPruningCallback``), so the pruner stops
    hopeless trials early. A pipeline whose steps before the last need no
    fitting (``NeighborListFeaturizer``) is featurized once, not per trial.

    Several workers can run this same call at once on one ``storage`` and
    ``study_name`` (processes on one machine with SQLite or a journal file;
    machines with a shared PostgreSQL URL): they share the trials, and stop
    when the study holds ``n_trials`` finished (complete or pruned) trials. A
    study in storage resumes where it stopped.

    Parameters
    ----------
    estimator : estimator
        E.g. ``make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor())``.
    X : sequence of structures (or what the estimator takes)
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        With several columns (a multi-task model), the first is the one
        scored: give the regressor ``output_column=0`` so that it predicts it
        alone.
    groups : array-like, default=None
        Fold groups; default the reduced formulas of ``X`` (structures).
    space : dict, default=None
        Plain-data space (names as ``set_params`` takes them); default
        :func:`default_search_space` with the regressor's prefix. Unknown names
        raise before any trial runs.
    cv : int, splitter or iterable, default=None
        Validation folds; default one formula-group holdout of 20 %
        (``GroupShuffleSplit``, seeded by ``random_state``). Keep a test set
        out of ``X``: the selection is made on these folds.
    n_trials : int or None, default=20
        Finished trials the study should hold (all workers together).
    timeout : float, default=None
        Seconds this worker may run.
    storage : str, path, optuna storage or None, default=None
        See :func:`make_storage`.
    study_name : str, default=None
        Name of the study in the storage (required to share or resume one).
    pruner : optuna pruner, default=None
        Default ``MedianPruner(n_startup_trials=3, n_warmup_steps=3)``.
    sampler : optuna sampler, default=None
        Default ``TPESampler(seed=random_state)``.
    random_state : int or None, default=0
        Seeds the default sampler and holdout.
    refit : bool, default=True
        Refit the best parameters on all of ``X``.
    try_current : bool, default=False
        Make the estimator's current parameters the study's first trial (if the
        study is new), so that the tuned setting is compared with them on the
        same validation folds; they must lie inside the space.
    show_progress_bar : bool, default=False
        Optuna's progress bar.

    Returns
    -------
    result : TuningResult
    """
    y_array = np.asarray(y, dtype=np.float64)
    if len(y_array) != len(X):
        raise ValueError(f"X has {len(X)} items but y has {len(y_array)}.")
    if space is None:
        space = default_search_space(regressor_prefix(estimator))
    check_space(estimator, space)
    if groups is None:
        groups = formula_groups(X)
    if cv is None:
        cv = GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=random_state)
    folds = [
        (np.asarray(a), np.asarray(b))
        for a, b in check_cv(cv).split(np.zeros(len(y_array)), y_array, groups)
    ]
    try:
        prune_prefix: str | None = regressor_prefix(estimator)
    except ValueError:
        prune_prefix = None

    target, features, target_space, last = estimator, X, dict(space), ""
    if _stateless_head(estimator):
        assert isinstance(estimator, Pipeline)
        features = estimator[:-1].transform(X)
        target = estimator[-1]
        last = f"{estimator.steps[-1][0]}__"  # the space's names, relative to the last step
        target_space = {name.removeprefix(last): spec for name, spec in space.items()}
        if prune_prefix is not None:
            prune_prefix = prune_prefix.removeprefix(last)
        check_space(target, target_space)

    study = optuna.create_study(
        storage=make_storage(storage),
        study_name=study_name,
        direction="minimize",
        load_if_exists=True,
        sampler=sampler or optuna.samplers.TPESampler(seed=random_state),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3),
    )
    if try_current and not study.trials:
        current = estimator.get_params(deep=True)
        study.enqueue_trial({name.removeprefix(last): current[name] for name in space})
    callbacks = []
    if n_trials is not None:
        callbacks.append(
            MaxTrialsCallback(n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED))
        )
        remaining = n_trials - _n_finished(study)
    if n_trials is None or remaining > 0:
        study.optimize(
            _Objective(target, features, y_array, folds, target_space, prune_prefix),
            n_trials=None if n_trials is None else remaining,
            timeout=timeout,
            callbacks=callbacks,
            show_progress_bar=show_progress_bar,
        )
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    if not complete:
        raise RuntimeError(
            f"study {study.study_name!r} has no complete trial (all pruned or failed)."
        )
    best_params = dict(study.best_params)
    best_params = {f"{last}{k}": v for k, v in best_params.items()}  # the pipeline's names
    best_estimator = None
    if refit:
        best_estimator = clone(estimator).set_params(**best_params).fit(X, y_array)
    median_epochs = float(np.median([(t.user_attrs.get("epochs") or [0])[0] for t in complete]))
    saved = sum(max(0, int(median_epochs) - (t.last_step or 0) - 1) for t in pruned)
    return TuningResult(
        best_estimator=best_estimator,
        best_params=best_params,
        study=study,
        trials=study.trials_dataframe(),
        n_complete=len(complete),
        n_pruned=len(pruned),
        pruned_epochs_saved=saved,
    )


def _n_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
