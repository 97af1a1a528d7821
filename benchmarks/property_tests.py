"""The property-based tests with 1,000 examples per property (the CI runs 50).

Runs ``tests/test_properties.py`` under hypothesis's ``long`` profile and records,
per property, the examples tried and whether it held (with the failing example
hypothesis reports, if any). Writes
``benchmarks/results/property_tests/<run>/record.json``.

Usage::

    python benchmarks/property_tests.py            # 1,000 examples per property
    python benchmarks/property_tests.py --examples 200
    python benchmarks/property_tests.py -k chgnet  # one shipped model's bounds only
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from _machine import cpu_model, git_commit, write_record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "property_tests"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per property")
    parser.add_argument("--run", default=None)
    parser.add_argument(
        "-k", dest="keyword", default=None, help="only the tests pytest's -k selects (e.g. chgnet)"
    )
    args = parser.parse_args()
    env = {
        **os.environ,
        "SKLEARN_BANDGAP_HYPOTHESIS_PROFILE": "long",
        "SKLEARN_BANDGAP_HYPOTHESIS_EXAMPLES": str(args.examples),
    }
    start = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_properties.py",
            "-p",
            "no:randomly",
            "--hypothesis-show-statistics",
            "-q",
            "-o",
            "addopts=",
            *(["-k", args.keyword] if args.keyword else []),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    out = result.stdout
    properties = {}
    for block in re.split(r"\n(?=tests/test_properties\.py::)", out):
        name = re.match(r"tests/test_properties\.py::(\w+)", block)
        if not name:
            continue
        counts = re.findall(r"(\d+) passing, (\d+) failing, and (\d+) invalid", block)
        totals = [sum(int(c[k]) for c in counts) for k in range(3)]
        properties[name.group(1)] = {
            "passing_examples": totals[0],
            "failing_examples": totals[1],
            "invalid_examples_rejected_by_assume": totals[2],
            "held": f"{name.group(1)} FAILED" not in out and "FAILED" not in block,
        }
    failures = re.findall(r"Falsifying example: .*?(?=\n\n)", out, flags=re.DOTALL)
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    record = {
        "benchmark": "property_tests",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "versions": {p: version(p) for p in ("sklearn_bandgap", "hypothesis", "pymatgen")},
        "examples_per_property_asked": args.examples,
        "pytest_exit_status": result.returncode,
        "pytest_summary": summary,
        "properties": properties,
        "failures": failures,
        "seconds": round(seconds, 1),
    }
    print(out[-3000:])
    write_record(
        RESULTS / (args.run or datetime.now(UTC).strftime("%Y-%m-%d")) / "record.json", record
    )


if __name__ == "__main__":
    main()
