"""Input checks shared by every estimator of the package."""

from __future__ import annotations

from typing import Any

import numpy as np


def _first_non_number(y: Any) -> tuple[int, Any] | None:
    for index, value in enumerate(np.asarray(y, dtype=object).ravel()):
        try:
            float(value)
        except (TypeError, ValueError):
            return index, value
    return None


def check_target(
    y: Any, n_samples: int, *, multi_output: bool = True, name: str = "y"
) -> np.ndarray:
    """``y`` as finite float64 of ``n_samples`` rows, or a clear error naming it.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets.
    n_samples : int
        Rows ``y`` must have (the number of structures).
    multi_output : bool, default=True
        Accept a 2-D ``y``; if False, a 2-D ``y`` of more than one column is
        refused (a single score over columns of different units means nothing).
    name : str, default="y"
        How the error messages call it.

    Returns
    -------
    y : ndarray of float64
        1-D or 2-D as given.

    Raises
    ------
    ValueError
        If ``y`` holds something that is not a number (the first such entry is
        named), has the wrong shape or length, or holds NaN or infinite values
        (their rows are named).
    """
    try:
        array = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        bad = _first_non_number(y)
        where = f" (entry {bad[0]}: {bad[1]!r})" if bad is not None else ""
        raise ValueError(f"{name} must hold numbers; it holds something else{where}.") from exc
    if array.ndim == 0 or array.ndim > 2 or (array.ndim == 2 and array.shape[1] == 0):
        raise ValueError(f"{name} must be 1-D or 2-D with at least one column, got {array.shape}.")
    if array.ndim == 2 and array.shape[1] > 1 and not multi_output:
        raise ValueError(
            f"{name} has {array.shape[1]} columns, but only one target is scored at a time "
            "(one MAE over columns of different units, such as eV and eV/atom, would mean "
            "nothing): pass one column."
        )
    if len(array) != n_samples:
        raise ValueError(f"X has {n_samples} structures but {name} has {len(array)} rows.")
    finite = np.isfinite(array) if array.ndim == 1 else np.isfinite(array).all(axis=1)
    bad_rows = np.flatnonzero(~finite)
    if bad_rows.size:
        raise ValueError(
            f"{name} has non-finite values (NaN or infinite) in {bad_rows.size} rows, e.g. at "
            f"indices {bad_rows[:10].tolist()}."
        )
    return array
