"""``NeighborLSTMRegressor(distil_atom_features=...)``: atom features as targets, not inputs.

The features here are computed from each atom's own neighbour list (so they
are a function of the environment, as CHGNet's are) and need no potential.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from sklearn_bandgap import io
from sklearn_bandgap.featurizers import NeighborListFeaturizer, NeighborLists
from sklearn_bandgap.models import NeighborLSTM, NeighborLSTMRegressor
from sklearn_bandgap.models._collate import collate_neighbor_lists
from sklearn_bandgap.models._loss import WeightedOutputLoss
from sklearn_bandgap.utils.estimator_checks import cell_choices, perturbed, rotated

FEATURIZER = NeighborListFeaturizer()


def environment_features(lists: NeighborLists) -> np.ndarray:
    """Four numbers per atom from its own list: nearest and mean distance, its Z, the nearest Z."""
    distances, numbers = lists.distances[:, 1:], lists.atomic_numbers
    return np.stack(
        [distances[:, 0], distances.mean(axis=1), numbers[:, 0] / 50.0, numbers[:, 1] / 50.0],
        axis=1,
    )


@pytest.fixture(scope="module")
def lists(mp_sample):
    plain = FEATURIZER.transform(mp_sample.data)
    return plain.with_atom_features(environment_features(plain))


@pytest.fixture(scope="module")
def distilled(lists, mp_sample):
    model = NeighborLSTMRegressor(
        max_epochs=12, batch_size=32, random_state=0, message_layers=1, distil_atom_features=1.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(lists, mp_sample.target[:, 0])


def test_the_loss_adds_the_weighted_error_of_the_features_in_training_only():
    generator = torch.Generator().manual_seed(0)
    outputs, y = torch.randn(3, 2, generator=generator), torch.randn(3, 2, generator=generator)
    predicted, targets = (
        torch.randn(5, 4, generator=generator),
        torch.randn(5, 4, generator=generator),
    )
    row_weights = torch.tensor([0.2, 0.1, 0.2, 0.3, 0.2])
    loss = WeightedOutputLoss("l1", [1.0, 1.0], feature_weight=0.5)
    plain = torch.nn.functional.l1_loss(outputs, y)
    features = (row_weights * ((predicted - targets) ** 2).mean(dim=1)).sum()
    torch.testing.assert_close(
        loss((outputs, predicted, targets, row_weights), y), plain + 0.5 * features
    )
    # a plain tensor (evaluation mode, the validation loss): the outputs alone
    torch.testing.assert_close(loss(outputs, y), plain)


def test_the_module_returns_the_features_in_training_mode_only(lists):
    module = NeighborLSTM(
        n_outputs=1, with_shares=True, feature_targets=4, crystal_hidden=16, atom_hidden=8
    )
    batch, _ = collate_neighbor_lists(
        [
            (
                (
                    lists.atomic_numbers[:6],
                    lists.distances[:6],
                    np.full(6, 1 / 6, np.float32),
                    lists.atom_features[:6],
                    None,
                ),
                0.0,
            )
        ]
    )
    out, predicted, targets, row_weights = module.train()(**batch)
    assert out.shape == (1, 1) and predicted.shape == targets.shape == (6, 4)
    torch.testing.assert_close(targets, batch["atom_features"][0])
    torch.testing.assert_close(row_weights.sum(), torch.tensor(1.0))
    evaluated = module.eval()(**batch)
    torch.testing.assert_close(evaluated, out)  # the features never enter the outputs
    without = {key: value for key, value in batch.items() if key != "atom_features"}
    torch.testing.assert_close(module(**without), out)
    with pytest.raises(ValueError, match="no atom_features as inputs"):
        NeighborLSTM(with_shares=True, atom_features=4, feature_targets=4)


def test_a_distilling_model_learns_the_features(lists, distilled):
    """The feature head's error on the training atoms falls well below an untrained head's."""
    standardized = distilled._with_feature_targets(lists)

    def feature_error(module):
        model_input = distilled._model_input(standardized)
        batch, _ = collate_neighbor_lists([(model_input[i], 0.0) for i in range(len(model_input))])
        with torch.no_grad():
            _, predicted, targets, row_weights = module.train()(**batch)
        return float((row_weights * ((predicted - targets) ** 2).mean(dim=1)).sum())

    fresh = distilled._build_net(0)
    fresh.initialize()
    before, after = feature_error(fresh.module_), feature_error(distilled.net_.module_)
    distilled.net_.module_.eval()
    assert after < 0.5 * before, (before, after)


def test_prediction_reads_no_features_and_round_trips(lists, distilled, tmp_path):
    assert distilled.n_distilled_features_ == 4 and distilled.n_atom_features_ == 0
    plain = lists.with_atom_features(None)
    predicted = distilled.predict(plain)
    np.testing.assert_array_equal(distilled.predict(lists), predicted)
    shuffled = lists.with_atom_features(lists.atom_features[::-1])
    np.testing.assert_array_equal(distilled.predict(shuffled), predicted)
    path = io.save(distilled, tmp_path / "distilled.safetensors")
    loaded = io.load(path)
    assert loaded.n_distilled_features_ == 4 and loaded.distil_atom_features == 1.0
    np.testing.assert_array_equal(loaded.predict(plain), predicted)
    assert clone(distilled).get_params() == distilled.get_params()


def test_distilling_needs_features_in_the_training_lists(lists, mp_sample):
    model = NeighborLSTMRegressor(max_epochs=1, distil_atom_features=0.5)
    with pytest.raises(ValueError, match=r"X carries none: featurize .*atom_features='chgnet'"):
        model.fit(lists.with_atom_features(None), mp_sample.target[:, 0])
    with pytest.raises(ValueError, match="distil_atom_features needs atoms='pooled'"):
        model.set_params(atoms="distinct").fit(lists, mp_sample.target[:, 0])
    with pytest.raises(ValueError, match="distil_atom_features"):
        NeighborLSTMRegressor(distil_atom_features=-1.0).fit(lists, mp_sample.target[:, 0])


@pytest.mark.filterwarnings("ignore::sklearn_bandgap.exceptions.ConstantPredictionWarning")
def test_fine_tuning_crosses_between_distilling_and_plain_models(lists, distilled, mp_sample):
    energy = mp_sample.target[:, 1]
    plain = NeighborLSTMRegressor(
        max_epochs=1,
        batch_size=32,
        random_state=0,
        message_layers=1,
        init=FrozenEstimator(distilled),
    ).fit(lists.with_atom_features(None), energy)
    body = distilled.net_.module_.state_dict()
    tuned = plain.net_.module_.state_dict()
    assert "feature_head.weight" not in tuned
    assert not torch.equal(body["embedding.weight"], tuned["embedding.weight"])  # trained on
    again = clone(plain).set_params(distil_atom_features=1.0, init=FrozenEstimator(plain))
    assert again.fit(lists, energy).n_distilled_features_ == 4


def test_a_distilled_model_is_continuous_and_exact_under_cell_choice(distilled, mp_sample):
    crystal = mp_sample.data[7]
    variants = [
        crystal,
        perturbed(crystal, 1e-4, seed=1),
        crystal * (1, 2, 1),
        rotated(crystal),
        *cell_choices(crystal).values(),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predicted = distilled.predict(FEATURIZER.transform(variants))
    assert abs(predicted[1] - predicted[0]) < 0.01
    np.testing.assert_allclose(predicted[2:], predicted[0], atol=1e-4)
