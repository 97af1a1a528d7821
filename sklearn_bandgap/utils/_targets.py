"""Training targets derived from others: the blend of knowledge distillation."""

from __future__ import annotations

import numpy as np


def distilled_targets(
    y: np.ndarray, teacher_prediction: np.ndarray, weight: float, column: int = 0
) -> np.ndarray:
    """``y`` with its ``column`` blended with the teacher's prediction.

    Parameters
    ----------
    y : ndarray of shape (n,) or (n, n_targets)
        DFT targets.
    teacher_prediction : ndarray of shape (n,)
        The teacher's prediction of that column for the same crystals.
    weight : float
        Share of the teacher in the blend, in [0, 1].
    column : int, default=0
        The column blended (with a 1-d ``y``: the only one).

    Returns
    -------
    ndarray
        A copy of ``y`` with ``(1 - weight) y + weight teacher`` in ``column``
        (a missing value, NaN, stays missing).
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must lie in [0, 1], got {weight}")
    teacher_prediction = np.asarray(teacher_prediction, dtype=np.float64).reshape(-1)
    blended = np.array(y, dtype=np.float64, copy=True)
    target = blended if blended.ndim == 1 else blended[:, column]
    if len(teacher_prediction) != len(target):
        raise ValueError(
            f"{len(teacher_prediction)} teacher predictions for {len(target)} crystals"
        )
    if not np.all(np.isfinite(teacher_prediction)):
        bad = np.flatnonzero(~np.isfinite(teacher_prediction))
        raise ValueError(f"the teacher predicted non-finite values at rows {bad[:10].tolist()}")
    mixed = (1.0 - weight) * target + weight * teacher_prediction
    if blended.ndim == 1:
        blended[:] = mixed
    else:
        blended[:, column] = mixed
    return blended
