"""``plot_comparison``: parity plots side by side and a bar chart of the errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sklearn_bandgap.baselines._compare import ComparisonDetails


def plot_comparison(
    table: pd.DataFrame,
    y: Any,
    *,
    path: str | Path | None = None,
    target: str = "target",
    unit: str = "",
    score: str = "mae",
) -> Any:
    """Draw one parity plot per estimator and a bar chart of ``score``.

    Parameters
    ----------
    table : DataFrame
        The result of :func:`compare` (its ``attrs`` hold folds and predictions).
    y : array-like of shape (n_samples,)
        The targets given to :func:`compare`.
    path : str or Path, default=None
        Where to save the figure as PNG (directories are created).
    target : str, default="target"
        Name of the target, for titles.
    unit : str, default=""
        Unit of the target, for axes.
    score : str, default="mae"
        The score of the bar chart (``<score>_mean`` ± ``<score>_std``).

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    details = table.attrs.get("details")
    if not isinstance(details, ComparisonDetails):
        raise ValueError("table has no comparison details in .attrs: pass what compare() returns.")
    y_true = np.asarray(y, dtype=np.float64)[details.test_indices]
    names = list(table.index)
    low = float(y_true.min())
    high = float(y_true.max())
    suffix = f" ({unit})" if unit else ""
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.3 * (len(names) + 1), 3.4))
    for ax, name in zip(axes[:-1], names, strict=True):
        y_pred = details.predictions[name]
        ax.hexbin(
            y_true,
            y_pred,
            gridsize=50,
            bins="log",
            cmap="viridis",
            mincnt=1,
            extent=(low, high, low, high),
        )
        ax.plot([low, high], [low, high], color="crimson", lw=1)
        ax.set_title(f"{name}\n{score.upper()} {table.loc[name, f'{score}_mean']:.3g}", fontsize=9)
        ax.set_xlabel(f"DFT {target}{suffix}")
        ax.set_ylabel(f"predicted{suffix}")
    bars = axes[-1]
    means = table[f"{score}_mean"].to_numpy()
    stds = table[f"{score}_std"].to_numpy()
    positions = np.arange(len(names))
    bars.barh(positions, means, xerr=stds, color="tab:blue")
    bars.set_yticks(positions, names, fontsize=8)
    bars.invert_yaxis()
    bars.set_xlabel(f"{score.upper()}{suffix}")
    bars.set_title(f"{target}: {int(table['n_folds'].iloc[0])} fold(s)", fontsize=9)
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig
