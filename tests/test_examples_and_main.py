"""The examples run, and the main job runs end to end on the sample."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from sklearn_bandgap.__main__ import main

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("plot_*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_runs(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(example), run_name="__main__")
    assert list((tmp_path / "results").glob("*.png"))


def test_main_job_trains_and_reports_on_the_sample(tmp_path, capsys):
    assert main(["--subset", "sample200", "--max-epochs", "2", "--output-dir", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "main_job.json").read_text())
    assert summary["split"]["n_train"] + summary["split"]["n_test"] == 200
    assert summary["epochs"] == 2 and summary["test"]["all"]["mae"] > 0
    assert 0 <= summary["test"]["roc_auc"] <= 1
    assert (tmp_path / "parity_band_gap.png").is_file()
    out = capsys.readouterr().out
    assert "Band gap, all structures: MAE" in out and "ROC-AUC" in out
