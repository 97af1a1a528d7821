"""Evaluation figures for crystal property models."""

from sklearn_bandgap.metrics._reports import (
    METAL_THRESHOLD,
    band_gap_report,
    choose_metal_threshold,
    headline_figures,
    interval_coverage_report,
    regression_report,
)

__all__ = [
    "METAL_THRESHOLD",
    "band_gap_report",
    "choose_metal_threshold",
    "headline_figures",
    "interval_coverage_report",
    "regression_report",
]
