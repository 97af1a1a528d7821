"""``fit(..., train_only=mask)``: extra crystals that train but never decide early stopping."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback
from skorch.dataset import Dataset

from sklearn_bandgap._nn._training import CompositionGroupSplit
from sklearn_bandgap.featurizers import NeighborListFeaturizer, NeighborLists
from sklearn_bandgap.models import NeighborLSTMRegressor, SeedEnsembleRegressor

# a few epochs on a few crystals: the fits here test the split, not the accuracy
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn_bandgap.exceptions.ConstantPredictionWarning"
)


def _gap(data) -> np.ndarray:
    return np.asarray(data.target, dtype=np.float64)[:, 0]


class _Groups:
    """The minimal ``X`` the split reads: groups, and optionally a train-only mask."""

    def __init__(self, groups, train_only=None):
        self._groups = np.asarray(groups, dtype=object)
        self.train_only = train_only

    def __len__(self):
        return len(self._groups)

    def groups(self):
        return self._groups


def _split(groups, train_only=None, seed=3):
    split = CompositionGroupSplit(0.25, seed)
    train, valid = split(Dataset(_Groups(groups, train_only), None))
    return np.asarray(train.indices), np.asarray(valid.indices)


def test_marked_rows_leave_the_validation_part_unchanged():
    rng = np.random.default_rng(0)
    groups = np.array([f"g{k}" for k in rng.integers(0, 40, size=120)], dtype=object)
    train, valid = _split(groups)
    # extra rows: some of known groups (held out or not), some of new ones, interleaved
    extra = np.array([*groups[valid[:3]], *groups[train[:4]], "new1", "new2"], dtype=object)
    combined = np.concatenate([groups, extra])
    order = rng.permutation(len(combined))
    combined, marked = combined[order], (order >= len(groups))
    position = np.argsort(order)  # where each original row went
    train2, valid2 = _split(combined, marked)
    np.testing.assert_array_equal(np.sort(valid2), np.sort(position[valid]))
    assert not marked[valid2].any()
    held_out = set(groups[valid])
    expected_extra = [i for i in np.flatnonzero(marked) if combined[i] not in held_out]
    np.testing.assert_array_equal(
        np.sort(train2), np.sort(np.concatenate([position[train], expected_extra]))
    )
    assert not set(combined[train2]) & set(combined[valid2])  # no composition on both sides
    assert len(expected_extra) == 6  # the 3 of held-out groups are left out


def test_no_mask_is_the_plain_split():
    groups = np.array(["a", "b", "c", "d", "a", "e", "f", "g"], dtype=object)
    plain = _split(groups)
    for train_only in (None, np.zeros(len(groups), dtype=bool)):
        train, valid = _split(groups, None if train_only is None else train_only)
        np.testing.assert_array_equal(train, plain[0])
        np.testing.assert_array_equal(valid, plain[1])


class _RecordSplit(Callback):
    """Records the crystals of the training and validation parts of the first epoch."""

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if not hasattr(self, "train_"):
            self.train_ = np.sort(np.asarray(dataset_train.indices))
            self.valid_ = np.sort(np.asarray(dataset_valid.indices))


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data[:60])


def _concat(first: NeighborLists, second: NeighborLists) -> NeighborLists:
    return NeighborLists(
        np.concatenate([first.atomic_numbers, second.atomic_numbers]),
        np.concatenate([first.distances, second.distances]),
        np.concatenate([first.n_atoms, second.n_atoms]),
    )


def _fit(lists, y, **fit_params):
    recorder = _RecordSplit()
    model = NeighborLSTMRegressor(
        max_epochs=2,
        batch_size=16,
        validation_fraction=0.25,
        random_state=0,
        callbacks=[recorder],
    )
    model.fit(lists, y, **fit_params)
    return model, recorder


def test_the_regressor_validates_on_the_same_crystals_and_trains_on_the_extra_ones(
    lists, mp_sample
):
    y = _gap(mp_sample)[:60]
    _, plain = _fit(lists, y)
    extra = lists[np.arange(30)]  # polymorph-like copies: some fall in held-out compositions
    combined = _concat(lists, extra)
    marked = np.r_[np.zeros(60, dtype=bool), np.ones(30, dtype=bool)]
    model, recorder = _fit(combined, np.r_[y, y[:30] + 1.0], train_only=marked)
    np.testing.assert_array_equal(recorder.valid_, plain.valid_)
    extra_trained = recorder.train_[recorder.train_ >= 60] - 60
    held = set(plain.valid_.tolist())
    keys = model._model_input(lists).groups()
    held_keys = {keys[i] for i in held}
    expected = [i for i in range(30) if keys[i] not in held_keys]
    assert 0 < len(expected) < 30  # the test covers both cases
    np.testing.assert_array_equal(extra_trained, expected)
    np.testing.assert_array_equal(recorder.train_[recorder.train_ < 60], plain.train_)


def test_a_pipeline_routes_the_mask(mp_sample):
    structures, y = mp_sample.data[:40], _gap(mp_sample)[:40]
    recorder = _RecordSplit()
    pipe = make_pipeline(
        NeighborListFeaturizer(),
        NeighborLSTMRegressor(
            max_epochs=1, validation_fraction=0.25, random_state=0, callbacks=[recorder]
        ),
    )
    marked = np.arange(40) >= 30
    pipe.fit(structures, y, neighborlstmregressor__train_only=marked)
    assert not (recorder.valid_ >= 30).any()
    assert pipe.predict(structures[:3]).shape == (3,)


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.ones(40, dtype=int), "boolean mask of the 40 crystals"),
        (np.ones(39, dtype=bool), "boolean mask of the 40 crystals"),
        (np.ones(40, dtype=bool), "marks every crystal"),
    ],
)
def test_bad_masks_are_refused(lists, mp_sample, mask, message):
    model = NeighborLSTMRegressor(max_epochs=1)
    with pytest.raises(ValueError, match=message):
        model.fit(lists[np.arange(40)], _gap(mp_sample)[:40], train_only=mask)


def test_every_crystal_marked_is_fine_without_validation(lists, mp_sample):
    model = NeighborLSTMRegressor(max_epochs=1, validation_fraction=0.0, random_state=0)
    y = _gap(mp_sample)[:40]
    model.fit(lists[np.arange(40)], y, train_only=np.ones(40, dtype=bool))
    assert np.isfinite(model.predict(lists[np.arange(3)])).all()


def test_a_seed_ensemble_passes_the_mask_to_every_member(lists, mp_sample):
    ensemble = SeedEnsembleRegressor(NeighborLSTMRegressor(max_epochs=1), random_states=[0, 1])
    with pytest.raises(ValueError, match="marks every crystal"):
        ensemble.fit(lists, _gap(mp_sample)[:60], train_only=np.ones(60, dtype=bool))
    marked = np.arange(60) >= 50
    ensemble.fit(lists, _gap(mp_sample)[:60], train_only=marked)
    assert len(ensemble.estimators_) == 2
