"""``TwoHeadBandGapRegressor``: one network, a metal head and a gap head (shared body)."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.hf import AccelerateMixin

from sklearn_bandgap._nn._accelerate import ACCELERATED
from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.models._base import BaseNeighborLSTM, fill_shared_docs
from sklearn_bandgap.models._module import ENVELOPE_START
from sklearn_bandgap.utils._validation import check_target


class _TwoHeadLossNet(NeuralNet):
    """skorch net of the two heads: metal cross-entropy plus gap L1 on gapped crystals.

    Column 0 of the output is the logit of gap > 0 (cross-entropy on every
    crystal); column 1 the standardized gap (L1 on the gapped crystals only).
    """

    def __init__(self, *args: Any, gap_weight: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gap_weight = gap_weight

    def get_loss(
        self, y_pred: Any, y_true: Any, X: Any = None, training: bool = False
    ) -> torch.Tensor:
        gapped = y_true[:, 0]
        metal_loss = torch.nn.functional.binary_cross_entropy_with_logits(y_pred[:, 0], gapped)
        mask = gapped > 0.5
        if not bool(mask.any()):
            return metal_loss
        gap_loss = torch.nn.functional.l1_loss(y_pred[mask, 1], y_true[mask, 1])
        return metal_loss + self.gap_weight * gap_loss


class _AcceleratedTwoHeadLossNet(AccelerateMixin, _TwoHeadLossNet):
    """``_TwoHeadLossNet`` trained through an ``accelerate.Accelerator``."""


ACCELERATED[_TwoHeadLossNet] = _AcceleratedTwoHeadLossNet


@fill_shared_docs
class TwoHeadBandGapRegressor(RegressorMixin, BaseNeighborLSTM):
    """Band gaps from one network with two heads: P(gap > 0) and the gap of gapped crystals.

    The alternative to :class:`ZeroInflatedRegressor` with two separate models:
    the body (embedding, atom LSTM, crystal aggregation, dense layer) is shared, the
    last layer has two outputs. Training minimises the cross-entropy of
    "gap > 0" on every crystal plus ``gap_weight`` × the L1 error of the
    (standardized) gap on the gapped crystals only. ``predict`` returns 0 where
    ``P(gap > 0) < threshold`` (``mode="hard"``), or ``P(gap > 0)`` × the gap
    (``mode="expected"``).

    Parameters
    ----------
    {architecture_parameters}
    gap_weight : float, default=1.0
        Weight of the gap loss against the metal loss.
    mode : {"hard", "expected"}, default="hard"
        How the two heads combine in ``predict``.
    threshold : float, default=0.5
        ``P(gap > 0)`` from which ``"hard"`` predicts the gap head's value.
    {training_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net.
    gap_mean_, gap_scale_ : float
        Standardization of the gaps of the gapped training crystals.
    {domain_attributes}
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseNeighborLSTM._parameter_constraints,
        "gap_weight": [Interval(Real, 0, None, closed="neither")],
        "mode": [StrOptions({"hard", "expected"})],
        "threshold": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        *,
        embedding_dim: int = 32,
        atom_hidden: int = 48,
        crystal_hidden: int = 128,
        head_hidden: int = 128,
        dropout: float = 0.0,
        distance_expansion: int = 16,
        neighbors: str = "shells",
        atoms: str = "pooled",
        attention_pooling: bool = False,
        envelope_start: float = ENVELOPE_START,
        interaction_layers: int = 0,
        message_layers: int = 0,
        distance_noise: float = 0.0,
        gap_weight: float = 1.0,
        mode: str = "hard",
        threshold: float = 0.5,
        lr: float = 2e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 128,
        max_epochs: int = 200,
        patience: int = 15,
        ema_epochs: float = 0.0,
        lr_schedule: str = "plateau",
        validation_fraction: float = 0.1,
        handle_unknown: str = "warn",
        random_state: int | np.random.RandomState | None = None,
        device: str = "cpu",
        verbose: int = 0,
        callbacks: list[Callback] | None = None,
        accelerator: Any = None,
        warm_start: bool = False,
        init: Any = None,
    ) -> None:
        super().__init__(
            embedding_dim=embedding_dim,
            atom_hidden=atom_hidden,
            crystal_hidden=crystal_hidden,
            head_hidden=head_hidden,
            dropout=dropout,
            distance_expansion=distance_expansion,
            neighbors=neighbors,
            atoms=atoms,
            attention_pooling=attention_pooling,
            envelope_start=envelope_start,
            interaction_layers=interaction_layers,
            message_layers=message_layers,
            distance_noise=distance_noise,
            lr=lr,
            weight_decay=weight_decay,
            batch_size=batch_size,
            max_epochs=max_epochs,
            patience=patience,
            ema_epochs=ema_epochs,
            lr_schedule=lr_schedule,
            validation_fraction=validation_fraction,
            handle_unknown=handle_unknown,
            random_state=random_state,
            device=device,
            verbose=verbose,
            callbacks=callbacks,
            accelerator=accelerator,
            warm_start=warm_start,
            init=init,
        )
        self.gap_weight = gap_weight
        self.mode = mode
        self.threshold = threshold

    def predict_heads(self, X: NeighborLists) -> tuple[np.ndarray, np.ndarray]:
        """``P(gap > 0)`` and the gap head's value (eV) of each structure.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.

        Returns
        -------
        p_gapped : ndarray of shape (n_samples,)
        gap : ndarray of shape (n_samples,)
            Clipped at 0.
        """
        out = self._net_outputs(X)
        p_gapped = expit(out[:, 0])  # scipy's logistic: no overflow for large logits
        gap = np.maximum(out[:, 1] * self.gap_scale_ + self.gap_mean_, 0.0)
        return p_gapped, gap

    def nonzero_probability(self, X: NeighborLists) -> np.ndarray:
        """``P(gap > 0)`` of each structure (not a metal), as ``ZeroInflatedRegressor`` has it.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.

        Returns
        -------
        proba : ndarray of shape (n_samples,)
        """
        return self.predict_heads(X)[0]

    def predict(self, X: NeighborLists) -> np.ndarray:
        """Band gaps: 0 for structures the metal head calls metals.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        p_gapped, gap = self.predict_heads(X)
        if self.mode == "expected":
            return p_gapped * gap
        return np.where(p_gapped >= self.threshold, gap, 0.0)

    def _encode_targets(self, y: Any, n_samples: int) -> np.ndarray:
        """``[gap > 0, standardized gap]`` per crystal (the gap scaled on gapped crystals)."""
        y = check_target(y, n_samples, multi_output=False).ravel()
        if (y < 0).any() or (y > 0).all() or not (y > 0).any():
            raise ValueError("y must be non-negative band gaps with both metals (0) and gaps.")
        gapped = y > 0
        if not self._continuing():  # a warm start keeps the first fit's scaling
            self.gap_mean_ = float(y[gapped].mean())
            self.gap_scale_ = float(y[gapped].std()) or 1.0
        targets = np.column_stack([gapped, (y - self.gap_mean_) / self.gap_scale_])
        return targets.astype(np.float32)

    def _net_settings(self) -> dict[str, Any]:
        return {
            "net": _TwoHeadLossNet,
            "n_outputs": 2,
            "criterion": torch.nn.L1Loss,  # unused: get_loss is overridden
            "gap_weight": self.gap_weight,
        }
