"""``TwoHeadBandGapRegressor``: one network, a metal head and a gap head (shared body)."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.hf import AccelerateMixin

from sklearn_bandgap._nn._accelerate import ACCELERATED
from sklearn_bandgap._nn._training import (
    SKORCH_PARAMETER_CONSTRAINTS,
    net_class,
    seed_torch,
    skorch_net_kwargs,
)
from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.models._base import ARCHITECTURE_CONSTRAINTS, NeighborLSTMMixin
from sklearn_bandgap.models._collate import collate_neighbor_lists
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


class TwoHeadBandGapRegressor(NeighborLSTMMixin, RegressorMixin, BaseEstimator):
    """Band gaps from one network with two heads: P(gap > 0) and the gap of gapped crystals.

    The alternative to :class:`ZeroInflatedRegressor` with two separate models:
    the body (embedding, atom LSTM, crystal LSTM, dense layer) is shared, the
    last layer has two outputs. Training minimises the cross-entropy of
    "gap > 0" on every crystal plus ``gap_weight`` × the L1 error of the
    (standardized) gap on the gapped crystals only. ``predict`` returns 0 where
    ``P(gap > 0) < threshold`` (``mode="hard"``), or ``P(gap > 0)`` × the gap
    (``mode="expected"``).

    Parameters
    ----------
    embedding_dim, atom_hidden, crystal_hidden, head_hidden : int
        Network sizes (defaults 32, 48, 128, 128), as in :class:`NeighborLSTMRegressor`.
    dropout, distance_expansion, atoms, attention_pooling
        The rest of the network, as in :class:`NeighborLSTMRegressor`.
    gap_weight : float, default=1.0
        Weight of the gap loss against the metal loss.
    mode : {"hard", "expected"}, default="hard"
        How the two heads combine in ``predict``.
    threshold : float, default=0.5
        ``P(gap > 0)`` from which ``"hard"`` predicts the gap head's value.
    lr, weight_decay, batch_size, max_epochs, patience, validation_fraction
        Training, as in :class:`NeighborLSTMRegressor`.
    handle_unknown : {"warn", "error"}, default="warn"
        Out-of-domain structures in ``predict`` (see :class:`NeighborLSTMRegressor`).
    random_state : int, RandomState instance or None, default=None
        Seeds weights, shuffling and the validation split.
    device : str, default="cpu"
        Torch device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or ``"auto"``
        (CUDA when there is one, else the CPU; decided at ``fit``). A CUDA device
        on a machine without one raises a ``ValueError`` before training.
    verbose : int, default=0
        1 prints skorch's epoch table.
    callbacks : list of skorch callbacks, default=None
        Extra callbacks.
    accelerator : accelerate.Accelerator or None, default=None
        Train through Hugging Face accelerate (skorch's ``AccelerateMixin``):
        accelerate places the module and batches (``device`` is then unused),
        mixed precision if the accelerator asks for it, and data-parallel
        training on several GPUs when the script runs under ``accelerate
        launch``. Not saved by :func:`sklearn_bandgap.io.save` (set it to None
        first).

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net.
    gap_mean_, gap_scale_ : float
        Standardization of the gaps of the gapped training crystals.
    elements_seen_, n_neighbors_, distance_range_
        The fitted domain.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **SKORCH_PARAMETER_CONSTRAINTS,
        **ARCHITECTURE_CONSTRAINTS,
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
        atoms: str = "distinct",
        attention_pooling: bool = False,
        gap_weight: float = 1.0,
        mode: str = "hard",
        threshold: float = 0.5,
        lr: float = 2e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 128,
        max_epochs: int = 200,
        patience: int = 15,
        validation_fraction: float = 0.1,
        handle_unknown: str = "warn",
        random_state: int | np.random.RandomState | None = None,
        device: str = "cpu",
        verbose: int = 0,
        callbacks: list[Callback] | None = None,
        accelerator: Any = None,
    ) -> None:
        self.embedding_dim = embedding_dim
        self.atom_hidden = atom_hidden
        self.crystal_hidden = crystal_hidden
        self.head_hidden = head_hidden
        self.dropout = dropout
        self.distance_expansion = distance_expansion
        self.atoms = atoms
        self.attention_pooling = attention_pooling
        self.gap_weight = gap_weight
        self.mode = mode
        self.threshold = threshold
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.handle_unknown = handle_unknown
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.callbacks = callbacks
        self.accelerator = accelerator

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: NeighborLists, y: Any) -> TwoHeadBandGapRegressor:
        """Train both heads on neighbour lists ``X`` and band gaps ``y`` (0 for metals).

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.
        y : array-like of shape (n_samples,)
            Non-negative band gaps.

        Returns
        -------
        self : TwoHeadBandGapRegressor
            The fitted model.
        """
        X = self._check_lists(X)
        y = check_target(y, len(X), multi_output=False).ravel()
        if (y < 0).any() or (y > 0).all() or not (y > 0).any():
            raise ValueError("y must be non-negative band gaps with both metals (0) and gaps.")
        gapped = y > 0
        self.gap_mean_ = float(y[gapped].mean())
        self.gap_scale_ = float(y[gapped].std()) or 1.0
        targets = np.column_stack([gapped, (y - self.gap_mean_) / self.gap_scale_])
        self._learn_domain(X)
        self.net_ = self._build_net(seed_torch(self.random_state))
        self.net_.fit(self._model_input(X), targets.astype(np.float32))
        return self

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
        check_is_fitted(self)
        X = self._check_lists(X)
        self._check_domain(X)
        out = self.net_.predict(self._model_input(X)).astype(np.float64)
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

    def __sklearn_tags__(self) -> Tags:
        return self._input_tags(super().__sklearn_tags__())

    def _build_net(self, seed: int | None) -> NeuralNet:
        return net_class(_TwoHeadLossNet, self.accelerator)(
            **self._module_kwargs(2),
            criterion=torch.nn.L1Loss,  # unused: get_loss is overridden
            gap_weight=self.gap_weight,
            iterator_train__collate_fn=collate_neighbor_lists,
            iterator_train__shuffle=True,
            iterator_valid__collate_fn=collate_neighbor_lists,
            **skorch_net_kwargs(self, seed),
        )
