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


def test_main_job_on_the_sample(tmp_path, capsys):
    output = tmp_path / "main.json"
    assert main(["--subset", "sample200", "--output", str(output)]) == 0
    summary = json.loads(output.read_text())
    assert summary["n_structures"] == 200 and summary["n_atoms"] == 2831
    assert summary["split"]["train"] + summary["split"]["test"] == 200
    assert "Featurized 200 structures" in capsys.readouterr().out
