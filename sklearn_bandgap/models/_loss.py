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

    With ``skip_missing``, a NaN target is "not measured": each column's mean
    runs over its present entries only, and a column with none in the batch
    adds nothing (its weight still counts in the denominator, so a batch's
    loss does not jump when a column happens to be absent).

    With ``feature_weight > 0`` (feature distillation), ``y_pred`` may be
    the tuple a :class:`~sklearn_bandgap.models.NeighborLSTM` built with
    ``feature_targets`` returns in training mode, ``(outputs, predicted,
    targets, row_weights)``: the loss above on ``outputs`` plus
    ``feature_weight`` times the rows' weighted mean squared error between
    the predicted and target atom features (standardized), averaged over the
    features. A plain tensor (evaluation mode: the validation loss) gets the
    loss above alone, so early stopping watches the properties.

    Parameters
    ----------
    kind : {"l1", "mse", "huber"}
        The elementwise loss.
    weights : sequence of float
        One positive weight per output column.
    skip_missing : bool, default=False
        Leave NaN targets out of the loss instead of propagating them.
    feature_weight : float, default=0.0
        Weight of the atom-feature term.
    """

    def __init__(
        self,
        kind: str,
        weights: Sequence[float] | torch.Tensor,
        skip_missing: bool = False,
        feature_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.skip_missing = skip_missing
        self.feature_weight = feature_weight
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    def forward(
        self, y_pred: torch.Tensor | tuple[torch.Tensor, ...], y_true: torch.Tensor
    ) -> torch.Tensor:
        """The weighted mean over columns of each column's mean loss (plus the feature term)."""
        if isinstance(y_pred, tuple):
            outputs, predicted, targets, row_weights = y_pred
            squared = ((predicted - targets) ** 2).mean(dim=1)
            features = (row_weights * squared).sum()
            return self._outputs_loss(outputs, y_true) + self.feature_weight * features
        return self._outputs_loss(y_pred, y_true)

    def _outputs_loss(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        y_pred = y_pred.reshape(len(y_pred), -1)
        y_true = y_true.reshape(len(y_true), -1)
        weights = self.get_buffer("weights")
        if not self.skip_missing:
            elementwise = ELEMENTWISE_LOSSES[self.kind](y_pred, y_true, reduction="none")
            per_column = elementwise.mean(dim=0)
        else:
            present = ~torch.isnan(y_true)
            # a missing entry is compared with the prediction itself: zero loss, zero gradient
            filled = torch.where(present, y_true, y_pred.detach())
            elementwise = ELEMENTWISE_LOSSES[self.kind](y_pred, filled, reduction="none")
            counts = present.sum(dim=0).clamp(min=1)
            per_column = (elementwise * present).sum(dim=0) / counts
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
