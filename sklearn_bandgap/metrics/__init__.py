"""Evaluation figures for crystal property models."""

from sklearn_bandgap.metrics._reports import (
    band_gap_report,
    headline_figures,
    interval_coverage_report,
    regression_report,
)

__all__ = ["band_gap_report", "headline_figures", "interval_coverage_report", "regression_report"]
