"""The regressor's loss with one weight per output column (multi-task weighting)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

#: The elementwise losses of ``NeighborLSTMRegressor(loss=...)``.
ELEMENTWISE_LOSSES: dict[str, Any] = {
    "l1": nn.functional.l1_loss,
    "mse": nn.functional.mse_loss,
    "huber": nn.functional.huber_loss,
}


class WeightedOutputLoss(nn.Module):
    """A loss over standardized outputs in which each column counts with its weight.

    ``sum_c w_c * mean_i loss(pred_ic, y_ic) / sum_c w_c``: with equal weights
    it is the unweighted loss (torch's ``L1Loss`` and its kin average over
    every element, that is over the columns' means). The weights live in a
    buffer, so they follow the module to its device.

    Parameters
    ----------
    kind : {"l1", "mse", "huber"}
        The elementwise loss.
    weights : sequence of float
        One positive weight per output column.
    """

    def __init__(self, kind: str, weights: Sequence[float] | torch.Tensor) -> None:
        super().__init__()
        self.kind = kind
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        """The weighted mean over columns of each column's mean loss."""
        elementwise = ELEMENTWISE_LOSSES[self.kind](y_pred, y_true, reduction="none")
        per_column = elementwise.reshape(len(elementwise), -1).mean(dim=0)
        weights = self.get_buffer("weights")
        return (per_column * weights).sum() / weights.sum()


def check_output_weights(output_weights: Any, n_outputs: int) -> np.ndarray:
    """``output_weights`` as float64, one positive finite weight per column, or a clear error."""
    try:
        weights = np.asarray(output_weights, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(
            f"output_weights must be numbers, one per column of y; got {output_weights!r}."
        ) from None
    if len(weights) != n_outputs:
        raise ValueError(
            f"output_weights has {len(weights)} weight(s), but y has {n_outputs} column(s): "
            "give one weight per column."
        )
    bad = np.flatnonzero(~np.isfinite(weights) | (weights <= 0))
    if bad.size:
        raise ValueError(
            f"output_weights[{bad[0]}] = {float(weights[bad[0]])}: every weight must be a positive "
            "number (a column that should not be learnt belongs out of y)."
        )
    return weights
