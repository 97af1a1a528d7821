"""The README's first command, timed as a new user runs it: a clean clone, then setup and demo.

Clones the repository's HEAD into a temporary folder (with ``../shared``
beside it, as the README asks), runs the setup part of the first command
(``python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e
".[dev]"``), then ``sklearn-bandgap demo`` and ``sklearn-bandgap train --fast``,
each with an empty parse cache, and records their wall times, peak memory and
the figures they print.

Writes ``benchmarks/results/readme_commands/<run>/record.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _machine import cpu_model, git_commit, write_record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "readme_commands"


def timed(command: list[str] | str, cwd: Path, env: dict[str, str]) -> dict[str, object]:
    """Run a command; its wall seconds, exit status, peak RSS of children and last lines."""
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, env=env, shell=isinstance(command, str), capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "seconds": round(seconds, 1),
        "exit_status": done.returncode,
        "peak_rss_mb_largest_child_so_far": round(peak_kb / 1024),
        "stdout_tail": done.stdout.strip().splitlines()[-14:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="readme_commands_"))
    (work / "shared").symlink_to(ROOT.parent / "shared")
    clone = work / "sklearn_bandgap"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
    setup = timed(
        'python3 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e ".[dev]"',
        clone,
        env,
    )
    runs = {"setup": setup}
    for name, command in {
        "demo": [".venv/bin/sklearn-bandgap", "demo"],
        "train_fast": [".venv/bin/sklearn-bandgap", "train", "--fast"],
    }.items():
        cache = tempfile.mkdtemp(prefix="cache_")  # a new user's empty parse cache
        runs[name] = timed(command, clone, {**env, "SKLEARN_BANDGAP_CACHE": cache})
    demo_text = "\n".join(runs["demo"]["stdout_tail"])  # type: ignore[arg-type]
    gap = re.search(r"Band gap: MAE ([0-9.]+) eV", demo_text)
    record = {
        "benchmark": "readme_commands",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "runs": runs,
        "setup_plus_demo_seconds": round(setup["seconds"] + runs["demo"]["seconds"], 1),  # type: ignore[operator]
        "demo_band_gap_mae": float(gap.group(1)) if gap else None,
        "goal": "a useful result within 3 minutes after installation on 2 cores",
    }
    run = args.run or datetime.now(UTC).strftime("%Y-%m-%d")
    write_record(RESULTS / run / "record.json", record)
    print({k: v for k, v in record.items() if k != "runs"})
    for name, result in runs.items():
        print(name, result["seconds"], "s, exit", result["exit_status"])


if __name__ == "__main__":
    main()
