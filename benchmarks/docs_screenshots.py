"""Screenshots of the built documentation, to look at it as a reader would.

Renders, with headless Chromium (Debian's ``chromium`` package), the front page,
the API page of ``NeighborLSTMRegressor`` and one gallery example of an HTML
build (``sphinx-build docs docs/_build``), and checks each page for what a
reader should never see: Python warnings or tracebacks printed into the page.
Writes the PNGs and ``record.json`` to
``benchmarks/results/docs_screenshots/<run>/``.

Usage::

    SKLEARN_BANDGAP_DOCS_OFFLINE=1 sphinx-build -W docs docs/_build
    python benchmarks/docs_screenshots.py --html docs/_build
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from _machine import git_commit, write_record

RESULTS = Path(__file__).parent / "results" / "docs_screenshots"
PAGES = {
    "front_page": "index.html",
    "api_neighbor_lstm_regressor": "generated/sklearn_bandgap.models.NeighborLSTMRegressor.html",
    "gallery_neighbor_lists": "auto_examples/plot_neighbor_lists.html",
}
#: Text that must not appear in a rendered page.
NOISE = re.compile(r"Traceback \(most recent call last\)|\w+Warning: ")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=Path("docs/_build"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    parser.add_argument("--run", default=None)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed (Debian: apt-get install chromium).")
    out = RESULTS / (args.run or datetime.now(UTC).strftime("%Y-%m-%d"))
    out.mkdir(parents=True, exist_ok=True)
    pages = {}
    for name, relative in PAGES.items():
        page = (args.html / relative).resolve()
        if not page.is_file():
            pages[name] = {"page": relative, "error": "not built"}
            continue
        png = out / f"{name}.png"
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                [
                    chromium,
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    f"--window-size={args.width},{args.height}",
                    f"--screenshot={png}",
                    page.as_uri(),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        text = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
        pages[name] = {
            "page": relative,
            "png": png.name,
            "png_bytes": png.stat().st_size,
            "noise_found": sorted(set(NOISE.findall(text))),
        }
        print(name, pages[name])
    write_record(
        out / "record.json",
        {
            "benchmark": "docs_screenshots",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python", *sys.argv]),
            "commit": git_commit(),
            "browser": subprocess.run(
                [chromium, "--version"], capture_output=True, text=True
            ).stdout.strip(),
            "window": [args.width, args.height],
            "pages": pages,
        },
    )


if __name__ == "__main__":
    main()
