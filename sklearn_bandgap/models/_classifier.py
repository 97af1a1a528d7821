"""``NeighborLSTMClassifier``: the two-level LSTM as a scikit-learn classifier."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback

from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.models._base import BaseNeighborLSTM, fill_shared_docs
from sklearn_bandgap.models._module import ENVELOPE_START


@fill_shared_docs
class NeighborLSTMClassifier(ClassifierMixin, BaseNeighborLSTM):
    """Crystal classification (metal or not, ...) with the two-level LSTM over neighbour lists.

    The network of :class:`NeighborLSTMRegressor` (element embedding ×
    1/distance → atom LSTM → crystal aggregation → dense head, the same module) with
    one output per class, trained with cross-entropy through skorch's
    ``NeuralNetClassifier``: probabilities are the softmax of the head. The
    training policy (composition-grouped validation split, early stopping with
    the best epoch restored, plateau learning-rate schedule) and the domain
    check in ``predict`` are the regressor's. A metal classifier is
    ``make_pipeline(NeighborListFeaturizer(), NeighborLSTMClassifier())`` fitted
    on ``band_gap > 0``.

    Parameters
    ----------
    {architecture_parameters}
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss (scikit-learn's convention:
        ``"balanced"`` weighs each class by ``n_samples / (n_classes *
        count)``).
    {training_parameters}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    class_weight_ : ndarray of shape (n_classes,)
        The weights used in the loss (ones without ``class_weight``).
    net_ : skorch.NeuralNetClassifier
        The trained net.
    {domain_attributes}

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
        **BaseNeighborLSTM._parameter_constraints,
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
        neighbors: str = "shells",
        atoms: str = "pooled",
        attention_pooling: bool = False,
        envelope_start: float = ENVELOPE_START,
        interaction_layers: int = 0,
        message_layers: int = 0,
        distance_noise: float = 0.0,
        class_weight: dict[Any, float] | str | None = None,
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
        self.class_weight = class_weight

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
        proba = self._net_outputs(X, method="predict_proba")
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

    def _encode_targets(self, y: Any, n_samples: int) -> np.ndarray:
        """Class labels to 0..n_classes-1; the class weights of the loss."""
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n_samples:
            raise ValueError(f"y must be 1-D with one label per structure, got shape {y.shape}.")
        check_classification_targets(y)
        if self._continuing():  # warm start: the same classes, the first fit's weights
            classes: np.ndarray = getattr(self, "classes_")  # noqa: B009 (an earlier fit's)
            unknown = sorted(set(np.unique(y).tolist()) - set(classes.tolist()))
            if unknown:
                raise ValueError(
                    f"warm_start=True continues a model of classes {classes.tolist()}, "
                    f"but y holds {unknown}; for other classes use init= instead."
                )
            kept: np.ndarray = np.asarray(np.searchsorted(classes, y), dtype=np.int64)
            return kept
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"y holds one class only ({self.classes_[0]!r}): nothing to learn.")
        self.class_weight_ = (
            compute_class_weight(self.class_weight, classes=self.classes_, y=y)
            if self.class_weight is not None
            else np.ones(len(self.classes_))
        )
        encoded: np.ndarray = encoder.transform(y).astype(np.int64)
        return encoded

    def _net_settings(self) -> dict[str, Any]:
        return {
            "net": NeuralNetClassifier,
            "n_outputs": len(self.classes_),
            "criterion": torch.nn.CrossEntropyLoss,
            "criterion__weight": torch.as_tensor(self.class_weight_, dtype=torch.float32),
            "classes": np.arange(len(self.classes_)),
        }
