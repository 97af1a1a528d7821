"""``NeighborLSTMRegressor``: the two-level LSTM as a scikit-learn regressor."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval, StrOptions
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback

from sklearn_bandgap.exceptions import ConstantPredictionWarning, OutOfDomainWarning
from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.models._base import BaseNeighborLSTM, fill_shared_docs
from sklearn_bandgap.models._init import output_layer, resolve_source
from sklearn_bandgap.models._loss import WeightedOutputLoss, check_output_weights
from sklearn_bandgap.models._module import ENVELOPE_START
from sklearn_bandgap.utils import take
from sklearn_bandgap.utils._validation import check_target

#: Training structures the constant-prediction check predicts after fit (a sample).
CONSTANT_CHECK_ROWS = 2000


@fill_shared_docs
class NeighborLSTMRegressor(RegressorMixin, BaseNeighborLSTM):
    """Crystal property regression with a two-level LSTM over neighbour lists.

    Element embedding × 1/distance → an LSTM over each atom's neighbours (one
    vector per atom) → the crystal's atoms aggregated into one vector (a
    symmetric pooling by default, the seed's crystal LSTM on request) → a dense
    head; see :class:`~sklearn_bandgap.models.NeighborLSTM`. With the defaults
    the prediction is a continuous function of the positions and the lattice,
    and exactly invariant to site order, supercells, rotation, translation and
    the choice of cell. Input: the
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
    {architecture_parameters}
    loss : {"l1", "mse", "huber"}, default="l1"
        Training loss on the standardized targets.
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
    output_weights : sequence of float, default=None
        One positive weight per column of a 2-D ``y``: the training and
        validation loss (so early stopping too) is the weighted mean over
        columns of each column's loss on the standardized targets, so that the
        headline target can count more than auxiliary ones (``[1, 0.25]``: the
        second column a quarter as much). None: every column alike (the
        unweighted loss).
    missing_targets : {"error", "ignore"}, default="error"
        What a NaN in ``y`` means. "error": refused (the rows are named).
        "ignore": a target that was not measured; it is left out of the
        training and validation loss (each column's loss averages over its
        present values), while the row still trains the columns it has, so an
        auxiliary column with gaps (a Fermi level missing for a few crystals)
        need not be filled in. Every row and every column must keep at least
        one number; infinite values are always refused. The standardization
        (``y_mean_``, ``y_scale_``) uses the present values.
    init_output : int, sequence of int or None, default=None
        With ``init``: start each output of the new output layer from an
        output of the source network (its column index; one index per column
        of ``y``, or a single int for a 1-D ``y``), rescaled to the targets by
        the least-squares line of the training targets on that output. Training
        then starts from the source's predictions instead of a random output
        layer: e.g. ``init="band_gap_mp2018", init_output=0`` fine-tunes the
        shipped gap output on another functional's gaps, ``init_output=1`` its
        formation-energy output on another energy. None: a new output layer.
    distil_atom_features : float, default=0.0
        Feature distillation. 0: atom features that ``X`` carries (e.g.
        ``NeighborListFeaturizer(atom_features="chgnet")``) are inputs, as
        usual. Above 0: they are *targets* instead. A linear layer maps each
        atom's vector (after the message layers) to the atom's features,
        standardized over the training atoms, and this weight times their
        mean squared error (share-weighted over each crystal's atoms,
        averaged over crystals and features) joins the training loss; the
        validation loss, and so early stopping, stays the targets' alone.
        The network so learns, from a pretrained potential's view of each
        atom, a representation it then computes from the neighbour lists
        alone: prediction needs no atom features (lists that carry them are
        accepted and the features ignored), so it runs at the speed of a
        model without them. In a pipeline, set the featurizer's
        ``atom_features=None`` after ``fit`` so that prediction does not
        compute them.
    {training_parameters}

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
    {domain_attributes}
    nonnegative_columns_ : ndarray of int
        The output columns clipped at 0 (from ``nonnegative``).
    output_weights_ : ndarray of shape (n_outputs,) or None
        The loss weights of the columns (from ``output_weights``).
    n_atom_features_ : int
        Atom features per atom the network reads as inputs (0: none).
    n_distilled_features_ : int
        Atom features per atom it learnt as targets (``distil_atom_features``;
        0: none).

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
        **BaseNeighborLSTM._parameter_constraints,
        "loss": [StrOptions({"l1", "mse", "huber"})],
        "nonnegative": ["boolean", "array-like"],
        "output_column": [Interval(Integral, 0, None, closed="left"), None],
        "output_weights": ["array-like", None],
        "missing_targets": [StrOptions({"error", "ignore"})],
        "init_output": [Interval(Integral, 0, None, closed="left"), "array-like", None],
        "distil_atom_features": [Interval(Real, 0, None, closed="left")],
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
        loss: str = "l1",
        nonnegative: bool | Sequence[int] = False,
        output_column: int | None = None,
        output_weights: Sequence[float] | None = None,
        missing_targets: str = "error",
        init_output: int | Sequence[int] | None = None,
        distil_atom_features: float = 0.0,
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
        self.loss = loss
        self.nonnegative = nonnegative
        self.output_column = output_column
        self.output_weights = output_weights
        self.missing_targets = missing_targets
        self.init_output = init_output
        self.distil_atom_features = distil_atom_features

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
        y_pred = self._net_outputs(X) * self.y_scale_ + self.y_mean_
        cols = self.nonnegative_columns_
        y_pred[:, cols] = np.maximum(y_pred[:, cols], 0.0)
        if self.output_column is not None:
            return y_pred[:, self.output_column]
        return y_pred[:, 0] if self.y_ndim_ == 1 else y_pred

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------------ internals
    def _distilled_features(self) -> float:
        return float(getattr(self, "distil_atom_features", 0.0))

    def _encode_targets(self, y: Any, n_samples: int) -> np.ndarray:
        """Standardize the targets (one column per output; NaN kept where allowed)."""
        y_array = check_target(
            y,
            n_samples,
            allow_missing=self.missing_targets == "ignore",
            missing_hint="If NaN marks a target that was not measured, "
            "missing_targets='ignore' leaves it out of the loss.",
        )
        y_array = y_array[:, None] if y_array.ndim == 1 else y_array
        weights = (
            None
            if self.output_weights is None
            else check_output_weights(self.output_weights, y_array.shape[1])
        )
        if self._continuing():  # warm start: the same outputs, the first fit's scaling
            n_outputs: int = getattr(self, "n_outputs_")  # noqa: B009 (set by an earlier fit)
            if y_array.shape[1] != n_outputs:
                raise ValueError(
                    f"warm_start=True continues a model of {n_outputs} output(s), but y "
                    f"has {y_array.shape[1]} column(s); for another target use init= instead."
                )
            self.output_weights_ = weights
            mean, scale = getattr(self, "y_mean_"), getattr(self, "y_scale_")  # noqa: B009
            kept: np.ndarray = ((y_array - mean) / scale).astype(np.float32)
            return kept
        self.n_outputs_ = y_array.shape[1]
        self.output_weights_ = weights
        self.y_ndim_ = int(np.ndim(y))
        self.nonnegative_columns_ = self._check_nonnegative(self.n_outputs_)
        if self.output_column is not None and self.output_column >= self.n_outputs_:
            raise ValueError(
                f"output_column={self.output_column}, but y has {self.n_outputs_} column(s) "
                f"(indices 0 to {self.n_outputs_ - 1})."
            )
        self.y_mean_ = np.nanmean(y_array, axis=0)  # the plain mean without missing targets
        scale = np.nanstd(y_array, axis=0)
        self.y_scale_ = np.where(scale > 0, scale, 1.0)
        scaled: np.ndarray = ((y_array - self.y_mean_) / self.y_scale_).astype(np.float32)
        return scaled

    def _head_state(
        self, source: Any, X: NeighborLists, targets: np.ndarray
    ) -> dict[str, torch.Tensor]:
        """The new output layer from the source's outputs ``init_output`` (see the parameter)."""
        if self.init_output is None:
            return {}
        columns = self._init_columns(source, targets.shape[1])
        raw = _quiet_net_outputs(source, X)
        layer = output_layer(source.net_.module_)
        weight = source.net_.module_.state_dict()[f"{layer}.weight"].detach().cpu().double()
        bias = source.net_.module_.state_dict()[f"{layer}.bias"].detach().cpu().double()
        new_weight = torch.empty(len(columns), weight.shape[1], dtype=torch.float64)
        new_bias = torch.empty(len(columns), dtype=torch.float64)
        for j, k in enumerate(columns):
            present = ~np.isnan(targets[:, j])
            slope, intercept = _least_squares_line(raw[present, k], targets[present, j])
            new_weight[j] = slope * weight[k]
            new_bias[j] = slope * bias[k] + intercept
        return {f"{layer}.weight": new_weight.float(), f"{layer}.bias": new_bias.float()}

    def _init_columns(self, source: Any, n_targets: int) -> np.ndarray:
        """``init_output`` as checked column indices of the source's outputs."""
        columns = np.atleast_1d(np.asarray(self.init_output))
        if columns.ndim != 1 or not np.issubdtype(columns.dtype, np.integer):
            raise ValueError(
                f"init_output must be an int or a sequence of ints, got {self.init_output!r}."
            )
        if len(columns) != n_targets:
            raise ValueError(
                f"init_output names {len(columns)} source output(s), but y has "
                f"{n_targets} column(s): give one source output per column."
            )
        if not hasattr(source, "y_scale_"):
            raise ValueError(
                f"init_output: the source is a {type(source).__name__}, not a regressor; "
                "its outputs are not targets to start from (leave init_output=None)."
            )
        n_source: int = source.n_outputs_
        outside = columns[(columns < 0) | (columns >= n_source)]
        if outside.size:
            raise ValueError(
                f"init_output names output(s) {outside.tolist()}, but the source has "
                f"{n_source} (indices 0 to {n_source - 1})."
            )
        return columns

    def starting_outputs(self, X: NeighborLists, n_targets: int) -> np.ndarray | None:
        """The source outputs that ``fit`` starts each target column from, in their units.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.
        n_targets : int
            Columns of the ``y`` the model is about to be fitted on.

        Returns
        -------
        outputs : ndarray of shape (n_samples, n_targets) or None
            Column ``j`` is the source's output ``init_output[j]`` on ``X``
            (what :class:`CompositionBaselineRegressor` fits its references
            jointly with); None without ``init`` and ``init_output``.
        """
        if self.init is None or self.init_output is None:
            return None
        source = resolve_source(self.init)
        columns = self._init_columns(source, n_targets)
        raw = _quiet_net_outputs(source, X)[:, columns]
        outputs: np.ndarray = raw * source.y_scale_[columns] + source.y_mean_[columns]
        return outputs

    def _after_fit(self, X: NeighborLists, targets: np.ndarray) -> None:
        """Warn when the fitted net predicts nearly one value for every training structure."""
        rows = np.arange(len(X))
        if len(rows) > CONSTANT_CHECK_ROWS:
            rows = np.sort(np.random.default_rng(0).choice(rows, CONSTANT_CHECK_ROWS, False))
        # fork: a DataLoader draws its base seed from torch's global generator, which
        # fit leaves as it found it
        outputs = _quiet_net_outputs(self, take(X, rows))
        spread, target_spread = outputs.std(axis=0), _present_spread(targets[rows])
        for column in np.flatnonzero((target_spread > 0) & (spread < 0.01 * target_spread)):
            y = targets[:, column] * self.y_scale_[column] + self.y_mean_[column]
            zeros = float(np.mean(np.isclose(y[~np.isnan(y)], 0.0)))
            value = float(outputs[:, column].mean() * self.y_scale_[column] + self.y_mean_[column])
            cause = (
                f"{zeros:.0%} of the targets are 0 and the {self.loss!r} loss is minimised by "
                "their median"
                if zeros >= 0.5 and self.loss == "l1"
                else "the network found no signal it could fit"
            )
            warnings.warn(
                f"{type(self).__name__} predicts nearly the same value ({value:.4g}) for every "
                f"training structure (output {column}: spread {spread[column]:.2g} against the "
                f"target's {target_spread[column]:.2g}, in standardized units): {cause}. "
                "Options: loss='mse' (the mean, not the median), ZeroInflatedRegressor("
                "NeighborLSTMClassifier(), NeighborLSTMRegressor()) for a mostly-zero target, "
                "or more epochs / another learning rate.",
                ConstantPredictionWarning,
                stacklevel=4,
            )

    def _check_nonnegative(self, n_outputs: int) -> np.ndarray:
        if isinstance(self.nonnegative, bool | np.bool_):
            return np.arange(n_outputs if self.nonnegative else 0)
        columns = np.asarray(self.nonnegative)
        if columns.size == 0:  # no column clipped (e.g. a multi-task model without gaps)
            return np.arange(0)
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

    def _net_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"net": NeuralNetRegressor, "n_outputs": self.n_outputs_}
        weights = getattr(self, "output_weights_", None)  # absent from files saved before it
        skip_missing = self.missing_targets == "ignore"
        feature_weight = float(self.distil_atom_features) if self._distilled_features() else 0.0
        if weights is None and not skip_missing and not feature_weight:
            criteria = {"l1": torch.nn.L1Loss, "mse": torch.nn.MSELoss, "huber": torch.nn.HuberLoss}
            return {**settings, "criterion": criteria[self.loss]}
        if weights is None:
            weights = np.ones(self.n_outputs_)
        return {
            **settings,
            "criterion": WeightedOutputLoss,
            "criterion__kind": self.loss,
            "criterion__weights": torch.as_tensor(weights, dtype=torch.float32),
            "criterion__skip_missing": skip_missing,
            "criterion__feature_weight": feature_weight,
        }


def _quiet_net_outputs(source: Any, X: NeighborLists) -> np.ndarray:
    """A fitted model's raw (standardized) net outputs on ``X``, domain warnings silenced.

    The torch generator is forked: a DataLoader draws its base seed from torch's
    global generator, which ``fit`` leaves as it found it.
    """
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore", OutOfDomainWarning)
        raw: np.ndarray = source._net_outputs(X)
    return raw


def _present_spread(targets: np.ndarray) -> np.ndarray:
    """Standard deviation of each column over its present (non-NaN) values, 0 for none."""
    spread = np.zeros(targets.shape[1])
    for column in range(targets.shape[1]):
        values = targets[:, column]
        values = values[~np.isnan(values)]
        spread[column] = values.std() if len(values) else 0.0
    return spread


def _least_squares_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the least-squares line of ``y`` on ``x`` (flat when x is)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    spread = float(np.var(x))
    if spread <= 0:
        return 0.0, float(np.mean(y))
    slope = float(np.mean((x - x.mean()) * (y - y.mean())) / spread)
    return slope, float(y.mean() - slope * x.mean())
