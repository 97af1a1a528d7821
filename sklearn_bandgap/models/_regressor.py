"""``NeighborLSTMRegressor``: the two-level LSTM as a scikit-learn regressor."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback

from sklearn_bandgap._nn._training import (
    SKORCH_PARAMETER_CONSTRAINTS,
    net_class,
    seed_torch,
    skorch_net_kwargs,
)
from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.models._base import (
    ARCHITECTURE_CONSTRAINTS,
    NeighborLSTMMixin,
)
from sklearn_bandgap.models._collate import collate_neighbor_lists
from sklearn_bandgap.utils._validation import check_target


class NeighborLSTMRegressor(NeighborLSTMMixin, RegressorMixin, BaseEstimator):
    """Crystal property regression with a two-level LSTM over neighbour lists.

    Element embedding × 1/distance → an LSTM over each atom's neighbour
    sequence (one vector per atom) → an LSTM over the crystal's atoms (one
    vector per crystal) → a dense head. Input: the
    :class:`~sklearn_bandgap.featurizers.NeighborLists` of
    :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`, so a band-gap
    model is ``make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor())``.

    It *wraps* a skorch ``NeuralNetRegressor`` (composition, not subclassing):
    the constructor takes flat, plainly named parameters stored verbatim as
    scikit-learn requires, and ``fit`` builds the skorch net (``net_``) from them.
    Subclassing would expose skorch's own constructor (``module__*``,
    ``iterator_train__*``, prefix routing) as this estimator's parameters.

    Parameters
    ----------
    embedding_dim : int, default=32
        Size of the element embedding.
    atom_hidden : int, default=48
        Hidden size of the LSTM over each atom's neighbours (the bulk of the
        compute: on one CPU core, beside another job, 32 trains the MP set at
        about 21 s an epoch, 48 at 29–34 s, 64 at about 40 s; with 48 and two
        threads alone on two cores, 22 s).
    crystal_hidden : int, default=128
        Hidden size of the LSTM over a crystal's atoms.
    head_hidden : int, default=128
        Width of the dense head's hidden layer. The three sizes default to 48,
        128 and 128 because these were better than 32, 64 and 64 on the
        selection split inside the MP training part (band gap MAE 0.382
        against 0.396 eV, one seed each; ``benchmarks/architecture_options.py``).
    dropout : float, default=0.0
        Dropout in the head.
    distance_expansion : int, default=16
        Gaussians of a distance expansion added to each neighbour's input of
        the atom LSTM (Gaussians evenly spaced on 0–8 Å, as in CGCNN);
        0 is the original design (embedding × 1/distance only). 16 is the
        default because it was clearly better on a selection split inside the
        MP training part (MAE 0.396 against 0.457 eV, 60 epochs;
        ``benchmarks/architecture_options.py``).
    atoms : {"distinct", "sorted", "site"}, default="distinct"
        What the crystal LSTM reads. ``"site"``: every atom in site order (the
        original design; predictions then depend on site order). ``"sorted"``:
        every atom, in a canonical order (by atomic number, then by the
        neighbour list), independent of site order. ``"distinct"``:
        symmetry-equivalent atoms (identical neighbour lists) merged into one
        row carrying their share of the crystal, in the canonical order;
        independent of site order and of the choice of (super)cell, and 2.8×
        fewer rows on the Materials Project set.
    attention_pooling : bool, default=False
        If True, the head also reads an attention-weighted sum of the atom
        vectors (weights by the atoms' shares of the crystal) beside the
        crystal LSTM's final state (see
        :class:`~sklearn_bandgap.models.NeighborLSTM`).
    loss : {"l1", "mse", "huber"}, default="l1"
        Training loss on the standardized targets.
    lr : float, default=2e-3
        AdamW learning rate.
    weight_decay : float, default=1e-5
        AdamW weight decay.
    batch_size : int, default=128
        Crystals per batch.
    max_epochs : int, default=200
        Upper bound on training epochs.
    patience : int, default=15
        Early stopping: epochs without a better validation loss before
        stopping; the learning rate halves after ``patience // 3`` of them.
        The best epoch's weights are restored at the end.
    validation_fraction : float, default=0.1
        Fraction of the training compositions held out for early stopping and
        the learning-rate schedule (whole compositions: polymorphs never sit on
        both sides). 0 disables validation, early stopping and the schedule.
    nonnegative : bool or sequence of int, default=False
        Clip predictions at 0 (band gaps): True clips every output, a sequence
        clips those columns of a 2-D ``y`` only (``[0]`` for a multi-task
        model whose first column is the band gap and second the formation
        energy).
    output_column : int, default=None
        If set, ``predict`` returns this column of a 2-D ``y`` only, as a 1-D
        array: the other columns are auxiliary targets that shape training
        (multi-task) but are not predicted. ``NeighborLSTMRegressor(
        nonnegative=[0], output_column=0)`` fitted on the band gap and the
        formation energy is a band-gap model that scores, cross-validates and
        compares against a 1-D band-gap ``y``.
    handle_unknown : {"warn", "error"}, default="warn"
        What ``predict`` does with structures unlike any seen in ``fit``:
        elements whose embedding was never trained, or neighbour distances far
        outside the range of the training data (below 0.75 x its shortest
        nearest-neighbour distance or above 1.25 x its longest neighbour
        distance, e.g. a lone atom in a large box). ``"warn"`` predicts and
        emits one :class:`~sklearn_bandgap.exceptions.OutOfDomainWarning` for
        the batch (its ``problems`` name every such structure); ``"error"``
        raises :class:`~sklearn_bandgap.exceptions.InvalidStructureError`
        instead. Neighbour lists of another ``n_neighbors`` than in ``fit``
        always raise.
    random_state : int, RandomState instance or None, default=None
        Seeds weights, shuffling, dropout and the validation split: the same
        value gives identical predictions on the CPU with the same number of
        torch threads (across thread counts they differ by ~1e-7, from the
        order of floating-point sums).
    device : str, default="cpu"
        Torch device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or ``"auto"``
        (CUDA when there is one, else the CPU; decided at ``fit``). A CUDA device
        on a machine without one raises a ``ValueError`` before training.
    verbose : int, default=0
        1 prints skorch's table of epochs; 0 prints nothing.
    callbacks : list of skorch callbacks, default=None
        Extra callbacks, passed to the skorch net (e.g. ``Checkpoint``,
        Optuna's ``SkorchPruningCallback``).
    accelerator : accelerate.Accelerator or None, default=None
        Train through Hugging Face accelerate (skorch's ``AccelerateMixin``):
        accelerate places the module and batches (``device`` is then unused),
        mixed precision if the accelerator asks for it, and data-parallel
        training on several GPUs when the script runs under ``accelerate
        launch``. Not saved by :func:`sklearn_bandgap.io.save` (set it to None
        first).

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.history_`` holds the per-epoch losses.
    n_outputs_ : int
        Number of targets.
    y_ndim_ : int
        Dimensions of the ``y`` given to ``fit`` (1 or 2); predictions have the same.
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
        Target standardization.
    elements_seen_ : ndarray of int
        Atomic numbers present in the training data.
    n_neighbors_ : int
        Neighbours per atom of the training lists (each row has one more).
    distance_range_ : ndarray of shape (2,)
        Shortest nearest-neighbour and longest neighbour distance (Å) of the
        training lists: with ``elements_seen_``, the domain ``predict`` checks.
    nonnegative_columns_ : ndarray of int
        The output columns clipped at 0 (from ``nonnegative``).

    Notes
    -----
    The original setting of training on gapped materials only is a filter
    before ``fit``: ``model.fit(lists[y > 0], y[y > 0])``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_bandgap.datasets import load_mp_gap_eform
    >>> from sklearn_bandgap.featurizers import NeighborListFeaturizer
    >>> from sklearn_bandgap.models import NeighborLSTMRegressor
    >>> X, y = load_mp_gap_eform(subset="sample200", return_X_y=True, progress=False)
    >>> model = make_pipeline(
    ...     NeighborListFeaturizer(),
    ...     NeighborLSTMRegressor(max_epochs=2, random_state=0, nonnegative=True),
    ... )
    >>> model.fit(X, y).predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **SKORCH_PARAMETER_CONSTRAINTS,
        **ARCHITECTURE_CONSTRAINTS,
        "loss": [StrOptions({"l1", "mse", "huber"})],
        "nonnegative": ["boolean", "array-like"],
        "output_column": [Interval(Integral, 0, None, closed="left"), None],
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
        loss: str = "l1",
        lr: float = 2e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 128,
        max_epochs: int = 200,
        patience: int = 15,
        validation_fraction: float = 0.1,
        nonnegative: bool | Sequence[int] = False,
        output_column: int | None = None,
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
        self.loss = loss
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.nonnegative = nonnegative
        self.output_column = output_column
        self.handle_unknown = handle_unknown
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.callbacks = callbacks
        self.accelerator = accelerator

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: NeighborLists, y: Any) -> NeighborLSTMRegressor:
        """Train on neighbour lists ``X`` and targets ``y``.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Finite targets.

        Returns
        -------
        self : NeighborLSTMRegressor
            The fitted regressor.
        """
        X = self._check_lists(X)
        y_array = self._check_y(y, len(X))
        self.n_outputs_ = y_array.shape[1]
        self.y_ndim_ = int(np.ndim(y))
        self.nonnegative_columns_ = self._check_nonnegative(self.n_outputs_)
        if self.output_column is not None and self.output_column >= self.n_outputs_:
            raise ValueError(
                f"output_column={self.output_column}, but y has {self.n_outputs_} column(s) "
                f"(indices 0 to {self.n_outputs_ - 1})."
            )
        self.y_mean_ = y_array.mean(axis=0)
        scale = y_array.std(axis=0)
        self.y_scale_ = np.where(scale > 0, scale, 1.0)
        self._learn_domain(X)
        seed = seed_torch(self.random_state)
        self.net_ = self._build_net(seed)
        y_scaled = ((y_array - self.y_mean_) / self.y_scale_).astype(np.float32)
        self.net_.fit(self._model_input(X), y_scaled)
        return self

    def predict(self, X: NeighborLists) -> np.ndarray:
        """Predict the target(s) of each structure.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Shaped like the ``y`` given to ``fit``; 1-D with ``output_column``.
        """
        check_is_fitted(self)
        X = self._check_lists(X)
        self._check_domain(X)
        scaled = self.net_.predict(self._model_input(X)).astype(np.float64)
        y_pred = scaled * self.y_scale_ + self.y_mean_
        cols = self.nonnegative_columns_
        y_pred[:, cols] = np.maximum(y_pred[:, cols], 0.0)
        if self.output_column is not None:
            return y_pred[:, self.output_column]
        return y_pred[:, 0] if self.y_ndim_ == 1 else y_pred

    def __sklearn_tags__(self) -> Tags:
        tags = self._input_tags(super().__sklearn_tags__())
        tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _check_y(y: Any, n_samples: int) -> np.ndarray:
        y_array = check_target(y, n_samples)
        return y_array[:, None] if y_array.ndim == 1 else y_array

    def _check_nonnegative(self, n_outputs: int) -> np.ndarray:
        if isinstance(self.nonnegative, bool | np.bool_):
            return np.arange(n_outputs if self.nonnegative else 0)
        columns = np.asarray(self.nonnegative)
        if columns.ndim != 1 or not np.issubdtype(columns.dtype, np.integer):
            raise ValueError(
                f"nonnegative must be a bool or a sequence of column indices, got "
                f"{self.nonnegative!r}."
            )
        outside = columns[(columns < 0) | (columns >= n_outputs)]
        if outside.size:
            raise ValueError(
                f"nonnegative names columns {outside.tolist()}, but y has {n_outputs} "
                f"column(s) (indices 0 to {n_outputs - 1})."
            )
        return np.unique(columns)

    def _build_net(self, seed: int | None) -> NeuralNetRegressor:
        criteria = {"l1": torch.nn.L1Loss, "mse": torch.nn.MSELoss, "huber": torch.nn.HuberLoss}
        return net_class(NeuralNetRegressor, self.accelerator)(
            **self._module_kwargs(self.n_outputs_),
            criterion=criteria[self.loss],
            iterator_train__collate_fn=collate_neighbor_lists,
            iterator_train__shuffle=True,
            iterator_valid__collate_fn=collate_neighbor_lists,
            **skorch_net_kwargs(self, seed),
        )
