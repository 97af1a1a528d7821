"""warm_start (continue a fit) and init (start from another model's network: fine-tuning)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import save
from sklearn_bandgap.models import NeighborLSTMClassifier, NeighborLSTMRegressor, architecture_of

SMALL = dict(atom_hidden=8, crystal_hidden=16, head_hidden=16, random_state=0)


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data)


@pytest.fixture(scope="module")
def source(lists, mp_sample):
    return NeighborLSTMRegressor(**SMALL, max_epochs=3).fit(lists, mp_sample.target)


def _body(model):
    state = model.net_.module_.state_dict()
    return {k: v.clone() for k, v in state.items() if not k.startswith("head.3.")}


def test_warm_start_continues_from_the_current_weights_and_scaling(lists, mp_sample):
    gap = mp_sample.target[:, 0]
    model = NeighborLSTMRegressor(**SMALL, max_epochs=3).fit(lists, gap)
    before, mean = model.predict(lists), model.y_mean_.copy()
    model.set_params(warm_start=True, lr=1e-12, max_epochs=1)
    model.fit(lists[:100], gap[:100] + 5.0)  # other data: the scaling stays the first fit's
    np.testing.assert_allclose(model.y_mean_, mean)
    np.testing.assert_allclose(model.predict(lists), before, atol=1e-4)
    cold = clone(model).set_params(warm_start=False).fit(lists[:100], gap[:100])
    assert np.abs(cold.predict(lists) - before).max() > 1e-3  # new weights
    with pytest.raises(ValueError, match="continues a model of 1 output"):
        model.fit(lists, mp_sample.target)
    classifier = NeighborLSTMClassifier(**SMALL, max_epochs=1).fit(lists, gap > 0)
    with pytest.raises(ValueError, match=r"classes \[False, True\], but y holds \[2\]"):
        classifier.set_params(warm_start=True).fit(lists, np.where(gap > 0, 2, 0))


def test_init_starts_a_new_target_from_the_sources_body(lists, mp_sample, source, tmp_path):
    energy = mp_sample.target[:, 1]
    for init in (FrozenEstimator(source), save(source, tmp_path / "source.safetensors")):
        model = NeighborLSTMRegressor(**SMALL, max_epochs=1, lr=1e-12, init=init)
        fitted = clone(model).fit(lists, energy)  # clone keeps a FrozenEstimator's weights
        for key, tensor in _body(source).items():
            np.testing.assert_allclose(fitted.net_.module_.state_dict()[key], tensor, atol=1e-6)
        assert fitted.n_outputs_ == 1  # a new head for a new target, with its own scaling
        np.testing.assert_allclose(fitted.y_mean_, [energy.mean()])
    scratch = NeighborLSTMRegressor(**SMALL, max_epochs=1, lr=1e-12).fit(lists, energy)
    key = "embedding.weight"
    assert not np.allclose(scratch.net_.module_.state_dict()[key], _body(source)[key])
    with pytest.raises(ValueError, match=r"atom_hidden=8 \(here 48\)"):
        NeighborLSTMRegressor(init=FrozenEstimator(source), max_epochs=1).fit(lists, energy)
    with pytest.raises(ValueError, match=r"not fitted .*FrozenEstimator"):
        NeighborLSTMRegressor(**SMALL, init=clone(source), max_epochs=1).fit(lists, energy)
    with pytest.raises(ValueError, match="neither a shipped model nor a file"):
        NeighborLSTMRegressor(**SMALL, init="no_such_model", max_epochs=1).fit(lists, energy)
    assert architecture_of(source)["atom_hidden"] == 8


@pytest.mark.parametrize("name", ["band_gap_mp2018", "formation_energy_mp2018"])
def test_init_from_a_shipped_model_by_name(lists, mp_sample, name):
    from sklearn_bandgap.models._unwrap import find_inner
    from sklearn_bandgap.pretrained import load_pretrained

    # the first member of the model's own seed ensemble (pooled members come after it)
    member = find_inner(load_pretrained(name), NeighborLSTMRegressor)
    assert member.random_state == 0 and member.output_column in (None, 0)
    model = NeighborLSTMRegressor(
        **architecture_of(member), init=name, max_epochs=1, lr=1e-12, random_state=0
    ).fit(lists, mp_sample.target[:, 1])
    np.testing.assert_allclose(
        model.net_.module_.state_dict()["embedding.weight"],
        member.net_.module_.state_dict()["embedding.weight"],
        atol=1e-6,
    )


def test_init_output_starts_the_new_head_from_a_rescaled_source_output(lists, mp_sample, source):
    # a target that is a linear function of the source's second output: the new
    # head starts exactly there (lr ~ 0), where a fresh head starts anywhere
    target = 2.0 * source.predict(lists)[:, 1] - 1.0
    options = dict(**SMALL, max_epochs=1, lr=1e-12, init=FrozenEstimator(source))
    spread = target.std()
    started = NeighborLSTMRegressor(**options, init_output=1).fit(lists, target)
    assert np.abs(started.predict(lists) - target).max() < 1e-3 * spread
    fresh = NeighborLSTMRegressor(**options).fit(lists, target)
    assert np.abs(fresh.predict(lists) - target).mean() > 0.3 * spread
    # one source output per target column; a 2-D y maps each column
    both = np.column_stack([target, 3.0 * source.predict(lists)[:, 0]])
    mapped = NeighborLSTMRegressor(**options, init_output=[1, 0]).fit(lists, both)
    assert np.all(np.abs(mapped.predict(lists) - both).max(axis=0) < 1e-3 * both.std(axis=0))


@pytest.mark.parametrize(
    ("init_output", "message"),
    [
        (5, r"names output\(s\) \[5\], but the source has 2"),
        ([0, 1], r"names 2 source output\(s\), but y has 1 column"),
        (["gap"], "must be an int or a sequence of ints"),
    ],
)
def test_init_output_errors_name_the_problem(lists, mp_sample, source, init_output, message):
    model = NeighborLSTMRegressor(
        **SMALL, max_epochs=1, init=FrozenEstimator(source), init_output=init_output
    )
    with pytest.raises(ValueError, match=message):
        model.fit(lists, mp_sample.target[:, 1])


def test_init_output_needs_a_regressor_source(lists, mp_sample):
    classifier = NeighborLSTMClassifier(**SMALL, max_epochs=1).fit(
        lists, mp_sample.target[:, 0] > 0
    )
    model = NeighborLSTMRegressor(
        **SMALL, max_epochs=1, init=FrozenEstimator(classifier), init_output=0
    )
    with pytest.raises(ValueError, match="not a regressor"):
        model.fit(lists, mp_sample.target[:, 1])


def test_init_finds_the_network_inside_any_wrapper(lists, mp_sample, source):
    from sklearn.pipeline import make_pipeline

    from sklearn_bandgap.models import CompositionBaselineRegressor, SeedEnsembleRegressor
    from sklearn_bandgap.models._unwrap import find_inner, inner_model

    energy = mp_sample.target[:, 1]
    baseline = CompositionBaselineRegressor(NeighborLSTMRegressor(**SMALL, max_epochs=1))
    baseline.fit(lists, energy)
    wrapped = FrozenEstimator(make_pipeline(FrozenEstimator(baseline)))
    assert find_inner(wrapped, NeighborLSTMRegressor) is baseline.regressor_
    assert find_inner(wrapped, SeedEnsembleRegressor) is None
    assert inner_model(source) is None  # an LSTM wraps nothing
    model = NeighborLSTMRegressor(**SMALL, max_epochs=1, lr=1e-12, init=wrapped)
    fitted = model.fit(lists, energy)
    for key, tensor in _body(baseline.regressor_).items():
        np.testing.assert_allclose(fitted.net_.module_.state_dict()[key], tensor, atol=1e-6)
    unfitted = SeedEnsembleRegressor(NeighborLSTMRegressor(**SMALL), random_states=[0])
    with pytest.raises(ValueError, match=r"holds no fitted NeighborLSTM estimator \(got a Seed"):
        NeighborLSTMRegressor(**SMALL, max_epochs=1, init=unfitted).fit(lists, energy)
