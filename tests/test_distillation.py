"""Distillation targets of the shipped recipes: the teacher's member of the same seed, the blend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor, SeedEnsembleRegressor
from sklearn_bandgap.pretrained import load_pretrained
from sklearn_bandgap.pretrained._distillation import (
    out_of_fold_labels,
    teacher_folds,
    teacher_labels,
    teacher_member,
    teacher_member_file,
    teacher_predictions,
    with_extra_crystals,
)
from sklearn_bandgap.pretrained._recipes import RECIPES
from sklearn_bandgap.utils._targets import distilled_targets

#: Where ``benchmarks/train_pretrained.py`` keeps member files (``Recipe.teacher_members``).
MEMBER_STORE = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "train_pretrained"


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


def test_teacher_member_file_is_checked_to_be_the_member_of_that_seed(tmp_path):
    path = MEMBER_STORE / "members-chgnet" / "band_gap_mp2018_chgnet_seed2.safetensors"
    member = teacher_member_file(path, 2)
    assert isinstance(member, NeighborLSTMRegressor) and member.random_state == 2
    with pytest.raises(ValueError, match=r"random_state=2, not 3"):
        teacher_member_file(path, 3)
    with pytest.raises(FileNotFoundError, match="no teacher member file"):
        teacher_member_file(tmp_path / "band_gap_mp2018_chgnet_seed3.safetensors", 3)


def test_pinned_teacher_members_exist_for_every_seed_of_their_recipe():
    pinned = [r for r in RECIPES.values() if r.teacher_members is not None]
    assert pinned, "the band-gap recipe pins its teacher's members"
    for recipe in pinned:
        for seed in recipe.random_states:
            stem = MEMBER_STORE / recipe.teacher_members / f"{recipe.teacher}_seed{seed}"
            info = json.loads(stem.with_suffix(".json").read_text())
            assert info["settings"]["recipe"] == recipe.teacher, stem
            assert teacher_member_file(stem.with_suffix(".safetensors"), seed).random_state == seed


def test_teacher_folds_keep_formulas_whole_and_the_validation_part_out():
    rng = np.random.default_rng(0)
    formulas = rng.choice([f"A{i}B" for i in range(60)], size=300)
    validation = np.flatnonzero(np.isin(formulas, ["A1B", "A2B", "A3B"]))
    folds = teacher_folds(formulas, validation, 3, random_state=0)
    assert set(np.flatnonzero(folds == -1)) == set(validation)
    assert set(np.unique(folds[folds >= 0])) == {0, 1, 2}
    for formula in set(formulas):  # a formula's rows share one fold
        assert len(set(folds[formulas == formula])) == 1, formula
    sizes = np.bincount(folds[folds >= 0])
    assert sizes.min() > 0.7 * sizes.max()  # balanced by rows (GroupKFold)
    np.testing.assert_array_equal(folds, teacher_folds(formulas, validation, 3, random_state=0))
    assert not np.array_equal(folds, teacher_folds(formulas, validation, 3, random_state=1))


@pytest.mark.parametrize(
    ("formulas", "validation", "n_folds", "message"),
    [
        (["A", "B", "C"], [], 1, "at least 2"),
        (["A", "B", "C"], [], 2.0, "at least 2"),
        (["A", "B", "C"], [3], 2, r"validation rows must lie in \[0, 3\)"),
        (["A", "A", "B"], [2], 2, "1 formulas outside the validation part for 2 folds"),
    ],
)
def test_teacher_folds_refuse_what_cannot_be_folded(formulas, validation, n_folds, message):
    with pytest.raises(ValueError, match=message):
        teacher_folds(formulas, validation, n_folds, random_state=0)


def test_out_of_fold_labels_come_from_the_member_that_left_the_row_out():
    predictions = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
    folds = np.array([0, 1, -1, 1])
    np.testing.assert_allclose(out_of_fold_labels(predictions, folds), [1.0, 20.0, 16.5, 40.0])
    with pytest.raises(ValueError, match="one row per fold member"):
        out_of_fold_labels(predictions[:, :3], folds)
    with pytest.raises(ValueError, match=r"folds must lie in \[-1, 2\)"):
        out_of_fold_labels(predictions, np.array([0, 2, -1, 1]))


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


@pytest.fixture(scope="module")
def sample_lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data[:80])


@pytest.mark.filterwarnings("ignore::sklearn_bandgap.exceptions.ConstantPredictionWarning")
def test_teacher_labels_leave_out_excluded_formulas_and_crystals_outside_the_domain(
    mp_sample, sample_lists
):
    formulas = np.asarray(mp_sample.formula[:80], dtype=object)
    y = np.asarray(mp_sample.target, dtype=np.float64)[:80, 0]
    has_oxygen = np.array([8 in item.atomic_numbers[:, 0] for item in sample_lists])
    assert 0 < has_oxygen.sum() < 70
    fitted_on = np.flatnonzero(~has_oxygen)
    member = NeighborLSTMRegressor(max_epochs=1, random_state=0)
    member.fit(sample_lists.take(fitted_on), y[fitted_on])
    excluded = {formulas[fitted_on[0]], formulas[fitted_on[1]]}
    kept, labels = teacher_labels(member, sample_lists, formulas, exclude_formulas=excluded)
    assert not has_oxygen[kept].any()  # oxygen was never seen by the member
    assert not set(formulas[kept]) & excluded
    expected = [i for i in fitted_on if formulas[i] not in excluded]
    np.testing.assert_array_equal(kept, expected)
    np.testing.assert_allclose(labels, teacher_predictions(member, sample_lists.take(kept)))
    with pytest.raises(ValueError, match="3 formulas for 80 crystals"):
        teacher_labels(member, sample_lists, formulas[:3])


def test_with_extra_crystals_appends_them_with_missing_other_columns(sample_lists):
    lists, extra = sample_lists.take(np.arange(50)), sample_lists.take(np.arange(50, 80))
    y = np.arange(100, dtype=float).reshape(50, 2)
    labels = np.linspace(0, 1, 30)
    combined, y_all, train_only = with_extra_crystals(lists, y, extra, labels, column=1)
    assert len(combined) == 80 and y_all.shape == (80, 2)
    np.testing.assert_array_equal(combined.atomic_numbers, sample_lists.atomic_numbers)
    np.testing.assert_array_equal(combined.distances, sample_lists.distances)
    np.testing.assert_array_equal(y_all[:50], y)
    np.testing.assert_array_equal(y_all[50:, 1], labels)
    assert np.isnan(y_all[50:, 0]).all()
    np.testing.assert_array_equal(train_only, np.arange(80) >= 50)
    _, y_one, _ = with_extra_crystals(lists, y[:, 0], extra, labels)
    np.testing.assert_array_equal(y_one, np.r_[y[:, 0], labels])
    with pytest.raises(ValueError, match="29 labels for 30 extra crystals"):
        with_extra_crystals(lists, y, extra, labels[:29])
