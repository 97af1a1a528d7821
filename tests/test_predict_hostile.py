"""``sklearn-bandgap predict`` on hostile inputs: no input costs the others, no run loses work.

Every per-structure failure goes to that structure's ``error`` cell; usage and
output errors are one line with exit status 2 before any work; the output file
is replaced only when complete, and Ctrl-C leaves the previous one intact.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_bandgap.cli import main
from sklearn_bandgap.screening._chunks import predict_chunk
from sklearn_bandgap.screening._sources import Item, iter_items

EXAMPLES = Path(__file__).parents[1] / "sklearn_bandgap" / "pretrained" / "examples"
COMMAND = str(Path(sys.executable).with_name("sklearn-bandgap"))
SI = (EXAMPLES / "Si_diamond.cif").read_text()
MGO = (EXAMPLES / "MgO_rocksalt.cif").read_text()


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _duplicate_atom_cif() -> str:
    """Si with its last atom written twice: two sites on the same spot."""
    return SI.rstrip("\n") + "\n" + SI.rstrip("\n").splitlines()[-1] + "\n"


@pytest.fixture
def good_and_bad(tmp_path):
    for path in EXAMPLES.glob("*.cif"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "dup.cif").write_text(_duplicate_atom_cif())
    return tmp_path


@pytest.mark.parametrize("chunk_size", ["3", "512"])
def test_coinciding_atoms_cost_only_their_own_row(good_and_bad, capsys, chunk_size):
    status = main(["predict", str(good_and_bad), "--chunk-size", chunk_size])
    captured = capsys.readouterr()
    rows = {Path(r["id"]).name: r for r in _rows(captured.out)}
    assert status == 1
    assert "coincide" in rows["dup.cif"]["error"] and rows["dup.cif"]["band_gap"] == ""
    good = [r for name, r in rows.items() if name != "dup.cif"]
    assert len(good) == len(list(EXAMPLES.glob("*.cif")))
    assert all(r["error"] == "" and float(r["band_gap"]) >= 0 for r in good)
    assert "Traceback" not in captured.err


class _FailsOn:
    """A stand-in model whose predict fails whenever a given formula is in the batch."""

    def __init__(self, formula):
        self.formula = formula

    def __len__(self):
        return 1

    def __getitem__(self, key):
        return self

    def predict(self, structures):
        formulas = [s.composition.reduced_formula for s in structures]
        if self.formula in formulas:
            raise RuntimeError(f"cannot handle {self.formula}")
        return np.arange(len(structures), dtype=float)


def test_an_unplaced_failure_is_isolated_structure_by_structure(nacl):
    from pymatgen.core import Structure

    from sklearn_bandgap.screening._chunks import _predict_isolating_failures

    si, mgo = Structure.from_str(SI, fmt="cif"), Structure.from_str(MGO, fmt="cif")
    values, failed, flagged = _predict_isolating_failures(_FailsOn("MgO"), [si, mgo, nacl], 1, 1)
    assert set(failed) == {1} and "cannot handle MgO" in failed[1]
    assert np.isnan(values[1, 0]) and values[0, 0] == 0 and values[2, 0] == 0
    assert flagged == {}


def test_symbolic_link_loops_and_broken_links_are_named(tmp_path, capsys):
    (tmp_path / "Si.cif").write_text(SI)
    os.symlink("self.cif", tmp_path / "self.cif")  # loops
    os.symlink("missing", tmp_path / "gone.cif")  # broken
    os.mkdir(tmp_path / "sub")
    os.symlink("..", tmp_path / "sub" / "up")  # a folder loop, for --recursive
    for extra in ([], ["--recursive"]):
        status = main(["predict", str(tmp_path), *extra])
        captured = capsys.readouterr()
        rows = {Path(r["id"]).name: r for r in _rows(captured.out)}
        assert status == 1, extra
        assert rows["Si.cif"]["error"] == ""
        assert rows["self.cif"]["error"] and rows["gone.cif"]["error"], extra
        assert "Traceback" not in captured.err
    status = main(["predict", str(tmp_path / "**" / "*.cif"), "--recursive"])
    ids = [r["id"] for r in _rows(capsys.readouterr().out)]
    assert sum(i.endswith("Si.cif") for i in ids) == 1  # reached once, not through sub/up


def test_several_data_blocks_give_one_row_each(tmp_path, capsys):
    broken = "data_broken\n_cell_length_a 5.0\nnot a CIF at all\n"
    (tmp_path / "three.cif").write_text(SI + "\n" + broken + "\n" + MGO)
    assert main(["predict", str(tmp_path / "three.cif")]) == 1
    rows = _rows(capsys.readouterr().out)
    names = [r["id"].rsplit("/", 1)[-1] for r in rows]
    assert names == ["three.cif#1", "three.cif#2", "three.cif#3"]
    assert [r["formula"] for r in rows] == ["Si", "", "MgO"]
    assert rows[1]["error"].startswith("cannot read") and rows[0]["error"] == rows[2]["error"] == ""


def test_an_estimator_refuses_a_file_of_several_structures(tmp_path):
    from sklearn_bandgap.featurizers import NeighborListFeaturizer

    path = tmp_path / "two.cif"
    path.write_text(SI + "\n" + MGO)
    with pytest.raises(ValueError, match=r"2 data blocks|2 structures"):
        NeighborListFeaturizer().transform([str(path)])
    with pytest.raises(ValueError, match="2 data blocks"):
        NeighborListFeaturizer().transform([SI + "\n" + MGO])


def test_compressed_ase_and_standard_input(tmp_path, capsys, monkeypatch):
    from ase.build import bulk
    from ase.io import write

    (tmp_path / "Si.cif.gz").write_bytes(gzip.compress(SI.encode()))
    (tmp_path / "MgO.cif.bz2").write_bytes(bz2.compress(MGO.encode()))
    write(str(tmp_path / "frames.extxyz"), [bulk("Cu", "fcc", a=3.6), bulk("Si", a=5.43)])
    (tmp_path / "my_struct").write_text(MGO)  # no telling name: skipped, and counted
    (tmp_path / "bad.cif.gz").write_bytes(b"not gzip at all")
    assert main(["predict", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    rows = {Path(r["id"]).name: r for r in _rows(captured.out)}
    assert rows["Si.cif.gz"]["formula"] == "Si" and rows["MgO.cif.bz2"]["formula"] == "MgO"
    assert [rows[f"frames.extxyz#{k}"]["formula"] for k in (1, 2)] == ["Cu", "Si"]
    assert "not a valid .gz file" in rows["bad.cif.gz"]["error"]
    assert "my_struct" not in rows and "Skipped 1 file(s)" in captured.err
    assert main(["predict", str(tmp_path / "my_struct")]) == 0  # named: read by content
    assert _rows(capsys.readouterr().out)[0]["formula"] == "MgO"
    monkeypatch.setattr(sys, "stdin", io.StringIO(SI))
    assert main(["predict", "-"]) == 0
    (row,) = _rows(capsys.readouterr().out)
    assert row["id"] == "-" and row["formula"] == "Si"


def test_a_molecule_in_extended_xyz_is_refused_by_name(tmp_path, capsys):
    from ase.build import molecule
    from ase.io import write

    write(str(tmp_path / "water.extxyz"), molecule("H2O"))
    assert main(["predict", str(tmp_path / "water.extxyz")]) == 1
    (row,) = _rows(capsys.readouterr().out)
    assert "not a periodic crystal" in row["error"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-o", "{tmp}/no/such/folder/out.csv"], "does not exist"),
        (["-o", "{tmp}"], "is a folder"),
        (["--n-jobs", "0"], "--n-jobs 0"),
        (["--chunk-size", "0"], "--chunk-size 0"),
        (["--model", "no_such_model"], "neither a shipped model"),
    ],
)
def test_usage_and_output_errors_are_one_line_and_exit_2(tmp_path, arguments, message):
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    result = subprocess.run(
        [COMMAND, "predict", str(EXAMPLES / "Si_diamond.cif"), *arguments],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_no_inputs_is_a_usage_error_but_list_models_needs_none(capsys):
    assert main(["predict"]) == 2
    assert "no inputs" in capsys.readouterr().err
    assert main(["predict", "--list-models"]) == 0
    assert "band_gap_mp2018" in capsys.readouterr().out


def test_a_model_named_twice_is_applied_once(capsys):
    argv = ["predict", str(EXAMPLES / "MgO_rocksalt.cif"), "--model", "formation_energy_mp2018"]
    assert main([*argv, "--formation-energy"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert header == [
        "id",
        "formula",
        "formation_energy_per_atom",
        "formation_energy_per_atom_std",
        "formation_energy_per_atom_low_68",
        "formation_energy_per_atom_high_68",
        "formation_energy_per_atom_low_90",
        "formation_energy_per_atom_high_90",
        "warning",
        "error",
    ]


def test_the_output_appears_only_when_complete(tmp_path, capsys):
    out = tmp_path / "keep.csv"
    out.write_text("previous results\n")
    (tmp_path / "bad.cif").write_text("data_x\n")
    assert main(["predict", str(tmp_path / "bad.cif"), "-o", str(out)]) == 1
    assert _rows(out.read_text())[0]["error"]  # replaced, since the run completed
    assert {p.name for p in tmp_path.iterdir()} == {"keep.csv", "bad.cif"}  # no leftovers


def test_ctrl_c_leaves_the_previous_output_intact(tmp_path):
    inputs = tmp_path / "many"
    inputs.mkdir()
    for k in range(4000):
        (inputs / f"s{k:05d}.cif").write_text(SI if k % 2 else MGO)
    out = tmp_path / "keep.csv"
    out.write_text("previous results\n")
    process = subprocess.Popen(
        [COMMAND, "predict", str(inputs), "-o", str(out), "--chunk-size", "64"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as in a terminal: a test run started in the background of a
        # non-interactive shell inherits SIGINT ignored, and Python keeps it so
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".keep.csv.*.partial")):  # rows are being written
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert out.read_text() == "previous results\n"
    assert not list(tmp_path.glob(".keep.csv.*"))  # the partial file is gone
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_predict_chunk_of_nothing_but_bad_items_writes_rows_for_each():
    header, rows = predict_chunk([], [Item("a", error="no such file"), Item("b", "x", "text")])
    assert header == ["id", "formula", "warning", "error"]
    assert [r[0] for r in rows] == ["a", "b"] and all(r[-1] for r in rows)


def test_iter_items_counts_the_skipped_files(tmp_path):
    (tmp_path / "a.cif").write_text(SI)
    (tmp_path / "README").write_text("hello")
    (tmp_path / ".hidden").write_text("x")
    skipped: list[str] = []
    items = list(iter_items([str(tmp_path)], skipped=skipped))
    assert [Path(i.id).name for i in items] == ["a.cif"]
    assert [Path(p).name for p in skipped] == ["README"]


def test_a_saved_models_outputs_are_named_from_its_metadata_or_numbered(mp_sample, tmp_path):
    """Multi-output files predict (no exit 1, no 0-byte file); unnamed outputs are numbered."""
    from sklearn.pipeline import make_pipeline

    from sklearn_bandgap.featurizers import NeighborListFeaturizer
    from sklearn_bandgap.io import save
    from sklearn_bandgap.models import NeighborLSTMRegressor

    small = dict(max_epochs=1, atom_hidden=8, crystal_hidden=8, head_hidden=8, random_state=0)
    two = make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor(**small)).fit(
        mp_sample.data[:40], mp_sample.target[:40]
    )
    one = make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor(**small)).fit(
        mp_sample.data[:40], mp_sample.target[:40, 1]
    )
    named = [{"name": "gap", "unit": "eV"}, {"name": "e_form", "unit": "eV/atom"}]
    files = {
        "two_unnamed": (save(two, tmp_path / "two.safetensors"), ["output_0", "output_1"]),
        "one_unnamed": (save(one, tmp_path / "my_model.safetensors"), ["output_0"]),
        "two_named": (
            save(two, tmp_path / "named.safetensors", metadata={"outputs": named}),
            ["gap", "e_form"],
        ),
    }
    for name, (path, columns) in files.items():
        out = tmp_path / f"{name}.csv"
        argv = ["predict", str(EXAMPLES / "MgO_rocksalt.cif"), "--model", str(path), "-o", str(out)]
        assert main(argv) == 0, name
        table = pd.read_csv(out, keep_default_na=False)
        assert list(table.columns) == ["id", "formula", *columns, "warning", "error"], name
        assert np.isfinite(table[columns].to_numpy(dtype=float)).all()


def test_rows_are_the_same_with_and_without_the_fast_cif_path(good_and_bad, monkeypatch):
    from sklearn_bandgap.screening import _chunks

    items = [Item(p.name, str(p)) for p in sorted(good_and_bad.iterdir())]
    items.append(Item("text", SI, "text"))
    spec = [_chunks.resolve_model("band_gap_mp2018")]
    fast = predict_chunk(spec, items)
    monkeypatch.setattr(_chunks, "_reads_arrays", lambda model: False)
    assert predict_chunk(spec, items) == fast
    assert any(row[-1].startswith("invalid") for row in fast[1])  # dup.cif: named


def test_the_output_file_gets_the_mode_of_a_new_file_not_the_temporary_one(tmp_path, capsys):
    (tmp_path / "si.cif").write_text(SI)
    out = tmp_path / "out.csv"
    mask = os.umask(0o027)
    try:
        assert main(["predict", str(tmp_path / "si.cif"), "-o", str(out)]) == 0
    finally:
        os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o640  # 0666 less the umask, not mkstemp's 0600
