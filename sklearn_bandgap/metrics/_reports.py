"""Summary figures of a regression, and the band-gap specific ones."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    balanced_accuracy_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

#: A crystal predicted at most this gap (eV) counts as a metal unless a threshold
#: chosen on held-out data is given (``choose_metal_threshold``).
METAL_THRESHOLD = 0.1


def regression_report(y_true: Any, y_pred: Any) -> dict[str, float]:
    """MAE, RMSE and R² of one target.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Reference and predicted values.

    Returns
    -------
    report : dict
        ``{"mae": ..., "rmse": ..., "r2": ..., "n": ...}``.

    Examples
    --------
    >>> regression_report([0.0, 1.0, 2.0], [0.0, 1.0, 1.0])["mae"]
    0.333...
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
        "n": len(y_true),
    }


def band_gap_report(
    y_true: Any, y_pred: Any, metal_threshold: float = METAL_THRESHOLD
) -> dict[str, Any]:
    """Band-gap figures: over all structures, over gapped ones, and metal vs non-metal.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        DFT and predicted band gaps (eV); ``y_true == 0`` marks metals.
    metal_threshold : float, default=0.1
        A predicted gap at most this (eV) counts as "metal" for the balanced
        accuracy. Choose it on held-out data (:func:`choose_metal_threshold`),
        never on the data the report measures.

    Returns
    -------
    report : dict
        ``all`` and ``gap_positive``: :func:`regression_report` over all
        structures and over those with a DFT gap > 0; ``roc_auc``: the
        metal/non-metal ROC-AUC of the predicted gap used as a score;
        ``balanced_accuracy``: the mean of the recalls of metals and non-metals
        when "metal" means a predicted gap ``<= metal_threshold`` (what
        Matbench's ``mp_is_metal`` "rocauc" computes from hard labels), with
        ``metal_threshold``.

    Examples
    --------
    >>> report = band_gap_report([0.0, 0.0, 1.2, 3.0], [0.05, 0.4, 1.0, 2.5])
    >>> report["roc_auc"], report["balanced_accuracy"]
    (1.0, 0.75)
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    gapped = y_true > 0
    report: dict[str, Any] = {"all": regression_report(y_true, y_pred)}
    if gapped.any():
        report["gap_positive"] = regression_report(y_true[gapped], y_pred[gapped])
    if 0 < gapped.sum() < len(y_true):
        report["roc_auc"] = float(roc_auc_score(gapped, y_pred))
        report["balanced_accuracy"] = float(
            balanced_accuracy_score(gapped, y_pred > metal_threshold)
        )
        report["metal_threshold"] = float(metal_threshold)
    return report


def choose_metal_threshold(y_true: Any, y_pred: Any, grid: Any = None) -> tuple[float, float]:
    """The predicted-gap threshold for "metal" with the best balanced accuracy.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        DFT and predicted band gaps (eV) of held-out crystals (a selection
        split or validation parts, never the test split), metals and
        non-metals both present.
    grid : array-like of float, default=None
        Thresholds to try (eV); default 0 to 1 eV in steps of 0.01. Ties go to
        the smallest.

    Returns
    -------
    threshold, balanced_accuracy : float
        The chosen threshold and its balanced accuracy on these crystals.

    Examples
    --------
    >>> choose_metal_threshold([0.0, 0.0, 1.2, 3.0], [0.05, 0.4, 1.0, 2.5])
    (0.4, 1.0)
    """
    gapped = np.asarray(y_true, dtype=float) > 0
    y_pred = np.asarray(y_pred, dtype=float)
    if gapped.all() or not gapped.any():
        raise ValueError("choose_metal_threshold needs metals (gap 0) and non-metals.")
    thresholds = np.round(np.arange(0.0, 1.0 + 1e-9, 0.01), 2) if grid is None else grid
    scores = [balanced_accuracy_score(gapped, y_pred > t) for t in thresholds]
    best = int(np.argmax(scores))
    return float(thresholds[best]), float(scores[best])


def headline_figures(report: dict[str, Any]) -> dict[str, Any]:
    """The all-structures figures of a report of either kind.

    Parameters
    ----------
    report : dict
        A :func:`regression_report` or a :func:`band_gap_report` (as model
        cards and the training records store them).

    Returns
    -------
    figures : dict
        ``mae``, ``rmse``, ``r2`` and ``n`` over all structures.
    """
    headline: dict[str, Any] = report["all"] if "all" in report else report
    return headline


def interval_coverage_report(
    y_true: Any, intervals: Any, subsets: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Observed coverage and mean width of intervals at each level, per subset of rows.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    intervals : array-like of shape (n_samples, 2, n_levels)
        Lower and upper bounds per level (``ConformalRegressor.predict_interval``).
    subsets : dict of str to boolean mask of shape (n_samples,)
        The rows of each named subset (e.g. all, gapped, metals).

    Returns
    -------
    report : dict
        Per subset: ``n``, ``coverage`` and ``mean_width`` (one value per level).
    """
    from mapie.metrics.regression import regression_coverage_score, regression_mean_width_score

    y_true, intervals = np.asarray(y_true), np.asarray(intervals)
    return {
        name: {
            "n": int(np.sum(rows)),
            "coverage": regression_coverage_score(y_true[rows], intervals[rows]).round(4).tolist(),
            "mean_width": regression_mean_width_score(intervals[rows]).round(4).tolist(),
        }
        for name, rows in subsets.items()
    }
