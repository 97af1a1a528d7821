"""Reproducible experiments shared by the main job and the benchmarks."""

from sklearn_bandgap.experiments._train_mp import (
    plot_parity,
    plot_parity_panels,
    train_and_evaluate,
)

__all__ = ["plot_parity", "plot_parity_panels", "train_and_evaluate"]
