"""Distillation targets of the shipped recipes: the teacher's member of the same seed, the blend."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from sklearn_bandgap.models import SeedEnsembleRegressor
from sklearn_bandgap.pretrained import load_pretrained
from sklearn_bandgap.pretrained._distillation import teacher_member
from sklearn_bandgap.pretrained._recipes import RECIPES
from sklearn_bandgap.utils._targets import distilled_targets


def test_teacher_member_is_the_member_of_that_seed():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    model = make_pipeline(
        StandardScaler(), SeedEnsembleRegressor(DecisionTreeRegressor(), random_states=[3, 7])
    ).fit(X, y)
    member = teacher_member(model, 7)
    assert member.random_state == 7
    assert member is model[-1].estimators_[1]
    with pytest.raises(ValueError, match=r"no member with random_state=5 \(has \[3, 7\]\)"):
        teacher_member(model, 5)
    with pytest.raises(ValueError, match="no SeedEnsembleRegressor"):
        teacher_member(make_pipeline(DecisionTreeRegressor()).fit(X, y), 0)


def test_teacher_member_of_a_shipped_model_looks_inside_the_conformal_wrapper():
    for name, recipe in RECIPES.items():
        if recipe.teacher is None:
            continue
        teacher = load_pretrained(recipe.teacher)
        for seed in recipe.random_states:
            assert teacher_member(teacher, seed).random_state == seed, name
    chgnet = load_pretrained("band_gap_mp2018_chgnet")
    assert teacher_member(chgnet, 2).n_atom_features_ == 64


def test_distilled_targets_blend_one_column_and_copy():
    y = np.array([[1.0, -0.5], [0.0, -1.0], [2.0, 0.1]])
    teacher = np.array([3.0, 1.0, 2.0])
    blended = distilled_targets(y, teacher, 0.25, column=0)
    np.testing.assert_allclose(blended[:, 0], [1.5, 0.25, 2.0])
    np.testing.assert_array_equal(blended[:, 1], y[:, 1])
    assert y[0, 0] == 1.0  # the input is not changed
    np.testing.assert_allclose(distilled_targets(y[:, 0], teacher, 1.0), teacher)
    np.testing.assert_array_equal(distilled_targets(y[:, 0], teacher, 0.0), y[:, 0])


@pytest.mark.parametrize(
    ("teacher", "weight", "message"),
    [
        (np.array([1.0, 2.0]), 0.5, "2 teacher predictions for 3 crystals"),
        (np.array([1.0, np.nan, 2.0]), 0.5, r"non-finite values at rows \[1\]"),
        (np.array([1.0, 2.0, 3.0]), 1.5, r"weight must lie in \[0, 1\]"),
    ],
)
def test_distilled_targets_name_bad_input(teacher, weight, message):
    with pytest.raises(ValueError, match=message):
        distilled_targets(np.zeros(3), teacher, weight)
