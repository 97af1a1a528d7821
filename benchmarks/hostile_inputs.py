"""``sklearn-bandgap predict`` on a folder of good files with one of every bad kind mixed in.

3,000 CIFs of the project's test split (MP set; formula split seed 0), and
among them one file of each kind the predict command must survive (issue 27):
two atoms on one spot, a symbolic link that loops, a broken link, a CIF of
two data blocks (one good, one broken), text that is no structure, an empty
file, a truncated CIF, a corrupt ``.gz``, binary junk under a ``.cif`` name, a
molecule in extended XYZ, a disordered (partially occupied) site, a cell of
zero volume, plus a compressed good CIF and a two-frame extended-XYZ file.
``predict --n-jobs 2`` runs once on the folder (and once on the good files
alone, for the rate without them). Checked: every good structure predicted
with no error, every bad one on its own row with a reason, exit status 1, and
the rate against the 530 structures/s goal; with ``--baseline-commit``, the
median of interleaved timings of that commit and this one on the good files.

Writes ``benchmarks/results/hostile_inputs/<run>/record.json``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pandas as pd
from _machine import cpu_model, git_commit, write_record

from sklearn_bandgap.datasets import find_data_file, load_mp_gap_eform
from sklearn_bandgap.model_selection import formula_group_split

RESULTS = Path(__file__).parent / "results" / "hostile_inputs"
COMMAND = [str(Path(sys.executable).with_name("sklearn-bandgap")), "predict"]
EXAMPLES = Path(__file__).parents[1] / "sklearn_bandgap" / "pretrained" / "examples"


def write_bad_files(folder: Path) -> dict[str, str]:
    """One file of every bad kind; returns file name -> the kind."""
    si = (EXAMPLES / "Si_diamond.cif").read_text()
    mgo = (EXAMPLES / "MgO_rocksalt.cif").read_text()
    lines = si.rstrip("\n").splitlines()
    bad = {
        "zz_coinciding_atoms.cif": ("\n".join([*lines, lines[-1]]) + "\n", "two atoms on one spot"),
        "zz_not_a_structure.cif": ("hello, I am not a crystal\n", "text that is no structure"),
        "zz_empty.cif": ("", "an empty file"),
        "zz_truncated.cif": (si[: len(si) // 2], "a truncated CIF"),
        "zz_two_blocks.cif": (
            mgo + "\ndata_broken\n_cell_length_a 5\n",
            "two data blocks, the second broken",
        ),
        "zz_disordered.cif": (
            "\n".join([*lines[:-1], lines[-1].rsplit(" ", 1)[0] + " 0.5"]) + "\n",
            "a partially occupied site",
        ),
        "zz_flat_cell.vasp": (
            "flat\n1.0\n1 0 0\n0 1 0\n0 0 0\nSi\n1\ndirect\n0 0 0\n",
            "a cell of zero volume",
        ),
    }
    kinds = {}
    for name, (text, kind) in bad.items():
        (folder / name).write_text(text)
        kinds[name] = kind
    (folder / "zz_corrupt.cif.gz").write_bytes(b"\x1f\x8b not really gzip")
    kinds["zz_corrupt.cif.gz"] = "a corrupt .gz"
    (folder / "zz_binary.cif").write_bytes(os.urandom(4096))
    kinds["zz_binary.cif"] = "binary junk"
    (folder / "zz_water.extxyz").write_text(
        '3\nProperties=species:S:1:pos:R:3 pbc="F F F"\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n'
    )
    kinds["zz_water.extxyz"] = "a molecule (not periodic)"
    os.symlink("zz_loop.cif", folder / "zz_loop.cif")
    kinds["zz_loop.cif"] = "a symbolic link that loops"
    os.symlink("nowhere.cif", folder / "zz_broken_link.cif")
    kinds["zz_broken_link.cif"] = "a broken symbolic link"
    return kinds


def write_good_extras(folder: Path) -> dict[str, int]:
    """Good structures in other forms: file name -> structures it holds."""
    from ase.build import bulk
    from ase.io import write

    (folder / "zy_nacl.cif.gz").write_bytes(
        gzip.compress((EXAMPLES / "NaCl_rocksalt.cif").read_bytes())
    )
    write(str(folder / "zy_frames.extxyz"), [bulk("Cu", "fcc", a=3.6), bulk("Si", a=5.43)])
    return {"zy_nacl.cif.gz": 1, "zy_frames.extxyz": 2}


def run(folder: Path, source: Path | None = None) -> tuple[int, float, list[dict[str, str]], str]:
    """``predict`` on ``folder``; with ``source``, the package of that source tree instead."""
    command, env = COMMAND, None
    if source is not None:  # another version's code (and its shipped models), same machine
        command = [sys.executable, "-m", "sklearn_bandgap", "predict"]
        env = {**os.environ, "PYTHONPATH": str(source)}
    start = time.perf_counter()
    result = subprocess.run(
        [*command, str(folder), "--n-jobs", "2", "-o", "-"],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    return (
        result.returncode,
        seconds,
        list(csv.DictReader(io.StringIO(result.stdout))),
        result.stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-good", type=int, default=3000)
    parser.add_argument("--run", default=None)
    parser.add_argument(
        "--baseline-commit",
        default=None,
        help="also time this commit's predict on the good files in the same run (the "
        "machine's speed varies from day to day; a ratio in one run does not)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved timings of each commit (medians)"
    )
    args = parser.parse_args()

    data = load_mp_gap_eform(progress=False)
    _, test = formula_group_split(data.formula)
    cifs = pd.read_csv(find_data_file("mp_gap_eform/mp_gap_eform.csv.gz"), usecols=["cif"])["cif"]
    with tempfile.TemporaryDirectory() as tmp:
        good_only = Path(tmp) / "good"
        mixed = Path(tmp) / "mixed"
        good_only.mkdir()
        mixed.mkdir()
        for i in test[: args.n_good]:
            for folder in (good_only, mixed):
                (folder / f"{data.material_id[i]}.cif").write_text(cifs.iloc[i])
        kinds = write_bad_files(mixed)
        extras = write_good_extras(mixed)
        status_good, seconds_good, rows_good, _ = run(good_only)
        status, seconds, rows, stderr = run(mixed)
        baseline = None
        if args.baseline_commit:
            tree = Path(tmp) / "baseline"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(tree), args.baseline_commit],
                check=True,
                capture_output=True,
            )
            b_times, again_times = [], []
            try:
                for _ in range(args.repeats):  # interleaved, so that both see the same load
                    b_status, b_seconds, b_rows, b_err = run(good_only, source=tree)
                    _, again_seconds, again_rows, _ = run(good_only)
                    b_times.append(b_seconds)
                    again_times.append(again_seconds)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=True)
            baseline = {
                "commit": args.baseline_commit,
                "rows": len(b_rows),
                "exit_status": b_status,
                "repeats": args.repeats,
                "seconds": [round(t, 2) for t in b_times],
                "this_commit_again_seconds": [round(t, 2) for t in again_times],
                "structures_per_second": round(len(b_rows) / statistics.median(b_times), 1),
                "this_commit_again_structures_per_second": round(
                    len(again_rows) / statistics.median(again_times), 1
                ),
                "stderr_tail": b_err.strip().splitlines()[-1:],
            }

    by_file: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        name = Path(row["id"].split("#")[0]).name
        by_file.setdefault(name, []).append(row)
    bad_report = {}
    for name, kind in kinds.items():
        found = by_file.get(name, [])
        bad_report[name] = {
            "kind": kind,
            "rows": len(found),
            "errors": [r["error"] for r in found],
        }
    good_names = [n for n in by_file if n not in kinds]
    good_rows = [r for n in good_names for r in by_file[n]]
    named = all(any(r["error"] for r in bad_by) for bad_by in (by_file.get(n, []) for n in kinds))
    # the two-block file: its good block is predicted, its broken one named
    two_blocks = by_file.get("zz_two_blocks.cif", [])
    checks = {
        "every good CIF predicted": all(r["error"] == "" and r["band_gap"] != "" for r in good_rows)
        and len(good_rows) == args.n_good + sum(extras.values()),
        "every bad file named with a reason": named,
        "the good block of a two-block file predicted": any(r["band_gap"] for r in two_blocks),
        "exit status 1": status == 1,
        "no traceback": "Traceback" not in stderr,
        "rate >= 530 structures/s": len(rows) / seconds >= 530,
    }
    record = {
        "benchmark": "hostile_inputs",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "versions": {p: version(p) for p in ("sklearn_bandgap", "torch", "pymatgen")},
        "data": f"{args.n_good} CIFs of the project's test split (MP set, formula split seed 0)",
        "command_line": "sklearn-bandgap predict FOLDER --n-jobs 2 -o -",
        "good_only": {
            "rows": len(rows_good),
            "exit_status": status_good,
            "seconds": round(seconds_good, 2),
            "structures_per_second": round(len(rows_good) / seconds_good, 1),
        },
        "mixed": {
            "rows": len(rows),
            "exit_status": status,
            "seconds": round(seconds, 2),
            "structures_per_second": round(len(rows) / seconds, 1),
            "stderr_head": stderr.strip().splitlines()[:4],
        },
        "bad_files": bad_report,
        "checks": checks,
    }
    if baseline is not None:
        record["baseline"] = baseline
        mine = baseline["this_commit_again_structures_per_second"]
        checks["rate on good files >= 0.95 x the baseline commit's, same run"] = (
            baseline["exit_status"] == 0
            and baseline["rows"] == args.n_good
            and mine >= 0.95 * baseline["structures_per_second"]
        )
        print(f"baseline {baseline}")
    for key, value in checks.items():
        print(f"{'ok ' if value else 'NO '} {key}")
    print(
        f"good only {record['good_only']['structures_per_second']} /s, "
        f"mixed {record['mixed']['structures_per_second']} /s"
    )
    write_record(
        RESULTS / (args.run or datetime.now(UTC).strftime("%Y-%m-%d")) / "record.json", record
    )


if __name__ == "__main__":
    main()
