"""The examples run, and the main job runs end to end on the sample."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from sklearn_bandgap.cli import main

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("plot_*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_runs(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(example), run_name="__main__")
    assert list((tmp_path / "results").glob("*.png"))


def test_main_job_trains_and_reports_on_the_sample(tmp_path, capsys):
    argv = ["train", "--subset", "sample200", "--max-epochs", "2"]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "main_job.json").read_text())
    assert summary["split"]["n_train"] + summary["split"]["n_test"] == 200
    assert summary["epochs"] == 2 and summary["test"]["all"]["mae"] > 0
    assert 0 <= summary["test"]["roc_auc"] <= 1
    assert (tmp_path / "parity_band_gap.png").is_file()
    out = capsys.readouterr().out
    assert "Band gap, all structures: MAE" in out and "ROC-AUC" in out
    assert 0 <= summary["test"]["balanced_accuracy"] <= 1
    assert "balanced accuracy" in out and "predicted gap <= 0.1 eV" in out
    assert summary["auxiliary_targets"] == ["formation_energy_per_atom"]
    assert "formation_energy_per_atom (trained in the same model): MAE" in out


def test_main_job_band_gap_only(tmp_path):
    argv = ["train", "--subset", "sample200", "--max-epochs", "1", "--band-gap-only"]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "main_job.json").read_text())
    assert summary["auxiliary_targets"] == [] and summary["model_params"]["nonnegative"] is True


def test_main_job_seed_ensemble_is_the_mean_of_its_members(tmp_path, mp_sample, capsys):
    argv = ["train", "--subset", "sample200", "--max-epochs", "2", "--seeds", "0", "1"]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "main_job.json").read_text())
    assert summary["random_states"] == [0, 1]
    assert [m["random_state"] for m in summary["members"]] == [0, 1]
    assert summary["epochs"] == 4 and summary["model_params"]["nonnegative"] == [0]
    out = capsys.readouterr().out
    assert "2 NeighborLSTMRegressors (seeds 0, 1" in out
    # the members' spread is reported beside the figures
    assert summary["spread"]["mean"] > 0 and -1 <= summary["spread"]["spearman_vs_abs_error"] <= 1
    assert "Members' spread (band gap): mean" in out


def test_seed_ensemble_training_averages_the_single_models(mp_sample):
    from sklearn_bandgap.experiments import train_and_evaluate

    small = dict(max_epochs=2, embedding_dim=8, atom_hidden=8, crystal_hidden=8, head_hidden=8)
    args = (mp_sample.data, mp_sample.target, mp_sample.formula)
    kwargs = dict(target="band_gap", auxiliary_targets=["formation_energy_per_atom"])
    singles = [
        train_and_evaluate(*args, **kwargs, model_params={**small, "random_state": seed})[1]
        for seed in (0, 1)
    ]
    result, (test, y_pred) = train_and_evaluate(
        *args, **kwargs, model_params=small, random_states=[0, 1]
    )
    np.testing.assert_array_equal(test, singles[0][0])
    np.testing.assert_allclose(y_pred, np.mean([p for _, p in singles], axis=0), rtol=1e-5)
    assert result["best_epoch"] is None and len(result["members"]) == 2


def test_multitask_training_reports_the_target_and_the_auxiliary(mp_sample):
    from sklearn_bandgap.experiments import train_and_evaluate

    small = dict(max_epochs=2, embedding_dim=8, atom_hidden=8, crystal_hidden=8, head_hidden=8)
    structures, y, formulas = mp_sample.data, mp_sample.target, mp_sample.formula
    result, (test, y_pred) = train_and_evaluate(
        structures,
        y,
        formulas,
        target="band_gap",
        auxiliary_targets=["formation_energy_per_atom"],
        model_params=small,
    )
    assert result["auxiliary_targets"] == ["formation_energy_per_atom"]
    assert set(result["auxiliary_test"]) == {"formation_energy_per_atom"}
    assert result["test"]["all"]["n"] == len(test) == len(y_pred)
    assert y_pred.ndim == 1 and (y_pred >= 0).all()  # the band gap column, clipped
    assert result["model_params"]["nonnegative"] == [0]  # the band gap, not formation energies
    with pytest.raises(ValueError, match="one column for 'band_gap'"):
        train_and_evaluate(
            structures,
            y[:, 0],
            formulas,
            target="band_gap",
            auxiliary_targets=["formation_energy_per_atom"],
            model_params=small,
        )
