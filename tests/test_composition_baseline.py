"""CompositionBaselineRegressor: elemental references, then a regressor of the residuals."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from sklearn.base import clone
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import load, save
from sklearn_bandgap.models import (
    CompositionBaselineRegressor,
    NeighborLSTMRegressor,
    element_fractions,
)

SMALL = dict(atom_hidden=8, crystal_hidden=16, head_hidden=16, max_epochs=2, random_state=0)


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data)


def test_element_fractions_read_the_composition_of_any_cell():
    nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    lists = NeighborListFeaturizer().transform([nacl, nacl * (2, 1, 3)])
    fractions = element_fractions(lists)
    assert fractions.shape == (2, 119)
    np.testing.assert_array_equal(fractions[0], fractions[1])
    assert fractions[0, 11] == fractions[0, 17] == 0.5 and fractions[0].sum() == 1.0
    with pytest.raises(TypeError, match="NeighborLists of a NeighborListFeaturizer"):
        element_fractions([nacl])


def test_a_target_linear_in_the_composition_is_the_baseline_alone(lists):
    fractions = element_fractions(lists)
    mu = np.random.default_rng(0).normal(-5.0, 2.0, 119)
    y = fractions @ mu
    model = CompositionBaselineRegressor(DummyRegressor(), alpha=1e-8).fit(lists, y)
    np.testing.assert_allclose(model.predict(lists), y, atol=1e-3)
    np.testing.assert_allclose(model.regressor_.predict(lists), 0.0, atol=1e-3)


def test_the_regressor_learns_the_residuals_in_one_or_more_columns(lists, mp_sample):
    model = CompositionBaselineRegressor(NeighborLSTMRegressor(**SMALL)).fit(
        lists, mp_sample.target
    )
    assert model.coef_.shape == (2, 119) and model.intercept_.shape == (2,)
    y_pred = model.predict(lists)
    assert y_pred.shape == (200, 2)
    base = model.predict_baseline(lists)
    np.testing.assert_allclose(y_pred - base, model.regressor_.predict(lists), atol=1e-9)
    one = CompositionBaselineRegressor(NeighborLSTMRegressor(**SMALL)).fit(
        lists, mp_sample.target[:, 1]
    )
    assert one.predict(lists).shape == (200,)
    # the composition part alone already explains much of the formation energy
    residual = mp_sample.target[:, 1] - one.predict_baseline(lists)
    assert residual.std() < 0.7 * mp_sample.target[:, 1].std()


def test_clone_params_and_a_model_file_round_trip(lists, mp_sample, tmp_path):
    model = CompositionBaselineRegressor(NeighborLSTMRegressor(**SMALL), alpha=0.1)
    assert clone(model).get_params()["alpha"] == 0.1
    assert model.set_params(regressor__lr=1e-3).regressor.lr == 1e-3
    pipe = make_pipeline(NeighborListFeaturizer(), model).fit(mp_sample.data, mp_sample.target)
    save(pipe, tmp_path / "m.safetensors")
    again = load(tmp_path / "m.safetensors")
    np.testing.assert_allclose(again.predict(mp_sample.data), pipe.predict(mp_sample.data))
    with pytest.raises(ValueError, match="alpha"):
        CompositionBaselineRegressor(DummyRegressor(), alpha=-1.0).fit(lists, mp_sample.target)
    with pytest.raises(ValueError, match="finite"):
        bad = mp_sample.target[:, 0].copy()
        bad[3] = np.nan
        CompositionBaselineRegressor(DummyRegressor()).fit(lists, bad)


def test_references_are_fitted_jointly_with_the_output_the_regressor_starts_from(mp_sample):
    from sklearn.frozen import FrozenEstimator

    lists = NeighborListFeaturizer().transform(mp_sample.data)
    small = dict(atom_hidden=8, crystal_hidden=16, head_hidden=16, random_state=0)
    source = NeighborLSTMRegressor(**small, max_epochs=3).fit(lists, mp_sample.target)
    start = source.predict(lists)[:, 1]
    fractions = element_fractions(lists)
    references = np.random.default_rng(0).normal(-4.0, 2.0, fractions.shape[1])
    target = fractions @ references + 50.0 * (start - start.mean())  # E ≈ Σ x μ + a·s
    inner = NeighborLSTMRegressor(
        **small, max_epochs=1, lr=1e-12, init=FrozenEstimator(source), init_output=1
    )
    # alpha ~ 0: this short-trained source's output barely varies (its coefficient is large)
    model = CompositionBaselineRegressor(inner, alpha=1e-9).fit(lists, target)
    residual = np.abs(model.predict(lists) - target)
    assert residual.max() < 0.05 * np.abs(50.0 * (start - start.mean())).max()
    # references alone (fitted on y, not jointly) leave the source's part in the residual
    plain = CompositionBaselineRegressor(
        NeighborLSTMRegressor(**small, max_epochs=1, lr=1e-12, init=FrozenEstimator(source)),
        alpha=1e-9,
    ).fit(lists, target)
    assert np.abs(plain.predict(lists) - target).mean() > 5 * residual.mean()
