"""A fit cut off after any epoch resumes from its checkpoint and ends exactly where
an uninterrupted fit ends (weights, early stopping, schedule, weight average,
generators)."""

from __future__ import annotations

import pickle
from typing import ClassVar

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor, SeedEnsembleRegressor, TrainingCheckpoint
from sklearn_bandgap.translation import RelaxationTranslator

SMALL = dict(
    atom_hidden=8,
    crystal_hidden=8,
    head_hidden=8,
    embedding_dim=8,
    max_epochs=9,
    patience=4,
    validation_fraction=0.2,
    lr=0.01,
    random_state=0,
)


class CutOff(Exception):
    """A fit killed (as by a session limit) after an epoch."""


class KillAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise CutOff


class CtrlCDuring(Callback):
    """Ctrl-C in the middle of an epoch (skorch catches it and ends training)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


class EpochCounter(Callback):
    """Records every epoch trained (in a class list: clones share it)."""

    trained: ClassVar[list[int]] = []

    def on_epoch_end(self, net, **kwargs):
        EpochCounter.trained.append(len(net.history))


class CutSecondFit(Callback):
    """Cuts the second fit it sees (a seed ensemble's second member) after an epoch."""

    fits = 0

    def on_train_begin(self, net, **kwargs):
        CutSecondFit.fits += 1

    def on_epoch_end(self, net, **kwargs):
        if CutSecondFit.fits == 2 and len(net.history) == 2:
            raise CutOff


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data[:120])


@pytest.fixture(scope="module")
def y(mp_sample):
    return mp_sample.target[:120]


def _finished(path):
    return torch.load(path, weights_only=True)["finished"]


def _weights(estimator):
    return {k: v.clone() for k, v in estimator.net_.module_.state_dict().items()}


@pytest.mark.parametrize(
    "settings",
    [
        dict(ema_epochs=2),  # plateau schedule, early stopping, weight average
        dict(lr_schedule="cosine", message_layers=1),
        dict(dropout=0.2),  # draws from torch's generator while training
    ],
    ids=["ema-plateau", "cosine-messages", "dropout"],
)
def test_a_fit_cut_off_resumes_to_the_same_weights(lists, y, tmp_path, settings):
    torch.set_num_threads(1)
    params = {**SMALL, **settings}
    whole = NeighborLSTMRegressor(**params).fit(lists, y)

    path = tmp_path / "fit.ckpt"
    cut = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(path), KillAfter(4)])
    with pytest.raises(CutOff):
        cut.fit(lists, y)
    assert path.exists()

    resumed = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(path)]).fit(lists, y)
    (checkpoint,) = [cb for _, cb in resumed.net_.callbacks_ if isinstance(cb, TrainingCheckpoint)]
    assert checkpoint.resumed_from_epoch_ == 4
    assert _finished(path)  # the fit ended: its checkpoint holds the result
    assert len(resumed.net_.history) == len(whole.net_.history)
    np.testing.assert_array_equal(
        resumed.net_.history[:, "valid_loss"], whole.net_.history[:, "valid_loss"]
    )
    for name, tensor in _weights(whole).items():
        assert torch.equal(tensor, _weights(resumed)[name]), name
    np.testing.assert_array_equal(resumed.predict(lists), whole.predict(lists))


def test_without_a_cut_the_checkpoint_changes_nothing(lists, y, tmp_path, mp_sample):
    mp_sample_120 = mp_sample.data[:120]
    torch.set_num_threads(1)
    whole = NeighborLSTMRegressor(**SMALL, ema_epochs=2).fit(lists, y)
    path = tmp_path / "fit.ckpt"
    with_checkpoint = NeighborLSTMRegressor(
        **SMALL, ema_epochs=2, callbacks=[TrainingCheckpoint(path)]
    ).fit(lists, y)
    np.testing.assert_array_equal(with_checkpoint.predict(lists), whole.predict(lists))
    pickle.loads(pickle.dumps(with_checkpoint))  # the fitted estimator still pickles
    assert clone(with_checkpoint).get_params()["callbacks"][0].path == path

    # the file keeps the result: the same fit again returns it without training
    again = NeighborLSTMRegressor(**SMALL, ema_epochs=2, callbacks=[TrainingCheckpoint(path)])
    EpochCounter.trained = []
    again.set_params(callbacks=[TrainingCheckpoint(path), EpochCounter()]).fit(lists, y)
    assert EpochCounter.trained == []
    np.testing.assert_array_equal(again.predict(lists), whole.predict(lists))
    assert len(again.net_.history) == len(whole.net_.history)

    # not the same fit: another setting, other inputs -> refused, never loaded
    with pytest.raises(ValueError, match="the checkpoint of another fit"):
        NeighborLSTMRegressor(
            **{**SMALL, "lr": 0.02}, ema_epochs=2, callbacks=[TrainingCheckpoint(path)]
        ).fit(lists, y)
    with pytest.raises(ValueError, match="the checkpoint of another fit"):
        NeighborLSTMRegressor(**SMALL, ema_epochs=3, callbacks=[TrainingCheckpoint(path)]).fit(
            lists, y
        )
    with pytest.raises(ValueError, match="the checkpoint of another fit"):  # fine-tuning
        NeighborLSTMRegressor(
            **SMALL, ema_epochs=2, init=whole, callbacks=[TrainingCheckpoint(path)]
        ).fit(lists, y)
    with pytest.raises(ValueError, match="the checkpoint of another fit"):  # another split
        NeighborLSTMRegressor(
            **{**SMALL, "validation_fraction": 0.3},
            ema_epochs=2,
            callbacks=[TrainingCheckpoint(path)],
        ).fit(lists, y)
    other_inputs = NeighborListFeaturizer(n_neighbors=12).transform(mp_sample_120)
    with pytest.raises(ValueError, match="the checkpoint of another fit"):
        NeighborLSTMRegressor(**SMALL, ema_epochs=2, callbacks=[TrainingCheckpoint(path)]).fit(
            other_inputs, y
        )


def test_ctrl_c_keeps_the_checkpoint_and_the_fit_resumes_after_the_last_saved_epoch(
    lists, y, tmp_path
):
    torch.set_num_threads(1)
    params = {**SMALL, "ema_epochs": 2}
    whole = NeighborLSTMRegressor(**params).fit(lists, y)
    path = tmp_path / "fit.ckpt"
    cut = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(path), CtrlCDuring(5)])
    with pytest.raises(KeyboardInterrupt, match=r"state after epoch 4 is in .*fit\.ckpt"):
        cut.fit(lists, y)  # skorch alone would return a half-trained model
    resumed = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(path)]).fit(lists, y)
    np.testing.assert_array_equal(resumed.predict(lists), whole.predict(lists))
    assert _finished(path)

    path = tmp_path / "first.ckpt"
    first = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(path), CtrlCDuring(1)])
    with pytest.raises(KeyboardInterrupt, match="no epoch was finished"):
        first.fit(lists, y)


def test_early_stopping_ends_a_fit_and_its_checkpoint_keeps_the_result(lists, y, tmp_path):
    path = tmp_path / "fit.ckpt"
    params = {**SMALL, "max_epochs": 60, "patience": 1, "lr": 0.05}
    fitted = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(path)]).fit(lists, y)
    assert len(fitted.net_.history) < 60  # stopped early, not interrupted
    assert _finished(path)
    EpochCounter.trained = []
    again = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(path), EpochCounter()])
    again.fit(lists, y)
    assert EpochCounter.trained == []  # early stopping's result, not more epochs
    np.testing.assert_array_equal(again.predict(lists), fitted.predict(lists))


def test_the_checkpoint_of_another_fit_is_refused_by_name(lists, y, tmp_path):
    path = tmp_path / "fit.ckpt"
    with pytest.raises(CutOff):
        NeighborLSTMRegressor(**SMALL, callbacks=[TrainingCheckpoint(path), KillAfter(2)]).fit(
            lists, y
        )
    other_seed = NeighborLSTMRegressor(
        **{**SMALL, "random_state": 1}, callbacks=[TrainingCheckpoint(path)]
    )
    with pytest.raises(ValueError, match=r"fit\.ckpt: the checkpoint of another fit"):
        other_seed.fit(lists, y)
    other_targets = NeighborLSTMRegressor(**SMALL, callbacks=[TrainingCheckpoint(path)])
    with pytest.raises(ValueError, match="another fit"):
        other_targets.fit(lists, y[:, :1])
    other_loss = NeighborLSTMRegressor(**SMALL, loss="mse", callbacks=[TrainingCheckpoint(path)])
    with pytest.raises(ValueError, match="another fit"):
        other_loss.fit(lists, y)
    assert path.exists()  # refused, not overwritten
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"fit\.ckpt: not a training checkpoint"):
        NeighborLSTMRegressor(**SMALL, callbacks=[TrainingCheckpoint(path)]).fit(lists, y)


def test_a_fit_with_other_output_weights_is_another_fit(lists, y, tmp_path):
    path = tmp_path / "fit.ckpt"
    weighted = dict(SMALL, output_weights=[1.0, 1.0])
    with pytest.raises(CutOff):
        NeighborLSTMRegressor(**weighted, callbacks=[TrainingCheckpoint(path), KillAfter(2)]).fit(
            lists, y
        )
    reweighted = NeighborLSTMRegressor(
        **dict(weighted, output_weights=[1.0, 2.0]), callbacks=[TrainingCheckpoint(path)]
    )
    with pytest.raises(ValueError, match="another fit"):
        reweighted.fit(lists, y)
    resumed = NeighborLSTMRegressor(**weighted, callbacks=[TrainingCheckpoint(path)]).fit(lists, y)
    assert len(resumed.net_.history) > 2


def test_a_translator_resumes_too(nrel_sample, tmp_path):
    torch.set_num_threads(1)
    pairs = nrel_sample.unrelaxed[:40], nrel_sample.relaxed[:40]
    params = dict(hidden=8, n_layers=1, max_epochs=5, random_state=0)
    whole = RelaxationTranslator(**params).fit(pairs[0], relaxed=pairs[1])
    path = tmp_path / "translator.ckpt"
    with pytest.raises(CutOff):
        RelaxationTranslator(**params, callbacks=[TrainingCheckpoint(path), KillAfter(2)]).fit(
            pairs[0], relaxed=pairs[1]
        )
    resumed = RelaxationTranslator(**params, callbacks=[TrainingCheckpoint(path)]).fit(
        pairs[0], relaxed=pairs[1]
    )
    for name, tensor in whole.net_.module_.state_dict().items():
        assert torch.equal(tensor, resumed.net_.module_.state_dict()[name]), name


def test_seed_ensemble_members_each_resume_from_their_own_file(lists, y, tmp_path):
    torch.set_num_threads(1)
    params = {**SMALL, "max_epochs": 4}
    shared = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(tmp_path / "m.ckpt")])
    with pytest.raises(ValueError, match=r"put '\{seed\}' in its path"):
        SeedEnsembleRegressor(shared, random_states=(0, 1)).fit(lists, y)

    whole = SeedEnsembleRegressor(NeighborLSTMRegressor(**params), random_states=(0, 1))
    whole.fit(lists, y)
    template = str(tmp_path / "m{seed}.ckpt")
    cut = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(template), KillAfter(2)])
    with pytest.raises(CutOff):  # the first member is cut off after its second epoch
        SeedEnsembleRegressor(cut, random_states=(0, 1)).fit(lists, y)
    assert len(list(tmp_path.glob("m*.ckpt"))) == 1  # the first member's own file
    resumed = SeedEnsembleRegressor(
        NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(template)]),
        random_states=(0, 1),
    ).fit(lists, y)
    np.testing.assert_array_equal(resumed.predict(lists), whole.predict(lists))
    assert len(list(tmp_path.glob("m*.ckpt"))) == 2  # each member's result

    # the second member cut off: the first, which had ended, is not trained again
    kept = tmp_path / "kept"
    kept.mkdir()
    template = str(kept / "m{seed}.ckpt")
    member = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(template)])
    CutSecondFit.fits = 0
    with pytest.raises(CutOff):
        SeedEnsembleRegressor(
            clone(member).set_params(callbacks=[TrainingCheckpoint(template), CutSecondFit()]),
            random_states=(0, 1),
        ).fit(lists, y)
    EpochCounter.trained = []
    counted = clone(member).set_params(callbacks=[TrainingCheckpoint(template), EpochCounter()])
    resumed = SeedEnsembleRegressor(counted, random_states=(0, 1)).fit(lists, y)
    assert EpochCounter.trained == [3, 4]  # only the second member's last two epochs
    np.testing.assert_array_equal(resumed.predict(lists), whole.predict(lists))


def test_a_checkpoint_that_cannot_be_written_costs_a_warning_not_the_fit(lists, y, tmp_path):
    path = tmp_path / "no_such_folder" / "fit.ckpt"
    params = {**SMALL, "max_epochs": 3}
    with pytest.warns(RuntimeWarning, match="no_such_folder/fit.ckpt: cannot save"):
        fitted = NeighborLSTMRegressor(**params, callbacks=[TrainingCheckpoint(path)])
        fitted.fit(lists, y)
    assert len(fitted.net_.history) == 3
