"""``NeighborLSTMRegressor(output_weights=...)``: one loss weight per output column."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_bandgap import io
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.models._loss import WeightedOutputLoss


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data)


@pytest.mark.parametrize(
    ("kind", "plain"),
    [("l1", torch.nn.L1Loss()), ("mse", torch.nn.MSELoss()), ("huber", torch.nn.HuberLoss())],
)
def test_weighted_loss_is_the_plain_loss_with_equal_weights_and_weighs_columns(kind, plain):
    generator = torch.Generator().manual_seed(0)
    y_pred, y_true = torch.randn(7, 3, generator=generator), torch.randn(7, 3, generator=generator)
    equal = WeightedOutputLoss(kind, [2.0, 2.0, 2.0])
    torch.testing.assert_close(equal(y_pred, y_true), plain(y_pred, y_true))
    weights = torch.tensor([1.0, 0.5, 0.25])
    per_column = torch.stack([plain(y_pred[:, c], y_true[:, c]) for c in range(3)])
    expected = (per_column * weights).sum() / weights.sum()
    torch.testing.assert_close(WeightedOutputLoss(kind, weights)(y_pred, y_true), expected)


@pytest.mark.filterwarnings("ignore::sklearn_bandgap.exceptions.ConstantPredictionWarning")
def test_the_weights_reach_the_net_and_round_trip_through_a_file(lists, mp_sample, tmp_path):
    y = mp_sample.target
    model = NeighborLSTMRegressor(max_epochs=1, random_state=0, output_weights=np.array([1, 0.25]))
    model.fit(lists, y)
    criterion = model.net_.criterion_
    assert isinstance(criterion, WeightedOutputLoss) and criterion.kind == "l1"
    np.testing.assert_array_equal(criterion.weights.numpy(), [1.0, 0.25])
    np.testing.assert_array_equal(model.output_weights_, [1.0, 0.25])
    io.save(model, tmp_path / "weighted.safetensors")
    loaded = io.load(tmp_path / "weighted.safetensors")
    np.testing.assert_array_equal(loaded.output_weights, [1.0, 0.25])
    np.testing.assert_array_equal(loaded.output_weights_, [1.0, 0.25])
    np.testing.assert_array_equal(loaded.predict(lists), model.predict(lists))
    np.testing.assert_array_equal(clone(model).get_params()["output_weights"], [1.0, 0.25])
    plain = NeighborLSTMRegressor(max_epochs=1, random_state=0).fit(lists, y)
    assert plain.output_weights_ is None
    assert isinstance(plain.net_.criterion_, torch.nn.L1Loss)


def test_a_heavier_column_is_fitted_better(lists, mp_sample):
    """The weight moves the fit: each column is learnt best where it weighs most."""
    y = mp_sample.target
    settings = {"max_epochs": 30, "random_state": 0, "validation_fraction": 0.0, "loss": "mse"}
    errors = {}
    for name, weights in {"gap first": [1.0, 0.01], "energy first": [0.01, 1.0]}.items():
        model = NeighborLSTMRegressor(**settings, output_weights=weights).fit(lists, y)
        errors[name] = np.sqrt(((model.predict(lists) - y) ** 2).mean(axis=0)) / y.std(axis=0)
    assert errors["gap first"][0] < errors["energy first"][0]
    assert errors["energy first"][1] < errors["gap first"][1]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0], r"output_weights has 1 weight\(s\), but y has 2 column\(s\)"),
        ([1.0, 0.0], r"output_weights\[1\] = 0.0: every weight must be a positive number"),
        ([-1.0, 1.0], r"output_weights\[0\] = -1.0"),
        ([1.0, float("nan")], r"output_weights\[1\] = nan"),
        (["heavy", 1.0], "output_weights must be numbers"),
    ],
)
def test_bad_weights_are_refused_by_name(lists, mp_sample, weights, message):
    with pytest.raises(ValueError, match=message):
        NeighborLSTMRegressor(max_epochs=1, output_weights=weights).fit(lists, mp_sample.target)


@pytest.mark.filterwarnings("ignore::sklearn_bandgap.exceptions.ConstantPredictionWarning")
def test_a_refused_warm_start_keeps_the_fitted_weights(lists, mp_sample):
    model = NeighborLSTMRegressor(max_epochs=1, random_state=0, output_weights=[1.0, 0.5])
    model.fit(lists, mp_sample.target)
    model.set_params(warm_start=True, output_weights=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="3 weight"):
        model.fit(lists, mp_sample.target)
    np.testing.assert_array_equal(model.output_weights_, [1.0, 0.5])
