"""SeedEnsembleRegressor: sklearn's checks, seeds really set, mean of members, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor, SeedEnsembleRegressor

FAST = dict(max_epochs=2, embedding_dim=8, atom_hidden=8, crystal_hidden=8, head_hidden=8)


@parametrize_with_checks([SeedEnsembleRegressor(DecisionTreeRegressor(max_depth=3))])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_members_get_the_seeds_also_when_nested():
    X = np.random.default_rng(0).normal(size=(60, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0]
    inner = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=3, max_features=2))
    model = SeedEnsembleRegressor(inner, random_states=[3, 7]).fit(X, y)
    assert model.seed_parameters_ == ["decisiontreeregressor__random_state"]
    assert [m[-1].random_state for m in model.estimators_] == [3, 7]
    assert inner[-1].random_state is None  # the given estimator is left alone
    members = [m.predict(X[:10]) for m in model.estimators_]
    assert not np.allclose(members[0], members[1])
    np.testing.assert_allclose(model.predict(X[:10]), np.mean(members, axis=0))


def test_multi_task_lstm_members_in_a_pipeline(mp_sample):
    # Multi-task members (VotingRegressor takes 1-D y only), band-gap column clipped.
    X, y = mp_sample.data, mp_sample.target
    ensemble = SeedEnsembleRegressor(
        NeighborLSTMRegressor(**FAST, nonnegative=[0]), random_states=[0, 1]
    )
    pipeline = make_pipeline(NeighborListFeaturizer(), ensemble).fit(X[:80], y[:80])
    pred = pipeline.predict(X[80:120])
    assert pred.shape == (40, 2) and (pred[:, 0] >= 0).all()
    lists = pipeline[0].transform(X[80:120])
    members = [m.predict(lists) for m in pipeline[-1].estimators_]
    assert [m.random_state for m in pipeline[-1].estimators_] == [0, 1]
    assert not np.allclose(members[0], members[1])
    np.testing.assert_allclose(pred, np.mean(members, axis=0))
    # each member is the model a user would train alone with that seed
    alone = NeighborLSTMRegressor(**FAST, nonnegative=[0], random_state=1)
    alone.fit(pipeline[0].transform(X[:80]), y[:80])
    np.testing.assert_allclose(alone.predict(lists), members[1], rtol=1e-6)
    restored = pickle.loads(pickle.dumps(pipeline))
    np.testing.assert_allclose(restored.predict(X[80:120]), pred)
    assert clone(ensemble).get_params()["estimator__nonnegative"] == [0]


@pytest.mark.parametrize(
    ("estimator", "random_states", "message"),
    [
        (LinearRegression(), (0, 1), "LinearRegression has no random_state parameter"),
        (DecisionTreeRegressor(), [], "non-empty sequence of integers"),
        (DecisionTreeRegressor(), [0.5, 1.5], "non-empty sequence of integers"),
        (DecisionTreeRegressor(), [0, 1, 0], r"repeats \[0\]"),
    ],
)
def test_bad_settings_are_named(estimator, random_states, message):
    model = SeedEnsembleRegressor(estimator, random_states=random_states)
    with pytest.raises(ValueError, match=message):
        model.fit([[0.0], [1.0]], [0.0, 1.0])


def test_parallel_members_equal_sequential_ones():
    X = np.random.default_rng(1).normal(size=(50, 3))
    y = X[:, 0] - X[:, 1] ** 2
    inner = DecisionTreeRegressor(max_depth=4, max_features=1)
    sequential = SeedEnsembleRegressor(inner, random_states=[0, 1, 2]).fit(X, y)
    parallel = SeedEnsembleRegressor(inner, random_states=[0, 1, 2], n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(parallel.predict(X), sequential.predict(X))


def test_from_fitted_equals_fit_and_refuses_a_foreign_member():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    template = DecisionTreeRegressor(max_features=1)
    fitted = SeedEnsembleRegressor(template, random_states=[3, 4]).fit(X, y)
    members = [clone(template).set_params(random_state=s).fit(X, y) for s in (3, 4)]
    rebuilt = SeedEnsembleRegressor.from_fitted(template, members, random_states=[3, 4])
    np.testing.assert_array_equal(rebuilt.predict(X), fitted.predict(X))
    assert rebuilt.seed_parameters_ == fitted.seed_parameters_
    with pytest.raises(ValueError, match=r"member 1 .* \['max_depth'\]"):
        other = clone(template).set_params(random_state=4, max_depth=2).fit(X, y)
        SeedEnsembleRegressor.from_fitted(template, [members[0], other], random_states=[3, 4])
    with pytest.raises(ValueError, match="1 members for 2 random_states"):
        SeedEnsembleRegressor.from_fitted(template, members[:1], random_states=[3, 4])
