"""Missing target values: NaN as "not measured" with ``missing_targets="ignore"``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_bandgap import io
from sklearn_bandgap.cli import main
from sklearn_bandgap.datasets import load_table
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.models._loss import WeightedOutputLoss
from sklearn_bandgap.tuning._tune import present_mae
from sklearn_bandgap.utils._validation import check_target


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data)


def _hidden(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < 0.5


@pytest.mark.parametrize("kind", ["l1", "mse", "huber"])
def test_the_loss_averages_each_column_over_its_present_values(kind):
    generator = torch.Generator().manual_seed(0)
    y_pred = torch.randn(6, 2, generator=generator, requires_grad=True)
    y_true = torch.randn(6, 2, generator=generator)
    y_true[[1, 4], 1] = float("nan")
    weights = torch.tensor([1.0, 0.5])
    loss = WeightedOutputLoss(kind, weights, skip_missing=True)(y_pred, y_true)
    plain = {"l1": torch.nn.L1Loss(), "mse": torch.nn.MSELoss(), "huber": torch.nn.HuberLoss()}
    present = [0, 2, 3, 5]
    expected = (
        plain[kind](y_pred[:, 0], y_true[:, 0]) * 1.0
        + plain[kind](y_pred[present, 1], y_true[present, 1]) * 0.5
    ) / 1.5
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert y_pred.grad is not None and torch.isfinite(y_pred.grad).all()
    assert (y_pred.grad[[1, 4], 1] == 0).all() and (y_pred.grad[present, 1] != 0).all()
    # without missing values it is the weighted loss; a column absent from a batch adds 0
    full = torch.randn(6, 2, generator=generator)
    torch.testing.assert_close(
        WeightedOutputLoss(kind, weights, skip_missing=True)(y_pred, full),
        WeightedOutputLoss(kind, weights)(y_pred, full),
    )
    full[:, 1] = float("nan")
    torch.testing.assert_close(
        WeightedOutputLoss(kind, weights, skip_missing=True)(y_pred, full),
        plain[kind](y_pred[:, 0], full[:, 0]) / 1.5,
    )


def test_check_target_accepts_nan_only_when_asked_and_names_what_is_left():
    y = np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, 4.0]])
    with pytest.raises(ValueError, match=r"NaN or infinite\) in 2 rows.*indices \[0, 2\]\. Hint"):
        check_target(y, 3, missing_hint="Hint")
    np.testing.assert_array_equal(check_target(y, 3, allow_missing=True), y)
    with pytest.raises(ValueError, match=r"infinite values in 1 rows, e.g. at indices \[1\]"):
        check_target(np.array([[1.0, 2.0], [np.inf, 1.0]]), 2, allow_missing=True)
    with pytest.raises(ValueError, match=r"no target at all in 1 rows, e.g. at indices \[1\]"):
        check_target(np.array([[1.0, 2.0], [np.nan, np.nan]]), 2, allow_missing=True)
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] hold no number at all"):
        check_target(np.array([[1.0, np.nan], [2.0, np.nan]]), 2, allow_missing=True)


def test_the_regressor_refuses_nan_by_default_and_points_to_the_option(lists, mp_sample):
    y = mp_sample.target.copy()
    y[[3, 8], 1] = np.nan
    with pytest.raises(ValueError, match=r"indices \[3, 8\]\. If NaN marks a target that was not"):
        NeighborLSTMRegressor(max_epochs=1).fit(lists, y)
    with pytest.raises(ValueError, match="missing_targets"):
        NeighborLSTMRegressor(max_epochs=1, missing_targets="fill").fit(lists, y)


@pytest.mark.filterwarnings("ignore::sklearn_bandgap.exceptions.ConstantPredictionWarning")
def test_ignored_targets_train_the_other_columns_and_round_trip(lists, mp_sample, tmp_path):
    y = mp_sample.target.copy()
    hidden = _hidden(len(y))
    y[hidden, 1] = np.nan
    model = NeighborLSTMRegressor(max_epochs=3, random_state=0, missing_targets="ignore")
    model.fit(lists, y)
    np.testing.assert_allclose(model.y_mean_, [y[:, 0].mean(), y[~hidden, 1].mean()])
    np.testing.assert_allclose(model.y_scale_, [y[:, 0].std(), y[~hidden, 1].std()])
    history = model.net_.history_
    assert np.isfinite(history[:, "train_loss"]).all()
    assert np.isfinite(history[:, "valid_loss"]).all()
    predicted = model.predict(lists)
    assert predicted.shape == (200, 2) and np.isfinite(predicted).all()
    io.save(model, tmp_path / "masked.safetensors")
    loaded = io.load(tmp_path / "masked.safetensors")
    assert loaded.missing_targets == "ignore"
    np.testing.assert_array_equal(loaded.predict(lists), predicted)


def test_a_masked_value_fits_better_than_the_column_mean_filled_in(lists, mp_sample):
    """Ignoring a missing value beats the usual fill: the mean pulls those rows to it."""
    y = mp_sample.target
    hidden = _hidden(len(y))
    masked, filled = y.copy(), y.copy()
    masked[hidden, 1] = np.nan
    filled[hidden, 1] = y[~hidden, 1].mean()
    settings = {"max_epochs": 30, "random_state": 0, "validation_fraction": 0.0, "loss": "mse"}
    ignoring = NeighborLSTMRegressor(**settings, missing_targets="ignore").fit(lists, masked)
    filling = NeighborLSTMRegressor(**settings).fit(lists, filled)

    def error(model: NeighborLSTMRegressor) -> float:
        return float(np.abs(model.predict(lists)[hidden, 1] - y[hidden, 1]).mean())

    constant = float(np.abs(y[hidden, 1] - y[~hidden, 1].mean()).mean())
    assert error(ignoring) < 0.95 * error(filling) < constant


@pytest.fixture(scope="module")
def gappy_table(mp_sample, tmp_path_factory):
    """The sample as a CSV whose second target has empty cells in about half of the rows."""
    path = tmp_path_factory.mktemp("gappy") / "gappy.csv"
    e_f = mp_sample.target[:, 1].astype(object)
    e_f[_hidden(len(e_f))] = ""
    frame = pd.DataFrame(
        {"cif": [s.to(fmt="cif") for s in mp_sample.data], "gap": mp_sample.target[:, 0]}
    )
    frame["e_f"] = e_f
    frame.to_csv(path, index=False)
    return path


def test_load_table_reads_empty_cells_as_missing_only_when_asked(gappy_table, tmp_path):
    refused = r"'e_f' is not a finite number .*--missing-targets ignore"
    with pytest.raises(ValueError, match=refused):
        load_table(gappy_table, target=["gap", "e_f"])
    data = load_table(gappy_table, target=["gap", "e_f"], allow_missing=True)
    assert np.isnan(data.target[:, 1]).sum() == _hidden(200).sum()
    assert not np.isnan(data.target[:, 0]).any()
    frame = pd.read_csv(gappy_table, keep_default_na=False, dtype=str)
    frame.loc[4, "e_f"] = "n/a"  # text is refused either way
    frame.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(ValueError, match=r"'e_f' is not a finite number in 1 row\(s\): 4 \('n/a'"):
        load_table(tmp_path / "text.csv", target=["gap", "e_f"], allow_missing=True)
    frame = pd.read_csv(gappy_table, keep_default_na=False, dtype=str)
    frame.loc[_hidden(200), "gap"] = ""
    frame.to_csv(tmp_path / "empty_rows.csv", index=False)
    empty = r"no target value at all in \d+ row\(s\), e.g. rows \[2, 4,"
    with pytest.raises(ValueError, match=empty):
        load_table(tmp_path / "empty_rows.csv", target=["gap", "e_f"], allow_missing=True)


def test_train_command_ignores_missing_targets_on_request(gappy_table, tmp_path, capsys):
    argv = ["train", str(gappy_table), "--target", "gap", "--target", "e_f", "--max-epochs", "2"]
    argv += ["--output-dir", str(tmp_path / "out")]
    assert main(argv) == 2
    assert "--missing-targets ignore" in capsys.readouterr().err
    assert main([*argv, "--missing-targets", "ignore"]) == 0
    printed = capsys.readouterr().out
    assert f"left out of the loss and the figures: e_f {_hidden(200).sum()}." in printed
    figures = json.loads((tmp_path / "out" / "main_job.json").read_text())
    assert figures["model_params"]["missing_targets"] == "ignore"
    n_test = figures["split"]["n_test"]
    assert figures["test"]["n"] == n_test  # the headline target has every value
    assert 0 < figures["auxiliary_test"]["e_f"]["n"] < n_test
    assert np.isfinite(figures["auxiliary_test"]["e_f"]["mae"])
    assert main([*argv, "--missing-targets", "ignore", "--composition-baseline"]) == 2
    assert "cannot take missing target values" in capsys.readouterr().err


def test_tune_command_scores_the_values_there_are(gappy_table, tmp_path, capsys):
    argv = ["tune", str(gappy_table), "--target", "e_f", "--target", "gap"]
    argv += ["--storage", str(tmp_path / "study.log"), "--study-name", "gappy"]
    argv += ["--n-trials", "1", "--max-epochs", "1"]
    assert main(argv) == 2
    assert "column 'e_f' is not a finite number in" in (err := capsys.readouterr().err)
    assert "2 (empty), 4 (empty), 5 (empty)" in err and "(--missing-targets ignore)" in err
    assert main([*argv, "--missing-targets", "ignore"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n_complete"] == 1 and np.isfinite(summary["best_validation_mae"])


def test_present_mae_averages_each_column_over_its_values():
    truth = np.array([[1.0, np.nan], [2.0, 4.0], [np.nan, 6.0]])
    guess = np.array([[2.0, 0.0], [2.0, 5.0], [9.0, 4.0]])
    assert present_mae(truth, guess) == pytest.approx((0.5 + 1.5) / 2)
    assert present_mae(truth[:, 0], guess[:, 0]) == pytest.approx(0.5)
    full = np.array([[1.0, 2.0], [3.0, 4.0]])
    shifted = full + np.array([[1.0, 0.0], [0.0, 3.0]])
    assert present_mae(full, shifted) == pytest.approx(1.0)
