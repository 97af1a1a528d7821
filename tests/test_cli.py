"""The ``sklearn-bandgap`` command: help, version, predict (files, folders, tables), train."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar

from sklearn_bandgap.cli import main
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.pretrained import load_pretrained

EXAMPLES = Path(__file__).parents[1] / "sklearn_bandgap" / "pretrained" / "examples"
COMMAND = str(Path(sys.executable).with_name("sklearn-bandgap"))


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def folder(tmp_path, nacl):
    """Good CIFs, a POSCAR under a name that says nothing, a broken CIF and a Molecule-like file."""
    for path in EXAMPLES.glob("*.cif"):
        shutil.copy(path, tmp_path / path.name)
    Poscar(nacl).write_file(str(tmp_path / "CONTCAR"))
    (tmp_path / "broken.cif").write_text("data_broken\n_cell_length_a 5.0\nthis is not a CIF\n")
    (tmp_path / "notes.txt").write_text("not a structure, and not picked up from the folder")
    return tmp_path


def test_help_and_version_do_not_import_the_heavy_libraries():
    code = (
        "import sys\n"
        "from sklearn_bandgap.cli import main\n"
        "for argv in (['--help'], ['predict', '--help'], ['--version']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0, exit.code\n"
        "heavy = [m for m in ('torch', 'pymatgen', 'sklearn', 'skorch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    out = subprocess.run([COMMAND, "--version"], check=True, capture_output=True, text=True)
    assert out.stdout.startswith("sklearn_bandgap ")
    out = subprocess.run([COMMAND, "--help"], check=True, capture_output=True, text=True).stdout
    for command in ("predict", "demo", "train", "compare", "tune", "translate"):
        assert command in out


def test_python_dash_m_entry_points_agree_with_the_command():
    for module in ("sklearn_bandgap", "sklearn_bandgap.baselines", "sklearn_bandgap.tuning"):
        result = subprocess.run(
            [sys.executable, "-m", module, "--help"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr


def test_predict_a_folder_names_the_bad_file_and_predicts_the_others(folder, capsys):
    status = main(["predict", str(folder), "--formation-energy"])
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    assert status == 1  # some input failed
    by_id = {Path(row["id"]).name: row for row in rows}
    assert set(by_id) == {p.name for p in EXAMPLES.glob("*.cif")} | {"CONTCAR", "broken.cif"}
    assert by_id["broken.cif"]["error"].startswith("cannot read")
    assert by_id["broken.cif"]["band_gap"] == ""
    good = [row for name, row in by_id.items() if name != "broken.cif"]
    assert all(row["error"] == "" for row in good)
    gaps = np.array([float(row["band_gap"]) for row in good])
    assert np.isfinite(gaps).all() and (gaps >= 0).all()
    assert np.isfinite([float(row["formation_energy_per_atom"]) for row in good]).all()
    assert by_id["CONTCAR"]["formula"] == "NaCl"
    assert "broken.cif" in captured.err and "1 failed" in captured.err


def test_predictions_equal_the_pipeline_and_n_jobs_does_not_change_them(folder, tmp_path):
    out1, out2 = tmp_path / "one.csv", tmp_path / "two.csv"
    assert main(["predict", str(folder), "-o", str(out1), "--chunk-size", "3"]) == 1
    assert main(["predict", str(folder), "-o", str(out2), "--n-jobs", "2"]) == 1
    one, two = pd.read_csv(out1), pd.read_csv(out2)
    # other chunks batch the crystals differently: float sums agree to ~1e-7,
    # which can flip the 6th decimal written to the CSV
    pd.testing.assert_frame_equal(one, two, check_exact=False, atol=1.5e-6, rtol=0)
    files = sorted(EXAMPLES.glob("*.cif"))
    expected, spread = load_pretrained("band_gap_mp2018").predict(
        [str(p) for p in files], return_std=True
    )
    got = one.set_index(one["id"].map(lambda i: Path(i).name)).loc[[p.name for p in files]]
    np.testing.assert_allclose(got["band_gap"], expected, atol=1.5e-6)  # written with 6 decimals
    # the shipped model is a conformal seed ensemble: the members' spread comes beside
    # the mean, then its calibrated 68 % and 90 % intervals
    assert list(one.columns) == [
        "id",
        "formula",
        "band_gap",
        "band_gap_std",
        "band_gap_low_68",
        "band_gap_high_68",
        "band_gap_low_90",
        "band_gap_high_90",
        "warning",
        "error",
    ]
    np.testing.assert_allclose(got["band_gap_std"], spread, atol=1.5e-6)
    assert (spread > 0).all()
    _, intervals = load_pretrained("band_gap_mp2018")[-1].predict_interval(
        NeighborListFeaturizer().transform([str(p) for p in files])
    )
    np.testing.assert_allclose(got["band_gap_low_68"], intervals[:, 0, 0], atol=1.5e-6)
    np.testing.assert_allclose(got["band_gap_high_90"], intervals[:, 1, 1], atol=1.5e-6)
    assert (got["band_gap_low_90"] <= got["band_gap_low_68"]).all()
    assert (got["band_gap_low_68"] <= got["band_gap"]).all()
    assert (got["band_gap"] <= got["band_gap_high_68"]).all()


@pytest.mark.parametrize("name", ["my_crystal", "ZnO.vasp", "POSCAR_relaxed"])
def test_poscar_with_any_file_name(tmp_path, name, capsys):
    shutil.copy(EXAMPLES / "ZnO_wurtzite.vasp", tmp_path / name)
    assert main(["predict", str(tmp_path / name)]) == 0
    (row,) = _rows(capsys.readouterr().out)
    assert row["formula"] == "ZnO" and row["error"] == ""


def test_glob_patterns_and_missing_inputs(folder, capsys):
    assert main(["predict", str(folder / "*_rocksalt.cif"), str(folder / "nothing*.cif")]) == 1
    rows = _rows(capsys.readouterr().out)
    assert sorted(Path(r["id"]).name for r in rows[:-1]) == [
        "MgO_rocksalt.cif",
        "NaCl_rocksalt.cif",
    ]
    assert rows[-1]["error"] == "cannot read: no file matches this pattern"
    assert main(["predict", str(folder / "absent.cif")]) == 1
    assert "no such file or folder" in capsys.readouterr().out


def test_tables_with_text_paths_and_structure_dicts(tmp_path, nacl, cscl, capsys):
    table = pd.DataFrame(
        {
            "material_id": ["a", "b", "c", "d"],
            "structure": [
                str(CifWriter(nacl)),
                str(Poscar(cscl)),
                str(EXAMPLES / "Si_diamond.cif"),
                "no/such/file.cif",
            ],
        }
    )
    table.to_csv(tmp_path / "table.csv", index=False)
    records = [{"name": "nacl", "cif": nacl.as_dict()}, {"name": "cscl", "cif": cscl.as_dict()}]
    (tmp_path / "table.json").write_text(json.dumps(records))
    (tmp_path / "one.json").write_text(json.dumps(nacl.as_dict()))
    inputs = [str(tmp_path / n) for n in ("table.csv", "table.json", "one.json")]
    assert main(["predict", *inputs]) == 1
    rows = _rows(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["a", "b", "c", "d", "nacl", "cscl", inputs[2]]
    assert [r["formula"] for r in rows] == ["NaCl", "CsCl", "Si", "", "NaCl", "CsCl", "NaCl"]
    assert "no such file" in rows[3]["error"]
    assert rows[0]["band_gap"] == rows[4]["band_gap"] == rows[6]["band_gap"]


def test_a_table_without_a_structure_column_is_one_named_failure(tmp_path, capsys):
    pd.DataFrame({"x": [1, 2]}).to_csv(tmp_path / "t.csv", index=False)
    assert main(["predict", str(tmp_path / "t.csv")]) == 1
    (row,) = _rows(capsys.readouterr().out)
    assert "no structure column among ['x']" in row["error"]


def test_invalid_crystals_are_named(tmp_path, nacl, capsys):
    broken = nacl.copy()
    broken.replace(0, {"Na": 0.5, "K": 0.5})
    (tmp_path / "disordered.cif").write_text(str(CifWriter(broken)))
    assert main(["predict", str(tmp_path / "disordered.cif")]) == 1
    (row,) = _rows(capsys.readouterr().out)
    assert row["error"].startswith("invalid: is disordered")


def test_list_models_and_unknown_model(capsys):
    assert main(["predict", "x", "--list-models"]) == 0
    out = capsys.readouterr().out
    assert "band_gap_mp2018" in out and "formation_energy_mp2018" in out
    assert main(["predict", "x.cif", "--model", "no_such_model"]) == 2
    assert "neither a shipped model" in capsys.readouterr().err


def test_console_script_exit_status_and_stderr(folder):
    result = subprocess.run(
        [COMMAND, "predict", str(folder / "broken.cif"), str(folder / "Cu_fcc.cif")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "1 of 2 structures predicted" in result.stderr and "broken.cif" in result.stderr
    assert len(_rows(result.stdout)) == 2


def test_train_save_then_predict_with_the_saved_model(tmp_path, capsys):
    model_path = tmp_path / "mine.safetensors"
    argv = ["train", "--subset", "sample200", "--max-epochs", "1", "--save", str(model_path)]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 0
    assert f"Saved the model to {model_path}" in capsys.readouterr().out
    assert main(["predict", str(EXAMPLES / "Cu_fcc.cif"), "--model", str(model_path)]) == 0
    (row,) = _rows(capsys.readouterr().out)
    assert set(row) == {
        "id",
        "formula",
        "band_gap",
        "formation_energy_per_atom",
        "warning",
        "error",
    }
    assert float(row["band_gap"]) >= 0


def test_translate_with_a_saved_translator(tmp_path, nrel_sample):
    from sklearn_bandgap.io import save
    from sklearn_bandgap.translation import RelaxationTranslator

    translator = RelaxationTranslator(hidden=8, n_layers=1, max_epochs=1, random_state=0)
    translator.fit(nrel_sample.unrelaxed[:30], relaxed=nrel_sample.relaxed[:30])
    save(translator, tmp_path / "translator.safetensors")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for k, structure in enumerate(nrel_sample.unrelaxed[30:33]):
        structure.to(filename=str(inputs / f"s{k}.cif"))
    out = tmp_path / "out"
    argv = ["translate", str(inputs), "--model", str(tmp_path / "translator.safetensors")]
    assert main([*argv, "--output-dir", str(out)]) == 0
    report = pd.read_csv(out / "translated.csv")
    assert len(report) == 3 and report["error"].isna().all()
    assert all((out / name).is_file() for name in report["file"])
    assert main(["translate", str(inputs)]) == 2  # neither --model nor --train


def test_a_structure_outside_the_training_domain_is_predicted_with_a_warning(tmp_path, capsys):
    from pymatgen.core import Lattice, Structure

    argon = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.26), ["Ar"], [[0, 0, 0]])
    argon.to(filename=str(tmp_path / "Ar_fcc.cif"))  # no Ar among the training structures
    shutil.copy(EXAMPLES / "Cu_fcc.cif", tmp_path / "Cu_fcc.cif")
    assert main(["predict", str(tmp_path)]) == 0  # a warning is not a failure
    rows = {Path(row["id"]).name: row for row in _rows(capsys.readouterr().out)}
    assert "holds Ar, unseen in fit" in rows["Ar_fcc.cif"]["warning"]
    assert rows["Ar_fcc.cif"]["band_gap"] != "" and rows["Ar_fcc.cif"]["error"] == ""
    assert rows["Cu_fcc.cif"]["warning"] == ""


def test_demo_uncertainty_measures_coverage_on_unseen_formulas():
    from sklearn.linear_model import LinearRegression

    from sklearn_bandgap.cli._demo import _uncertainty

    rng = np.random.RandomState(0)
    X = rng.uniform(size=(2000, 1))
    noise = rng.uniform(0.05, 0.5, size=2000)  # the "spread" is the true noise scale
    y = 3.0 * X[:, 0] + rng.normal(scale=noise)
    model = LinearRegression().fit(X, y)
    y_pred = model.predict(X)
    formulas = np.array([f"A{k // 2}" for k in range(2000)])  # polymorph pairs
    figures = _uncertainty(model, X, y, y_pred, noise, formulas, gap=False)
    conformal = figures["conformal"]
    assert conformal["n_conformalize"] + conformal["n_measured"] == 2000
    assert conformal["n_conformalize"] % 2 == 0  # whole formulas on one side
    np.testing.assert_allclose(conformal["coverage"], [0.68, 0.9], atol=0.04)
    assert figures["spearman_spread_vs_abs_error"] > 0.2


def test_every_option_of_every_command_says_its_default_in_help(capsys):
    import argparse

    from sklearn_bandgap.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in commands.choices.items():
        for action in command._actions:
            valued = action.nargs != 0 and action.default is not argparse.SUPPRESS
            if action.option_strings and valued:
                assert action.help, f"{name} {action.option_strings[0]} has no help"
        with pytest.raises(SystemExit):
            main([name, "--help"])
        shown = " ".join(capsys.readouterr().out.split())
        for action in command._actions:
            if action.option_strings and action.nargs != 0 and action.help:
                if action.default not in (None, argparse.SUPPRESS) and not action.required:
                    assert f"(default: {action.default}" in shown, (name, action.dest)


def test_compare_reports_each_estimator_and_fold_as_it_goes(capsys):
    from sklearn_bandgap.baselines import compare, make_dummy

    X = np.arange(40.0).reshape(-1, 1)
    y = np.arange(40.0)
    compare({"mean": make_dummy()}, X, y, cv=2, verbose=1)
    err = capsys.readouterr().err
    assert "compare: mean, fold 1/2: fitting on 20 rows" in err
    assert "compare: mean, fold 2/2: mae" in err
