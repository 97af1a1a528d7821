"""matminer baselines, MatminerTransformer and the paired comparison."""

from __future__ import annotations

import pickle
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from conftest import DATA_FREE_CHECKS
from matminer.featurizers.composition import ElementProperty
from matminer.featurizers.structure import (
    DensityFeatures,
    OrbitalFieldMatrix,
    SineCoulombMatrix,
    StructureComposition,
)
from pymatgen.core import Lattice, Structure
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.baselines import (
    MatminerTransformer,
    compare,
    magpie_features,
    make_dummy,
    make_rf_magpie,
    make_rf_scm_magpie,
    plot_comparison,
)
from sklearn_bandgap.cli import compare_main as compare_command
from sklearn_bandgap.exceptions import FeaturizationError, InvalidStructureError
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.model_selection import formula_groups
from sklearn_bandgap.models import NeighborLSTMRegressor


class RecordingRegressor(RegressorMixin, BaseEstimator):
    """Predicts the training mean and records which structures it was given."""

    seen: ClassVar[list[tuple[str, list[int], list[int]]]] = []

    def __init__(self, label: str = "") -> None:
        self.label = label

    def fit(self, X, y):
        self.train_ids_ = [id(s) for s in X]
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        RecordingRegressor.seen.append((self.label, self.train_ids_, [id(s) for s in X]))
        return np.full(len(X), self.mean_)


class CountingDensity(DensityFeatures):
    """matminer's DensityFeatures, counting its featurize calls."""

    calls: ClassVar[list[int]] = [0]

    def featurize(self, s):
        CountingDensity.calls[0] += 1
        return super().featurize(s)


@pytest.fixture(scope="module")
def structures(mp_sample):
    return list(mp_sample.data)


@pytest.fixture(scope="module")
def gap(mp_sample):
    return mp_sample.target[:, 0]


# ------------------------------------------------------------ MatminerTransformer
@pytest.mark.parametrize("check", DATA_FREE_CHECKS)
def test_sklearn_data_free_checks(check):
    check("MatminerTransformer", MatminerTransformer(DensityFeatures()))


def test_magpie_golden_values_on_rock_salt(nacl):
    step = magpie_features().fit([nacl])
    row = dict(zip(step.get_feature_names_out(), step.transform([nacl])[0], strict=True))
    assert row["MagpieData mean Number"] == pytest.approx((11 + 17) / 2)
    assert row["MagpieData range Number"] == pytest.approx(17 - 11)
    assert step.n_features_out_ == 132


def test_the_wrapped_featurizer_is_cloned_and_fitted_not_modified(structures):
    scm = SineCoulombMatrix()
    step = MatminerTransformer(scm).fit(structures[:20])
    assert step.featurizer_ is not scm and step.featurizer_._max_eigs is not None
    assert scm._max_eigs is None
    # matminer's StructureComposition.fit returns its inner featurizer: the step keeps the outer
    wrapped = MatminerTransformer(StructureComposition(ElementProperty.from_preset("magpie")))
    assert isinstance(wrapped.fit(structures[:5]).featurizer_, StructureComposition)


def test_a_featurizer_that_breaks_get_params_is_deep_copied(cscl, nacl):
    ofm = OrbitalFieldMatrix(flatten=True)  # keeps no period_tag attribute: clone() fails
    step = MatminerTransformer(ofm).fit([cscl])
    assert step.featurizer_ is not ofm
    assert step.transform([cscl, nacl]).shape == (2, 1024)


def test_a_matminer_failure_names_the_structure_and_keeps_the_rest(cscl, nacl, silicon):
    step = MatminerTransformer(SineCoulombMatrix()).fit([cscl])  # 2 columns: 2 sites at most
    with pytest.raises(FeaturizationError, match=r"structure 1 \(NaCl\): SineCoulombMatrix failed"):
        step.transform([cscl, nacl, cscl])
    try:
        step.transform([cscl, nacl, silicon, cscl])
    except FeaturizationError as error:
        assert error.indices == [1, 2]
        assert np.isfinite(error.features[[0, 3]]).all()
        assert np.isnan(error.features[[1, 2]]).all()
        assert pickle.loads(pickle.dumps(error)).indices == [1, 2]  # crosses joblib workers


def test_nan_features_raise_instead_of_becoming_silent_nan_rows(cscl):
    helium = Structure(Lattice.cubic(3.0), ["He", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    raw_magpie = StructureComposition(ElementProperty.from_preset("magpie", impute_nan=False))
    step = MatminerTransformer(raw_magpie).fit([cscl, helium])
    with pytest.raises(FeaturizationError, match=r"structure 1 \(NaHe\).*NaN or infinite"):
        step.transform([cscl, helium])


def test_unreadable_items_and_wrong_types_are_named(cscl):
    step = MatminerTransformer(DensityFeatures())
    with pytest.raises(InvalidStructureError, match="structure 1") as info:
        step.fit([cscl, 42, cscl])
    assert info.value.indices == [1]
    with pytest.raises(TypeError, match="sequence of structures"):
        step.fit(cscl)
    with pytest.raises(ValueError, match="no structures"):
        step.fit([])


def test_n_jobs_two_equals_one(structures):
    one = MatminerTransformer(DensityFeatures(), n_jobs=1).fit(structures[:80])
    two = clone(one).set_params(n_jobs=2).fit(structures[:80])
    np.testing.assert_array_equal(one.transform(structures[:80]), two.transform(structures[:80]))


def test_memory_caches_the_featurization_across_clones(structures, tmp_path):
    step = MatminerTransformer(CountingDensity(), memory=str(tmp_path)).fit(structures[:30])
    first = step.transform(structures[:30])
    calls = CountingDensity.calls[0]
    again = clone(step).fit(structures[:30]).transform(structures[:30])
    assert CountingDensity.calls[0] == calls  # read from the cache
    np.testing.assert_array_equal(first, again)
    step.transform(structures[30:40])  # other structures: computed
    assert CountingDensity.calls[0] == calls + 10


# ----------------------------------------------------------------- the pipelines
@pytest.mark.parametrize("make", [make_rf_scm_magpie, make_rf_magpie])
def test_baselines_clone_pickle_and_predict_the_same(make, structures, gap):
    model = make(n_estimators=5, n_jobs=1)
    params = clone(model).get_params()
    assert params["forest__n_estimators"] == 5
    model.fit(structures[:120], gap[:120])
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        model.predict(structures[120:]), restored.predict(structures[120:])
    )


def test_rf_scm_magpie_names_a_structure_larger_than_any_seen_in_fit(structures, gap):
    sizes = np.array([len(s) for s in structures])
    small = np.flatnonzero(sizes <= 10)
    large = int(np.argmax(sizes))
    X_small = [structures[i] for i in small]
    model = make_rf_scm_magpie(n_estimators=3).fit(X_small, gap[small])
    with pytest.raises(FeaturizationError, match=r"structure 1 \("):
        model.predict([structures[small[0]], structures[large]])
    # max_sites sets the columns up front: the larger structure is then featurized
    padded = make_rf_scm_magpie(max_sites=int(sizes.max()), n_estimators=3).fit(X_small, gap[small])
    assert padded.predict([structures[small[0]], structures[large]]).shape == (2,)
    scm = padded.named_steps["features"].transformer_list[0][1]
    assert scm.n_features_out_ == sizes.max()


# ------------------------------------------------------------------- compare
def test_compare_uses_identical_formula_group_folds_for_every_estimator(structures, gap):
    RecordingRegressor.seen.clear()
    groups = formula_groups(structures)
    table = compare(
        {"a": RecordingRegressor("a"), "b": RecordingRegressor("b"), "mean": make_dummy()},
        structures,
        gap,
        cv=GroupKFold(n_splits=4),
        groups=groups,
    )
    position = {id(s): i for i, s in enumerate(structures)}
    details = table.attrs["details"]
    folds = details.folds
    assert len(folds) == 4
    for label in ("a", "b"):
        runs = [(train, test) for lab, train, test in RecordingRegressor.seen if lab == label]
        assert len(runs) == 4
        for (train_ids, test_ids), (train, test) in zip(runs, folds, strict=True):
            np.testing.assert_array_equal([position[i] for i in train_ids], train)
            np.testing.assert_array_equal([position[i] for i in test_ids], test)
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])  # no formula on both sides
    # the table: one row per estimator, in order; paired predictions
    assert list(table.index) == ["a", "b", "mean"]
    np.testing.assert_array_equal(details.predictions["a"], details.predictions["mean"])
    expected = np.mean([np.abs(gap[test] - gap[train].mean()).mean() for train, test in folds])
    assert table.loc["mean", "mae_mean"] == pytest.approx(expected)
    assert set(table.columns) >= {"mae_std", "rmse_mean", "r2_mean", "fit_seconds", "n_folds"}
    assert "mean" in repr(pd.concat([table, table]))  # pandas can combine and print it


def test_compare_lstm_pipeline_and_baselines_and_plot(structures, gap, tmp_path):
    lstm = make_pipeline(
        NeighborListFeaturizer(),
        NeighborLSTMRegressor(max_epochs=3, atom_hidden=8, crystal_hidden=8, random_state=0),
    )
    estimators = {
        "lstm": lstm,
        "rf_scm_magpie": make_rf_scm_magpie(
            max_sites=max(len(s) for s in structures), n_estimators=10
        ),
        "rf_magpie": make_rf_magpie(n_estimators=10),
        "mean": make_dummy(),
    }
    table = compare(
        estimators, structures, gap, cv=GroupKFold(2), groups=formula_groups(structures), n_jobs=2
    )
    assert table["mae_mean"].notna().all() and (table["n_folds"] == 2).all()
    assert table.loc["rf_magpie", "mae_mean"] < table.loc["mean", "mae_mean"]
    per_fold = table.attrs["details"].per_fold
    assert len(per_fold) == 8
    path = tmp_path / "compare.png"
    plot_comparison(table, gap, path=path, target="band gap", unit="eV")
    assert path.stat().st_size > 10_000


def test_compare_reports_the_failing_estimator_and_fold(structures, gap):
    model = make_pipeline(MatminerTransformer(SineCoulombMatrix()), make_dummy())
    sizes = np.array([len(s) for s in structures])
    order = np.argsort(sizes)
    folds = [(order[:100], order[100:])]  # the test fold holds larger structures
    with pytest.raises(InvalidStructureError) as info:
        compare({"scm": model}, structures, gap, cv=folds)
    assert "estimator 'scm', fold 0" in "".join(info.value.__notes__)
    # named by their position in the structures given, not in the test fold
    fold_error = info.value.__cause__
    assert isinstance(fold_error, FeaturizationError)  # it keeps the fold's features
    assert info.value.indices == [int(order[100 + i]) for i in fold_error.indices]


def test_compare_rejects_bad_arguments(structures, gap):
    with pytest.raises(ValueError, match="empty"):
        compare({}, structures, gap)
    with pytest.raises(ValueError, match="unique"):
        compare([("m", make_dummy()), ("m", make_dummy())], structures, gap)
    with pytest.raises(TypeError, match="no fit/predict"):
        compare({"x": object()}, structures, gap)
    bad = gap.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match=r"indices \[7\]"):
        compare({"m": make_dummy()}, structures, bad)
    with pytest.raises(ValueError, match="200 structures but y has 199"):
        compare({"m": make_dummy()}, structures, gap[:-1])
    # one MAE over eV and eV/atom would mean nothing
    with pytest.raises(ValueError, match="y has 2 columns, but only one target is scored"):
        compare({"m": make_dummy()}, structures, np.column_stack([gap, gap]))
    with pytest.raises(ValueError, match=r"y must hold numbers; .*entry 2: 'n/a'"):
        compare({"m": make_dummy()}, structures[:3], [0.5, 1.0, "n/a"])


# ------------------------------------------------------------------ the command
def test_command_compares_on_a_users_csv_of_cifs_and_paths(structures, gap, tmp_path, capsys):
    cifs = [s.to(fmt="cif") for s in structures[:60]]
    (tmp_path / "first.cif").write_text(cifs[0])
    cifs[0] = "first.cif"  # a path relative to the CSV
    pd.DataFrame({"cif": cifs, "gap": gap[:60]}).to_csv(tmp_path / "mine.csv", index=False)
    out = tmp_path / "out"
    argv = [str(tmp_path / "mine.csv"), "--target", "gap", "--folds", "3", "--n-estimators", "5"]
    argv += ["--estimators", "rf_scm_magpie", "mean", "--output-dir", str(out)]
    assert compare_command(argv) == 0
    printed = capsys.readouterr().out
    assert "60 structures" in printed and "rf_scm_magpie" in printed
    assert "r2_mean" in printed and "constant" in printed  # every column is printed
    assert "note: mean predicts about one value per fold" in printed
    assert "note: rf_scm_magpie" not in printed
    table = pd.read_csv(out / "comparison.csv", index_col=0)
    assert list(table.index) == ["rf_scm_magpie", "mean"]
    assert table["constant"].tolist() == [False, True]
    spread = table["prediction_spread"]
    assert spread["mean"] < 0.01 < spread["rf_scm_magpie"]
    assert (out / "comparison.png").is_file()
    assert compare_command([str(tmp_path / "mine.csv"), "--target", "band_gap"]) == 2
    assert "no column 'band_gap'" in capsys.readouterr().err


def test_building_cloning_and_featurizing_magpie_prints_no_warning(nacl):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        model = make_rf_magpie(n_estimators=2)
        clone(clone(model)).fit([nacl, nacl], [1.0, 2.0]).predict([nacl])


def test_command_refuses_a_shipped_model_of_another_quantity(structures, gap, tmp_path, capsys):
    from sklearn_bandgap.cli import main

    cifs = [s.to(fmt="cif") for s in structures[:30]]
    pd.DataFrame({"cif": cifs, "heat_ref": gap[:30]}).to_csv(tmp_path / "t.csv", index=False)
    argv = ["compare", str(tmp_path / "t.csv"), "--target", "heat_ref", "--folds", "2"]
    argv += ["--estimators", "mean", "--output-dir", str(tmp_path / "out")]
    assert main([*argv, "--pretrained", "formation_energy_mp2018"]) == 2
    err = capsys.readouterr().err
    assert "predicts formation_energy_per_atom in eV/atom" in err and "--same-quantity" in err
    assert not (tmp_path / "out").exists()
    assert main([*argv, "--pretrained", "band_gap_mp2018", "--same-quantity"]) == 0
    assert "band_gap_mp2018 predicts band_gap (eV)" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "out" / "comparison.csv", index_col=0)
    assert list(table.index) == ["mean", "pretrained:band_gap_mp2018"]
