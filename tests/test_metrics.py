"""Band-gap figures: balanced accuracy beside ROC-AUC, and the metal threshold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from sklearn_bandgap.metrics import METAL_THRESHOLD, band_gap_report, choose_metal_threshold


def test_balanced_accuracy_is_the_mean_of_the_two_recalls():
    rng = np.random.default_rng(0)
    y_true = np.where(rng.random(400) < 0.4, 0.0, rng.uniform(0.2, 6.0, 400))
    y_pred = np.clip(y_true + rng.normal(0, 0.4, 400), 0, None)
    report = band_gap_report(y_true, y_pred, metal_threshold=0.3)
    metal_true, metal_pred = y_true == 0, y_pred <= 0.3
    recalls = (metal_pred[metal_true].mean(), (~metal_pred[~metal_true]).mean())
    assert report["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    assert report["metal_threshold"] == 0.3
    assert band_gap_report(y_true, y_pred)["metal_threshold"] == METAL_THRESHOLD


def test_a_gap_exactly_at_the_threshold_counts_as_metal():
    report = band_gap_report([0.0, 1.0], [0.1, 0.2], metal_threshold=0.1)
    assert report["balanced_accuracy"] == 1.0
    report = band_gap_report([0.0, 1.0], [0.1, 0.2], metal_threshold=0.05)
    assert report["balanced_accuracy"] == 0.5


def test_the_chosen_threshold_is_the_best_on_its_grid():
    rng = np.random.default_rng(1)
    y_true = np.where(rng.random(600) < 0.4, 0.0, rng.uniform(0.05, 4.0, 600))
    y_pred = np.clip(y_true + rng.normal(0.25, 0.3, 600), 0, None)  # biased upwards
    threshold, score = choose_metal_threshold(y_true, y_pred)
    grid = np.round(np.arange(0, 1.001, 0.01), 2)
    scores = [balanced_accuracy_score(y_true > 0, y_pred > t) for t in grid]
    assert score == pytest.approx(max(scores))
    assert threshold == grid[int(np.argmax(scores))] and threshold > 0.1
    assert band_gap_report(y_true, y_pred, threshold)["balanced_accuracy"] == pytest.approx(score)


def test_no_threshold_without_both_classes():
    with pytest.raises(ValueError, match="metals"):
        choose_metal_threshold([1.0, 2.0], [0.5, 1.5])
    assert "balanced_accuracy" not in band_gap_report([1.0, 2.0], [0.5, 1.5])
