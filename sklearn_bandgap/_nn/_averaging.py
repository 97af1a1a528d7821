"""An exponential moving average of a skorch net's weights, as a callback."""

from __future__ import annotations

import math
from typing import Any

import torch
from skorch.callbacks import Callback
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage(Callback):
    """skorch callback: an exponential moving average (EMA) of the weights.

    The average is updated after every training batch, with the per-step
    decay ``1 - 1 / (epochs x batches per epoch)``, so that it spans about
    ``epochs`` epochs whatever the size of the data. Validation runs on the
    averaged weights (so early stopping and the learning-rate schedule follow
    them, and early stopping keeps the best epoch's *averaged* weights), the
    next epoch trains the raw weights again, and the fitted net holds the
    averaged weights. Without validation, the last average is loaded at the
    end of training.

    Parameters
    ----------
    epochs : float
        Span of the average, in epochs (> 0).
    """

    def __init__(self, epochs: float) -> None:
        self.epochs = epochs

    def initialize(self) -> WeightAverage:
        """Forget the average of an earlier fit."""
        self.average_: AveragedModel | None = None
        self.raw_: dict[str, torch.Tensor] | None = None
        self.decay_ = 0.0
        return self

    def on_train_begin(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        """Start from the weights training starts from."""
        self.average_ = None
        self.raw_ = None

    def on_epoch_begin(
        self, net: Any, dataset_train: Any = None, dataset_valid: Any = None, **kwargs: Any
    ) -> None:
        """Put the raw weights back for training (the average's are held apart)."""
        if self.raw_ is not None:
            net.module_.load_state_dict(self.raw_)
            self.raw_ = None
        if self.average_ is None:
            batches = max(math.ceil(len(dataset_train) / net.batch_size), 1)
            self.decay_ = decay = 1.0 - 1.0 / max(self.epochs * batches, 1.0)
            self.average_ = AveragedModel(
                net.module_, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True
            )

    def on_batch_end(
        self, net: Any, batch: Any = None, training: bool = False, **kwargs: Any
    ) -> None:
        """Fold the weights after a training step into the average."""
        if training and self.average_ is not None:
            self.average_.update_parameters(net.module_)

    def on_batch_begin(
        self, net: Any, batch: Any = None, training: bool = False, **kwargs: Any
    ) -> None:
        """Validate the averaged weights (swapped in at the first validation batch)."""
        if not training and self.raw_ is None and self.average_ is not None:
            self.raw_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
            net.module_.load_state_dict(self.average_.module.state_dict())

    def on_train_end(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        """Leave the averaged weights in the net (early stopping's best, if it loads them)."""
        if self.raw_ is None and self.average_ is not None:  # no validation: the last average
            net.module_.load_state_dict(self.average_.module.state_dict())
        self.raw_ = None
        self.average_ = None  # the net holds the weights; nothing more to pickle
