"""PooledEnsembleRegressor: sklearn's checks, equal members across models, no refit, files."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import load, save
from sklearn_bandgap.models import (
    ConformalRegressor,
    NeighborLSTMRegressor,
    PooledEnsembleRegressor,
    SeedEnsembleRegressor,
)
from sklearn_bandgap.screening._chunks import output_columns

FAST = dict(max_epochs=2, embedding_dim=8, atom_hidden=8, crystal_hidden=8, head_hidden=8)


@parametrize_with_checks(
    [
        PooledEnsembleRegressor(
            [("tree", DecisionTreeRegressor(max_depth=3)), ("line", LinearRegression())]
        )
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_every_member_weighs_the_same_across_models():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = X @ [1.0, -1.0, 0.5] + 0.3 * X[:, 0] ** 2
    trees = SeedEnsembleRegressor(DecisionTreeRegressor(max_features=1), random_states=[0, 1, 2])
    pool = PooledEnsembleRegressor([("trees", trees), ("line", LinearRegression())]).fit(X, y)
    members = pool.members_
    assert len(members) == 4 and isinstance(members[-1], LinearRegression)
    each = np.array([m.predict(X[:10]) for m in members])
    mean, std = pool.predict(X[:10], return_std=True)
    np.testing.assert_allclose(mean, each.mean(axis=0))  # 3 : 1, not 1 : 1
    np.testing.assert_allclose(std, each.std(axis=0))
    assert not np.allclose(mean, (each[:3].mean(axis=0) + each[3]) / 2)
    # named as in VotingRegressor: nested parameters, and "drop"
    assert pool.get_params()["trees__estimator__max_features"] == 1
    pool.set_params(trees__random_states=[5], line="drop").fit(X, y)
    assert list(pool.named_estimators_) == ["trees"] and len(pool.members_) == 1
    assert pool.members_[0].random_state == 5


def test_from_fitted_keeps_the_models_and_refuses_unfitted_ones():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 2)), rng.normal(size=40)
    first = DecisionTreeRegressor(max_depth=2, random_state=0).fit(X, y)
    second = LinearRegression().fit(X, y)
    pool = PooledEnsembleRegressor.from_fitted([("tree", first), ("line", second)])
    assert pool.estimators_[0] is first and pool.estimators_[1] is second
    assert not hasattr(pool.estimators[0][1], "tree_")  # unfitted clones: what fit would train
    assert pool.named_estimators_["line"] is second
    np.testing.assert_allclose(pool.predict(X), (first.predict(X) + second.predict(X)) / 2)
    refit = clone(pool).fit(X, y)
    np.testing.assert_allclose(refit.predict(X), pool.predict(X))
    with pytest.raises(NotFittedError):
        PooledEnsembleRegressor.from_fitted([("tree", first), ("line", LinearRegression())])
    with pytest.raises(ValueError, match="empty"):
        PooledEnsembleRegressor.from_fitted([])
    with pytest.raises(ValueError, match=r"estimators \['line'\] have no fit and predict"):
        PooledEnsembleRegressor([("tree", first), ("line", "linear")]).fit(X, y)
    with pytest.raises(ValueError, match="not unique"):
        PooledEnsembleRegressor([("a", first), ("a", second)]).fit(X, y)
    with pytest.raises(ValueError, match="every estimator is dropped"):
        PooledEnsembleRegressor([("a", "drop")]).fit(X, y)


def test_models_of_two_recipes_pool_in_a_pipeline_and_a_file(mp_sample, tmp_path):
    # formation energy: members of a single-target model beside the formation-energy
    # column of multi-task (band gap, formation energy) members
    X, y = mp_sample.data, np.asarray(mp_sample.target)
    featurizer = NeighborListFeaturizer()
    lists = featurizer.transform(X[:100])
    single = SeedEnsembleRegressor(NeighborLSTMRegressor(**FAST), random_states=[0, 1])
    single.fit(lists[:80], y[:80, 1])
    multi = SeedEnsembleRegressor(NeighborLSTMRegressor(**FAST), random_states=[5])
    multi.fit(lists[:80], y[:80])
    multi.set_params(estimator__output_column=1)  # the template, for a refit
    for member in multi.estimators_:
        member.set_params(output_column=1)
    pool = PooledEnsembleRegressor.from_fitted([("single", single), ("multi", multi)])
    each = [m.predict(lists[80:]) for m in [*single.estimators_, *multi.estimators_]]
    assert all(p.shape == (20,) for p in each)
    np.testing.assert_allclose(pool.predict(lists[80:]), np.mean(each, axis=0), rtol=1e-6)

    # refitting on one column: the multi-task part cannot, and the error names it
    with pytest.raises(ValueError, match=r"estimator 'multi': .*output_column=1.*'drop'"):
        clone(pool).fit(lists[:80], y[:80, 1])
    refit = (
        clone(pool).set_params(multi="drop", single__random_states=[3]).fit(lists[:80], y[:80, 1])
    )
    assert [m.random_state for m in refit.members_] == [3]

    conformal = ConformalRegressor(pool, confidence_level=0.9, prefit=True)
    model = make_pipeline(featurizer, conformal.fit(lists[80:], y[80:100, 1]))
    path = tmp_path / "pooled.safetensors"
    save(model, path)
    alone = tmp_path / "members.safetensors"
    save(
        make_pipeline(
            featurizer,
            SeedEnsembleRegressor.from_fitted(
                NeighborLSTMRegressor(**FAST), single.estimators_, random_states=[0, 1]
            ),
        ),
        alone,
    )
    # the weights are stored once (the estimators parameter holds unfitted clones)
    assert path.stat().st_size < 1.8 * alone.stat().st_size
    loaded = load(path)
    np.testing.assert_allclose(loaded.predict(X[80:100]), model.predict(X[80:100]), rtol=1e-6)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict(X[80:100]), model.predict(X[80:100]), rtol=1e-6)
    # predict's CSV: the spread of the pooled members beside the intervals
    assert output_columns(loaded[-1], ("formation_energy_per_atom",))[:2] == (
        "formation_energy_per_atom",
        "formation_energy_per_atom_std",
    )
