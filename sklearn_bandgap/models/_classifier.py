"""``NeighborLSTMClassifier``: the two-level LSTM as a scikit-learn classifier."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Tags
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback

from sklearn_bandgap._nn._training import (
    SKORCH_PARAMETER_CONSTRAINTS,
    net_class,
    seed_torch,
    skorch_net_kwargs,
)
from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.models._base import ARCHITECTURE_CONSTRAINTS, NeighborLSTMMixin
from sklearn_bandgap.models._collate import collate_neighbor_lists


class NeighborLSTMClassifier(NeighborLSTMMixin, ClassifierMixin, BaseEstimator):
    """Crystal classification (metal or not, ...) with the two-level LSTM over neighbour lists.

    The network of :class:`NeighborLSTMRegressor` (element embedding ×
    1/distance → atom LSTM → crystal LSTM → dense head, the same module) with
    one output per class, trained with cross-entropy through skorch's
    ``NeuralNetClassifier``: probabilities are the softmax of the head. The
    training policy (composition-grouped validation split, early stopping with
    the best epoch restored, plateau learning-rate schedule) and the domain
    check in ``predict`` are the regressor's. A metal classifier is
    ``make_pipeline(NeighborListFeaturizer(), NeighborLSTMClassifier())`` fitted
    on ``band_gap > 0``.

    Parameters
    ----------
    embedding_dim, atom_hidden, crystal_hidden, head_hidden : int, default=32, 48, 128, 128
        Network sizes, as in :class:`NeighborLSTMRegressor`.
    dropout : float, default=0.0
        Dropout in the head.
    distance_expansion : int, default=16
        Gaussians of the distance expansion (0: the original design).
    atoms : {"distinct", "sorted", "site"}, default="distinct"
        What the crystal LSTM reads (see :class:`NeighborLSTMRegressor`).
    attention_pooling : bool, default=False
        Attention-weighted sum of the atom vectors beside the crystal state.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss (scikit-learn's convention:
        ``"balanced"`` weighs each class by ``n_samples / (n_classes *
        count)``).
    lr : float, default=2e-3
        AdamW learning rate.
    weight_decay : float, default=1e-5
        AdamW weight decay.
    batch_size : int, default=128
        Crystals per batch.
    max_epochs : int, default=200
        Upper bound on training epochs.
    patience : int, default=15
        Early stopping patience (epochs without a better validation loss).
    validation_fraction : float, default=0.1
        Fraction of the training compositions held out for early stopping.
    handle_unknown : {"warn", "error"}, default="warn"
        What ``predict`` and ``predict_proba`` do with structures outside
        what the model was fitted on (see :class:`NeighborLSTMRegressor`).
    random_state : int, RandomState instance or None, default=None
        Seeds weights, shuffling, dropout and the validation split.
    device : str, default="cpu"
        Torch device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or ``"auto"``
        (CUDA when there is one, else the CPU; decided at ``fit``). A CUDA device
        on a machine without one raises a ``ValueError`` before training.
    verbose : int, default=0
        1 prints skorch's table of epochs.
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
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    class_weight_ : ndarray of shape (n_classes,)
        The weights used in the loss (ones without ``class_weight``).
    net_ : skorch.NeuralNetClassifier
        The trained net.
    elements_seen_, n_neighbors_, distance_range_
        The fitted domain, as in :class:`NeighborLSTMRegressor`.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_bandgap.datasets import load_mp_gap_eform
    >>> from sklearn_bandgap.featurizers import NeighborListFeaturizer
    >>> from sklearn_bandgap.models import NeighborLSTMClassifier
    >>> X, y = load_mp_gap_eform(subset="sample200", return_X_y=True, progress=False)
    >>> model = make_pipeline(NeighborListFeaturizer(), NeighborLSTMClassifier(max_epochs=2))
    >>> model.fit(X, y > 0).predict_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **SKORCH_PARAMETER_CONSTRAINTS,
        **ARCHITECTURE_CONSTRAINTS,
        "class_weight": [dict, StrOptions({"balanced"}), None],
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
        class_weight: dict[Any, float] | str | None = None,
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
        self.class_weight = class_weight
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
    def fit(self, X: NeighborLists, y: Any) -> NeighborLSTMClassifier:
        """Train on neighbour lists ``X`` and class labels ``y``.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.
        y : array-like of shape (n_samples,)
            Class labels (two or more classes).

        Returns
        -------
        self : NeighborLSTMClassifier
            The fitted classifier.
        """
        X = self._check_lists(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one label per structure, got shape {y.shape}.")
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"y holds one class only ({self.classes_[0]!r}): nothing to learn.")
        encoded = encoder.transform(y).astype(np.int64)
        self.class_weight_ = (
            compute_class_weight(self.class_weight, classes=self.classes_, y=y)
            if self.class_weight is not None
            else np.ones(len(self.classes_))
        )
        self._learn_domain(X)
        self.net_ = self._build_net(seed_torch(self.random_state))
        self.net_.fit(self._model_input(X), encoded)
        return self

    def predict_proba(self, X: NeighborLists) -> np.ndarray:
        """Probability of each class for each structure.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        X = self._check_lists(X)
        self._check_domain(X)
        proba = self.net_.predict_proba(self._model_input(X)).astype(np.float64)
        return proba / proba.sum(axis=1, keepdims=True)  # float32 softmax, renormalised

    def predict(self, X: NeighborLists) -> np.ndarray:
        """The most probable class of each structure.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Elements of ``classes_``.
        """
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self) -> Tags:
        return self._input_tags(super().__sklearn_tags__())

    def _build_net(self, seed: int | None) -> NeuralNetClassifier:
        return net_class(NeuralNetClassifier, self.accelerator)(
            **self._module_kwargs(len(self.classes_)),
            criterion=torch.nn.CrossEntropyLoss,
            criterion__weight=torch.as_tensor(self.class_weight_, dtype=torch.float32),
            classes=np.arange(len(self.classes_)),
            iterator_train__collate_fn=collate_neighbor_lists,
            iterator_train__shuffle=True,
            iterator_valid__collate_fn=collate_neighbor_lists,
            **skorch_net_kwargs(self, seed),
        )
