"""What machine a benchmark ran on, and how its figures are written."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


#: Every record lives in ``results/<benchmark>/<run>/record.json``, with its figures.
RESULTS = Path(__file__).parent / "results"


def run_dir(benchmark: str, run: str | None = None) -> Path:
    """The folder of one run of a benchmark (``run`` defaults to today's date)."""
    from datetime import UTC, datetime

    return RESULTS / benchmark / (run or datetime.now(UTC).strftime("%Y-%m-%d"))


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write a benchmark's record as indented JSON (numpy scalars as floats) and say where.

    The command, the git commit and the CPU are added when the record lacks
    them, so that every record says how, from what and where it was made.
    """
    import sys
    from datetime import UTC, datetime

    record.setdefault("command", " ".join(["python", *sys.argv]))
    record.setdefault("commit", git_commit())
    record.setdefault("machine", {"cpu": cpu_model()})
    record.setdefault("date", datetime.now(UTC).isoformat(timespec="seconds"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=float) + "\n")
    print(f"wrote {path}")


def git_commit() -> str | None:
    """The repository's commit (with ``-dirty`` if tracked files have uncommitted changes)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return commit + ("-dirty" if dirty else "") if commit else None
