"""Row selection across the input types of this package."""

from __future__ import annotations

from typing import Any

import numpy as np


def take(X: Any, indices: np.ndarray) -> Any:
    """Rows ``indices`` of ``X``: a list, an array, a DataFrame/Series or NeighborLists."""
    if hasattr(X, "iloc"):
        return X.iloc[indices]
    if isinstance(X, list | tuple):
        return [X[i] for i in indices]
    return X[indices]
