"""Screenshots of the page of ``sklearn-bandgap serve``, to look at it as a user would.

Starts the server, opens the page in headless Chromium (Debian's ``chromium``)
through Playwright, uploads the shipped example structures, one crystal
outside the training domain and one broken file, and saves the page with its
table and a model card with its parity plot (1280 x 800, a laptop screen), plus
what the page showed (rows, status).

Writes ``benchmarks/results/serve_screenshots/<run>/`` (``record.json`` and the
PNGs) and copies the page's screenshot to ``docs/_static/serve_page.png``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _machine import run_dir, write_record
from playwright.sync_api import sync_playwright

from sklearn_bandgap.serve._process import serving

EXAMPLES = Path(__file__).parents[1] / "sklearn_bandgap" / "pretrained" / "examples"
DOCS_STATIC = Path(__file__).parents[1] / "docs" / "_static"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed (Debian: apt-get install chromium).")
    out = run_dir("serve_screenshots", args.run)
    out.mkdir(parents=True, exist_ok=True)
    with serving() as (url, _):
        with tempfile.TemporaryDirectory() as tmp:
            broken = Path(tmp) / "from_a_paper.cif"
            broken.write_text("data_x\n_cell_length_a 5.1\n_cell_length_b\n")
            squeezed = Path(tmp) / "H_at_1_angstrom.vasp"  # outside the training domain
            squeezed.write_text("H\n1.0\n1 0 0\n0 1 0\n0 0 1\nH\n1\ndirect\n0 0 0\n")
            examples = [p for p in sorted(EXAMPLES.iterdir()) if p.suffix != ".md"]
            picked = [*examples, squeezed, broken]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(url)
                page.wait_for_selector("#model-list li")
                page.set_input_files("#files", [str(p) for p in picked])
                page.check("#energy")
                page.click("#predict")
                page.wait_for_selector("#table tr.failed")
                page.screenshot(path=str(out / "page.png"), full_page=True)
                rows = page.locator("#table tr").all_inner_texts()
                status = page.inner_text("#status")
                page.click("#model-list li:first-child button")
                page.wait_for_selector("#card[open] img")
                page.wait_for_function("document.querySelector('#card img').complete")
                page.screenshot(path=str(out / "card.png"))
                browser.close()
    DOCS_STATIC.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "page.png", DOCS_STATIC / "serve_page.png")
    record = {
        "benchmark": "serve_screenshots",
        "browser": f"{chromium} (headless, Playwright)",
        "viewport": [1280, 800],
        "uploaded": [p.name for p in picked],
        "status": status,
        "table_rows": rows,
        "screenshots": ["page.png", "card.png"],
    }
    write_record(out / "record.json", record)


if __name__ == "__main__":
    main()
