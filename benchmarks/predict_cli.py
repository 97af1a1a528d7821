"""``sklearn-bandgap predict`` end to end: throughput, time to first row, memory, load times.

Measures, with the shipped models and the machine as it is:

- **throughput**: ``sklearn-bandgap predict <folder> --n-jobs 2`` on the 3,333 CIF
  files of the project's test split (written from the MP CSV into a temporary
  folder), from the command's start to its exit, CIF parsing included;
- **time to first row**: from the command's start until its first prediction
  reaches stdout;
- **memory**: the peak resident memory of the command and its worker processes
  (summed, sampled every 0.2 s from /proc) on 100,000 files (hard links to the
  test files, repeated), with ``--n-jobs 2``;
- **load**: ``load_pretrained`` in a fresh process (imports included, and the
  call alone), and ``sklearn-bandgap --help``.

Writes ``benchmarks/results/predict_cli/<run>/record.json``.

Usage::

    python benchmarks/predict_cli.py                 # everything (about 5 minutes)
    python benchmarks/predict_cli.py --n-large 20000 # a smaller memory run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pandas as pd
from _machine import cpu_model, git_commit, write_record

from sklearn_bandgap.datasets import find_data_file, load_mp_gap_eform
from sklearn_bandgap.model_selection import formula_group_split

RESULTS = Path(__file__).parent / "results" / "predict_cli"
COMMAND = [str(Path(sys.executable).with_name("sklearn-bandgap"))]


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants (MB), from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    members, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid and p not in members]
        members.update(children)
        frontier.extend(children)
    return sum(rss.get(p, 0) for p in members) / 1e6


def run_predict(args: list[str], *, sample_memory: bool) -> dict[str, float]:
    """Run the command; time the first data row and the whole run; sample memory."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [*COMMAND, "predict", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_mb(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_memory:
        sampler.start()
    assert process.stdout is not None
    header = process.stdout.readline()
    first = process.stdout.readline()
    first_row_s = time.perf_counter() - start
    rows = 1 + sum(1 for _ in process.stdout)
    stderr = process.stderr.read() if process.stderr else ""
    status = process.wait()
    total_s = time.perf_counter() - start
    done.set()
    if not header.startswith("id,") or not first:
        raise RuntimeError(f"predict failed ({status}): {stderr[-2000:]}")
    return {
        "rows": rows,
        "exit_status": status,
        "first_row_seconds": round(first_row_s, 2),
        "total_seconds": round(total_s, 2),
        "structures_per_second": round(rows / total_s, 1),
        "peak_rss_mb_all_processes": round(peak[0], 1) if sample_memory else None,
        "stderr_tail": stderr.strip().splitlines()[-1] if stderr.strip() else "",
    }


def timed(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-large", type=int, default=100_000, help="files of the memory run")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--run", default=None)
    parser.add_argument(
        "--compare-model",
        default=None,
        help="a model file also timed on the test split in the same run (a ratio on one machine)",
    )
    args = parser.parse_args()

    data = load_mp_gap_eform(progress=False)
    _, test = formula_group_split(data.formula)
    cifs = pd.read_csv(find_data_file("mp_gap_eform/mp_gap_eform.csv.gz"), usecols=["cif"])["cif"]
    record: dict = {
        "benchmark": "predict_cli",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "versions": {p: version(p) for p in ("sklearn_bandgap", "torch", "pymatgen", "gemmi")},
        "data": f"the {len(test)} CIFs of the project's test split (MP set), one file each",
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "test_cifs"
        folder.mkdir()
        names = []
        for i in test:
            path = folder / f"{data.material_id[i]}.cif"
            path.write_text(cifs.iloc[i])
            names.append(path)
        record["help_seconds"] = timed(
            f"import subprocess; subprocess.run({[*COMMAND, '--help']!r}, capture_output=True)"
        )
        record["load_pretrained_fresh_process_seconds"] = timed(
            "from sklearn_bandgap.pretrained import load_pretrained; "
            "load_pretrained('band_gap_mp2018')"
        )
        record["load_pretrained_call_seconds"] = float(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import time, sklearn_bandgap.pretrained as p, sklearn_bandgap.models, "
                    "sklearn_bandgap.featurizers; t = time.perf_counter(); "
                    "p.load_pretrained('band_gap_mp2018'); print(time.perf_counter() - t)",
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
        for n_jobs in sorted({1, args.n_jobs}):
            key = f"test_split_n_jobs_{n_jobs}"
            record[key] = run_predict([str(folder), "--n-jobs", str(n_jobs)], sample_memory=True)
            print(key, json.dumps(record[key]), flush=True)
        if args.compare_model:
            key = f"test_split_n_jobs_{args.n_jobs}_compare_model"
            record[key] = {
                "model": args.compare_model,
                **run_predict(
                    [str(folder), "--n-jobs", str(args.n_jobs), "--model", args.compare_model],
                    sample_memory=False,
                ),
            }
            again = run_predict([str(folder), "--n-jobs", str(args.n_jobs)], sample_memory=False)
            record[f"test_split_n_jobs_{args.n_jobs}_again"] = again
            print(key, json.dumps(record[key]), "default again", json.dumps(again), flush=True)
        with_fe = run_predict(
            [str(folder), "--n-jobs", str(args.n_jobs), "--formation-energy"], sample_memory=False
        )
        record[f"test_split_n_jobs_{args.n_jobs}_with_formation_energy"] = with_fe
        print("with formation energy", json.dumps(with_fe), flush=True)

        large = Path(tmp) / "large"
        large.mkdir()
        for k in range(args.n_large):
            source = names[k % len(names)]
            os.link(source, large / f"{k:06d}_{source.name}")
        key = f"large_{args.n_large}_n_jobs_{args.n_jobs}"
        record[key] = run_predict(
            [str(large), "--n-jobs", str(args.n_jobs), "-o", "-"], sample_memory=True
        )
        print(key, json.dumps(record[key]), flush=True)
    check = record[f"test_split_n_jobs_{args.n_jobs}"]
    record["goals"] = {
        "structures_per_second >= 500 (n_jobs 2)": check["structures_per_second"] >= 500,
        "first_row_seconds <= 5": check["first_row_seconds"] <= 5,
        "load_pretrained <= 2 s (fresh process, imports included)": (
            record["load_pretrained_fresh_process_seconds"] <= 2
        ),
        "peak memory <= 2 GB on the large run": (record[key]["peak_rss_mb_all_processes"] <= 2000),
    }
    run = args.run or datetime.now(UTC).strftime("%Y-%m-%d")
    write_record(RESULTS / run / "record.json", record)


if __name__ == "__main__":
    main()
