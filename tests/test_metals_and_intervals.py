"""Metals and gapped crystals: the zero-inflated model, conformal intervals, ensemble spread."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeRegressor

from sklearn_bandgap.baselines import compare, make_dummy
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import load, save
from sklearn_bandgap.model_selection import formula_groups
from sklearn_bandgap.models import (
    ConformalRegressor,
    NeighborLSTMClassifier,
    NeighborLSTMRegressor,
    SeedEnsembleRegressor,
    TwoHeadBandGapRegressor,
    ZeroInflatedRegressor,
)

SMALL = dict(atom_hidden=8, crystal_hidden=16, head_hidden=16, max_epochs=3, random_state=0)


def _zero_inflated(**params):
    return ZeroInflatedRegressor(
        NeighborLSTMClassifier(**SMALL), NeighborLSTMRegressor(**SMALL), **params
    )


@pytest.fixture(scope="module")
def gap(mp_sample):
    return mp_sample.target[:, 0]


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data)


@pytest.fixture(scope="module")
def fitted(lists, gap):
    return _zero_inflated().fit(lists, gap)


# ------------------------------------------------------------------ zero-inflated
def test_metals_are_predicted_exactly_zero(fitted, lists, gap):
    p_gapped = fitted.nonzero_probability(lists)
    y_pred = fitted.predict(lists)
    assert ((y_pred == 0) == (p_gapped < 0.5)).all()
    regressor_values = fitted.regressor_.predict(lists)
    np.testing.assert_array_equal(y_pred[p_gapped >= 0.5], regressor_values[p_gapped >= 0.5])
    assert fitted.n_nonzero_ == int((gap > 0).sum()) == 100
    # the regressor saw gapped crystals only: its target mean is theirs
    np.testing.assert_allclose(fitted.regressor_.y_mean_[0], gap[gap > 0].mean())


def test_expected_mode_is_probability_times_gap(fitted, lists):
    expected = fitted.set_params(mode="expected")
    try:
        np.testing.assert_allclose(
            expected.predict(lists),
            expected.nonzero_probability(lists) * expected.regressor_.predict(lists),
        )
    finally:
        fitted.set_params(mode="hard")


def test_from_fitted_composes_components_trained_elsewhere(fitted, lists, tmp_path):
    """Components checkpointed one by one make the model fit would have made."""
    for mode in ("hard", "expected"):
        rebuilt = ZeroInflatedRegressor.from_fitted(
            fitted.classifier_, fitted.regressor_, mode=mode, threshold=0.4
        )
        assert rebuilt.n_nonzero_ is None
        p = fitted.nonzero_probability(lists)
        values = fitted.regressor_.predict(lists)
        np.testing.assert_array_equal(rebuilt.predict(lists), rebuilt.combine(p, values))
        if mode == "hard":
            assert ((rebuilt.predict(lists) == 0) == (p < 0.4)).all()
        save(rebuilt, tmp_path / f"{mode}.safetensors")
        again = load(tmp_path / f"{mode}.safetensors")
        np.testing.assert_array_equal(again.predict(lists), rebuilt.predict(lists))
    with pytest.raises(NotFittedError):
        ZeroInflatedRegressor.from_fitted(NeighborLSTMClassifier(), fitted.regressor_)
    with pytest.raises(ValueError, match="fitted on y > 0"):
        ZeroInflatedRegressor.from_fitted(
            LogisticRegression().fit([[0.0], [1.0]], ["a", "b"]), fitted.regressor_
        )
    with pytest.raises(ValueError, match="differ in length"):
        fitted.combine([0.9, 0.1], [1.0])


def test_bad_targets_are_named(lists, gap):
    with pytest.raises(ValueError, match=r"non-negative .* indices \[3\]"):
        bad = gap.copy()
        bad[3] = -0.1
        _zero_inflated().fit(lists, bad)
    with pytest.raises(ValueError, match="no positive value"):
        _zero_inflated().fit(lists, np.zeros(200))


def test_in_pipelines_grid_search_compare_and_persistence(mp_sample, gap, fitted, lists, tmp_path):
    pipeline = make_pipeline(NeighborListFeaturizer(), _zero_inflated())
    groups = formula_groups(mp_sample.data)
    search = GridSearchCV(
        pipeline, {"zeroinflatedregressor__threshold": [0.3, 0.7]}, cv=GroupKFold(2)
    )
    search.fit(mp_sample.data, gap, groups=groups)
    assert search.best_params_["zeroinflatedregressor__threshold"] in (0.3, 0.7)
    table = compare(
        {"zero-inflated": pipeline, "mean": make_dummy()},
        mp_sample.data,
        gap,
        cv=GroupKFold(2),
        groups=groups,
    )
    assert list(table.index) == ["zero-inflated", "mean"]
    expected = fitted.predict(lists)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict(lists), expected)
    loaded = load(save(fitted, tmp_path / "zero_inflated.safetensors"))
    np.testing.assert_array_equal(loaded.predict(lists), expected)


# ------------------------------------------------------------------ conformal intervals
def _noisy_line(n, seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(0, 1, size=(n, 1))
    return X, 2.0 * X[:, 0] + rng.normal(scale=0.1, size=n)


def test_conformal_coverage_on_a_problem_with_known_noise():
    X, y = _noisy_line(4000, seed=0)
    model = ConformalRegressor(LinearRegression(), random_state=0)
    model.fit(X, y, groups=np.arange(len(y)))
    X_new, y_new = _noisy_line(20000, seed=1)
    _, intervals = model.predict_interval(X_new)
    inside = (intervals[:, 0, :] <= y_new[:, None]) & (y_new[:, None] <= intervals[:, 1, :])
    np.testing.assert_allclose(inside.mean(axis=0), [0.68, 0.90], atol=0.03)
    # the noise is Gaussian with sd 0.1: the 90 % half width is about 1.645 sd
    np.testing.assert_allclose(model.half_widths_[1], 0.1645, rtol=0.1)


def test_conformalization_holds_out_whole_groups():
    X, y = _noisy_line(600, seed=2)
    groups = np.repeat(np.arange(60), 10)  # 60 groups of 10 rows
    model = ConformalRegressor(LinearRegression(), conformalize_size=0.25, random_state=0)
    model.fit(X, y, groups=groups)
    assert model.n_conformalize_ % 10 == 0 and model.n_conformalize_ == 150


def _metals_and_gapped(n, seed):
    """x < 0.4: metals (y = 0); above, y = 2x with noise of sd 0.3."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(0, 1, size=(n, 1))
    y = np.where(X[:, 0] < 0.4, 0.0, 2.0 * X[:, 0] + rng.normal(scale=0.3, size=n))
    return X, np.maximum(y, 0.0)


def _coverage(intervals, y, level=1):
    return np.mean((intervals[:, 0, level] <= y) & (y <= intervals[:, 1, level]))


def test_separate_at_keeps_the_coverage_of_each_part():
    zero_inflated = ZeroInflatedRegressor(LogisticRegression(C=100.0), LinearRegression())
    X, y = _metals_and_gapped(4000, seed=0)
    X_new, y_new = _metals_and_gapped(20000, seed=1)
    pooled = ConformalRegressor(zero_inflated, lower_bound=0.0, random_state=0)
    separate = clone(pooled).set_params(separate_at=0.0)
    _, pooled_intervals = pooled.fit(X, y, groups=np.arange(len(y))).predict_interval(X_new)
    y_pred, intervals = separate.fit(X, y, groups=np.arange(len(y))).predict_interval(X_new)
    zero = y_pred == 0
    assert 0.3 < zero.mean() < 0.5
    # pooled: the metals' zero residuals let the gapped crystals fall below 90 %
    assert _coverage(pooled_intervals[~zero], y_new[~zero]) < 0.87
    # separate: each part covered on its own, the metals' intervals much narrower
    assert abs(_coverage(intervals[~zero], y_new[~zero]) - 0.9) < 0.03
    assert _coverage(intervals[zero], y_new[zero]) >= 0.87
    assert (separate.low_half_widths_ < separate.half_widths_ / 3).all()
    np.testing.assert_array_equal(intervals[zero, 0, :], 0.0)
    np.testing.assert_allclose(
        intervals[zero, 1, :], np.broadcast_to(separate.low_half_widths_, (zero.sum(), 2))
    )
    assert not hasattr(pooled, "low_half_widths_")
    # a plain regressor: its small predictions separated at a threshold
    plain = ConformalRegressor(LinearRegression(), lower_bound=0.0, separate_at=0.9, random_state=0)
    y_pred, intervals = plain.fit(X, y, groups=np.arange(len(y))).predict_interval(X_new)
    low = y_pred <= 0.9
    assert 0.3 < low.mean() < 0.7
    for rows in (low, ~low):
        assert abs(_coverage(intervals[rows], y_new[rows]) - 0.9) < 0.03


def test_separate_at_needs_enough_of_each_part():
    X, y = _noisy_line(200, seed=3)  # a line: nothing predicted 0
    model = ConformalRegressor(LinearRegression(), lower_bound=0.0, separate_at=0.0)
    with pytest.raises(
        ValueError, match="only 0 of the 40 conformalization rows are predicted at or below 0"
    ):
        model.fit(X, y, groups=np.arange(len(y)))


def test_prefit_conformalizes_a_fitted_model_without_training_it():
    X, y = _noisy_line(2000, seed=4)
    regressor = LinearRegression().fit(X[:1000], y[:1000])
    coef = regressor.coef_.copy()
    model = ConformalRegressor(regressor, prefit=True).fit(X[1000:], y[1000:])
    assert model.estimator_ is regressor and model.n_conformalize_ == 1000
    np.testing.assert_array_equal(regressor.coef_, coef)
    X_new, y_new = _noisy_line(20000, seed=5)
    _, intervals = model.predict_interval(X_new)
    assert abs(_coverage(intervals, y_new) - 0.9) < 0.03
    with pytest.raises(ValueError, match=r"prefit=True needs a fitted estimator.*prefit=False"):
        ConformalRegressor(LinearRegression(), prefit=True).fit(X, y)


def test_separate_at_persists(fitted, lists, gap, tmp_path):
    model = pickle.loads(pickle.dumps(fitted))  # half of the sample classified metals:
    model.set_params(threshold=float(np.median(model.nonzero_probability(lists))))
    conformal = ConformalRegressor(model, lower_bound=0.0, separate_at=0.0, prefit=True)
    _, intervals = conformal.fit(lists, gap).predict_interval(lists)
    loaded = load(save(conformal, tmp_path / "separate.safetensors"))
    np.testing.assert_array_equal(loaded.low_half_widths_, conformal.low_half_widths_)
    np.testing.assert_array_equal(loaded.predict_interval(lists)[1], intervals)


def test_band_gap_intervals_contain_the_prediction_and_stay_non_negative(mp_sample, gap, tmp_path):
    model = ConformalRegressor(
        make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor(**SMALL)),
        lower_bound=0.0,
        random_state=0,
    ).fit(mp_sample.data, gap)  # groups: the reduced formulas, found from the structures
    y_pred, intervals = model.predict_interval(mp_sample.data)
    assert intervals.shape == (200, 2, 2) and (intervals >= 0).all() and (y_pred >= 0).all()
    assert (intervals[:, 0, :] <= y_pred[:, None]).all()
    assert (y_pred[:, None] <= intervals[:, 1, :]).all()
    assert (
        intervals[:, 1, 1] - intervals[:, 0, 1] >= intervals[:, 1, 0] - intervals[:, 0, 0]
    ).all()
    loaded = load(save(model, tmp_path / "intervals.safetensors"))
    np.testing.assert_array_equal(loaded.predict_interval(mp_sample.data)[1], intervals)


# ------------------------------------------------------------------ ensemble spread
def test_seed_ensemble_returns_the_members_spread():
    X, y = _noisy_line(200, seed=3)
    ensemble = SeedEnsembleRegressor(
        DecisionTreeRegressor(max_features=1, max_depth=4), random_states=[0, 1, 2]
    ).fit(X, y)
    mean, std = ensemble.predict(X[:10], return_std=True)
    members = np.array([m.predict(X[:10]) for m in ensemble.estimators_])
    np.testing.assert_allclose(mean, members.mean(axis=0))
    np.testing.assert_allclose(std, members.std(axis=0))
    np.testing.assert_array_equal(ensemble.predict(X[:10]), mean)


# ------------------------------------------------------------------ one network, two heads
def test_two_head_model_learns_both_heads_and_zeros_metals(lists, gap, tmp_path):
    model = TwoHeadBandGapRegressor(
        atom_hidden=16,
        crystal_hidden=32,
        head_hidden=32,
        max_epochs=25,
        lr=5e-3,
        validation_fraction=0,
        random_state=0,
    ).fit(lists, gap)
    losses = model.net_.history_[:, "train_loss"]
    assert losses[0] > 1.5 * losses[-1]
    p_gapped, values = model.predict_heads(lists)
    assert ((p_gapped > 0) & (p_gapped < 1)).all() and (values >= 0).all()
    np.testing.assert_array_equal(model.nonzero_probability(lists), p_gapped)
    y_pred = model.predict(lists)
    assert ((y_pred == 0) == (p_gapped < 0.5)).all()
    expected = model.set_params(mode="expected").predict(lists)
    np.testing.assert_allclose(expected, p_gapped * values)
    loaded = load(save(model, tmp_path / "two_heads.safetensors"))
    np.testing.assert_array_equal(loaded.predict(lists), expected)
    with pytest.raises(ValueError, match="both metals"):
        TwoHeadBandGapRegressor(max_epochs=1).fit(lists, np.zeros(200))


# ------------------------------------------------------------------ the predict command
def test_predict_command_writes_intervals_and_metal_probability(fitted, lists, tmp_path, capsys):
    import pandas as pd
    from pymatgen.core import Lattice, Structure

    from sklearn_bandgap.cli import main

    conformal = ConformalRegressor(
        _zero_inflated(), confidence_level=(0.68, 0.9), lower_bound=0.0, random_state=0
    )
    conformal.estimator_ = fitted  # what fit makes, without a second training
    conformal.half_widths_ = np.array([0.25, 0.5])
    conformal.confidence_levels_ = np.array([0.68, 0.9])
    conformal.n_conformalize_ = 40
    path = save(
        conformal,
        tmp_path / "gap_with_intervals.safetensors",
        metadata={"outputs": [{"name": "band_gap", "unit": "eV"}]},
    )
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0] * 3, [0.5] * 3]
    )
    nacl.to(filename=str(tmp_path / "NaCl.cif"))
    (tmp_path / "broken.cif").write_text("data_x\n_cell_length_a 3\n")
    out = tmp_path / "out.csv"
    status = main(
        [
            "predict",
            str(tmp_path / "NaCl.cif"),
            str(tmp_path / "broken.cif"),
            "--model",
            str(path),
            "-o",
            str(out),
        ]
    )
    assert status == 1  # the broken file
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == [
        "id",
        "formula",
        "band_gap",
        "band_gap_low_68",
        "band_gap_high_68",
        "band_gap_low_90",
        "band_gap_high_90",
        "metal_probability",
        "warning",
        "error",
    ]
    row = table[table.formula == "NaCl"].iloc[0][2:8].astype(float)
    neighbor_lists = NeighborListFeaturizer().transform([nacl])
    y_pred, intervals = conformal.predict_interval(neighbor_lists)
    assert row.band_gap == pytest.approx(y_pred[0], abs=1e-6)
    assert row.band_gap_low_90 == pytest.approx(intervals[0, 0, 1], abs=1e-6)
    assert row.band_gap_high_68 == pytest.approx(intervals[0, 1, 0], abs=1e-6)
    assert row.metal_probability == pytest.approx(
        1 - fitted.nonzero_probability(neighbor_lists)[0], abs=1e-6
    )
    assert 0 <= row.band_gap_low_90 <= row.band_gap_low_68 <= row.band_gap
    broken = table[table.id.str.endswith("broken.cif")].iloc[0]
    assert broken.error.startswith("cannot read") and broken.band_gap == ""


def test_conformal_model_has_a_metal_probability_only_when_its_estimator_has_one(fitted, lists):
    assert not hasattr(ConformalRegressor(LinearRegression()), "nonzero_probability")
    conformal = ConformalRegressor(_zero_inflated())
    assert hasattr(conformal, "nonzero_probability")
    conformal.estimator_ = fitted
    np.testing.assert_array_equal(
        conformal.nonzero_probability(lists), fitted.nonzero_probability(lists)
    )


def test_conformal_shipped_model_on_cif_texts_saved_and_used_by_predict(tmp_path, capsys):
    """Every input kind conformalizes, and predict reads a saved conformal pipeline as is."""
    import csv
    import io as text_io

    from pymatgen.io.cif import CifWriter

    from sklearn_bandgap.cli import main
    from sklearn_bandgap.datasets import load_mp_gap_eform
    from sklearn_bandgap.io import save
    from sklearn_bandgap.models import ConformalRegressor
    from sklearn_bandgap.pretrained import load_pretrained

    data = load_mp_gap_eform(subset="sample200", progress=False)
    cifs = [str(CifWriter(s)) for s in data.data[:80]]
    y = data.target[:80]
    model = ConformalRegressor(load_pretrained("band_gap_mp2018"), lower_bound=0.0, prefit=True)
    model.fit(cifs, y)
    on_structures = ConformalRegressor(
        load_pretrained("band_gap_mp2018"), lower_bound=0.0, prefit=True
    ).fit(list(data.data[:80]), y)
    np.testing.assert_allclose(model.half_widths_, on_structures.half_widths_, atol=1e-9)
    path = tmp_path / "conformal.safetensors"
    save(model, path, metadata={"outputs": [{"name": "band_gap"}]})
    cif = tmp_path / "x.cif"
    cif.write_text(cifs[0])
    assert main(["predict", str(cif), "--model", str(path)]) == 0
    (row,) = list(csv.DictReader(text_io.StringIO(capsys.readouterr().out)))
    _, intervals = model.predict_interval([cifs[0]])
    assert float(row["band_gap_low_90"]) == pytest.approx(intervals[0, 0, -1], abs=1e-5)
    assert float(row["band_gap_high_90"]) == pytest.approx(intervals[0, 1, -1], abs=1e-5)


def test_intervals_keep_the_wrapped_ensembles_spread(lists, gap, mp_sample, tmp_path):
    """A conformal seed ensemble gives mean, spread and intervals from one prediction."""
    import pandas as pd

    from sklearn_bandgap.cli import main

    ensemble = SeedEnsembleRegressor(NeighborLSTMRegressor(**SMALL), random_states=[0, 1])
    pipeline = make_pipeline(NeighborListFeaturizer(), ensemble.fit(lists, gap))
    structures = list(mp_sample.data)
    conformal = ConformalRegressor(pipeline, prefit=True, lower_bound=0.0)
    conformal.fit(structures[:150], gap[:150])
    assert conformal.has_std()
    mean, std = pipeline.predict(structures[150:], return_std=True)
    y_pred, intervals, y_std = conformal.predict_interval(structures[150:], return_std=True)
    np.testing.assert_allclose(y_pred, np.maximum(mean, 0.0))
    np.testing.assert_allclose(y_std, std)
    assert (intervals[:, 0, :] <= y_pred[:, None] + 1e-12).all()
    np.testing.assert_allclose(conformal.predict(structures[150:], return_std=True)[1], std)
    plain = ConformalRegressor(pipeline[-1].estimators_[0], prefit=True).fit(lists[:150], gap[:150])
    assert not plain.has_std()
    with pytest.raises(ValueError, match="has no spread"):
        plain.predict(lists[:3], return_std=True)

    path = save(
        conformal,
        tmp_path / "conformal_ensemble.safetensors",
        metadata={"outputs": [{"name": "band_gap", "unit": "eV"}]},
    )
    for k, structure in enumerate(structures[150:153]):
        structure.to(filename=str(tmp_path / f"s{k}.cif"))
    out = tmp_path / "out.csv"
    assert main(["predict", str(tmp_path), "--model", str(path), "-o", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns)[2:9] == [
        "band_gap",
        "band_gap_std",
        "band_gap_low_68",
        "band_gap_high_68",
        "band_gap_low_90",
        "band_gap_high_90",
        "warning",
    ]
    values = table.sort_values("id").iloc[:, 2:8].to_numpy(dtype=float)
    expected_pred, expected_intervals, expected_std = conformal.predict_interval(
        structures[150:153], return_std=True
    )
    np.testing.assert_allclose(values[:, 0], expected_pred, atol=1e-5)
    np.testing.assert_allclose(values[:, 1], expected_std, atol=1e-5)
    np.testing.assert_allclose(values[:, 2], expected_intervals[:, 0, 0], atol=1e-5)
    np.testing.assert_allclose(values[:, 5], expected_intervals[:, 1, 1], atol=1e-5)
