"""The page of ``sklearn-bandgap serve`` in headless Chromium (Debian's package), via Playwright.

A real server (``sklearn-bandgap serve`` in a subprocess) and a real browser:
three CIFs picked, one broken; two predicted rows and one row naming the
broken file's problem; the downloaded CSV equals the API's. Skips, saying
why, where Chromium or Playwright is absent (``.ci/run`` installs both).
"""

from __future__ import annotations

import csv
import io
import shutil
import urllib.request
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytest.importorskip("fastapi", reason="the serve extra is not installed")

from sklearn_bandgap.serve._process import serving  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)"
)

EXAMPLES = Path(__file__).parents[1] / "sklearn_bandgap" / "pretrained" / "examples"


@pytest.fixture(scope="module")
def server():
    with serving() as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def test_three_files_two_rows_and_one_named_error_then_the_csv(server, browser, tmp_path):
    broken = tmp_path / "broken.cif"
    broken.write_text("data_broken\n_cell_length_a 5\nthis is not a CIF\n")
    picked = [EXAMPLES / "Si_diamond.cif", EXAMPLES / "NaCl_rocksalt.cif", broken]
    page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page.goto(server)
    page.wait_for_selector("#model-list li")  # the models listed from the API
    page.set_input_files("#files", [str(p) for p in picked])
    page.click("#predict")
    page.wait_for_selector("#table tr:nth-child(4)")
    rows = page.locator("#table tr")
    assert rows.count() == 4  # the header and one row per file (no warnings here)
    texts = [rows.nth(k).inner_text() for k in range(1, 4)]
    assert "Si" in texts[0] and "NaCl" in texts[1]
    assert "broken.cif" in texts[2] and "cannot read" in texts[2]
    assert page.locator("#table tr.failed").count() == 1
    assert "2 predicted, 1 could not be" in page.inner_text("#status")
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "predictions.csv"
    download.value.save_as(saved)
    from_page = list(csv.reader(io.StringIO(saved.read_text())))
    body, boundary = _multipart(picked)
    request = urllib.request.Request(
        f"{server}/api/predict?format=csv",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    from_api = list(csv.reader(io.StringIO(urllib.request.urlopen(request).read().decode())))
    assert from_page == from_api
    # the card opens with its parity plot
    page.click("#model-list li:first-child button")
    page.wait_for_selector("#card[open] img")
    assert page.locator("#card img").evaluate("img => img.complete && img.naturalWidth > 0")
    page.close()


def test_a_pasted_poscar_and_the_formation_energy(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server)
    page.click("summary")  # open the paste box
    page.fill("#paste", (EXAMPLES / "ZnO_wurtzite.vasp").read_text())
    page.check("#energy")
    page.click("#predict")
    page.wait_for_selector("#table tr:nth-child(2)")
    header = page.locator("#table tr").first.inner_text()
    row = page.locator("#table tr").nth(1).inner_text()
    assert "formation energy per atom" in header and "band gap" in header
    assert "pasted" in row and "ZnO" in row and "±" in row
    assert page.locator("#table tr.failed").count() == 0
    page.close()


def _multipart(paths: list[Path]) -> tuple[bytes, str]:
    boundary = "sklearnbandgapboundary"
    parts = []
    for path in paths:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{path.name}"\r\nContent-Type: text/plain\r\n\r\n'.encode()
            + path.read_bytes()
            + b"\r\n"
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="formation_energy"'
        f"\r\n\r\nfalse\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), boundary
