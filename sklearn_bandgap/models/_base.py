"""One base for the neighbour-list LSTM estimators: parameters, inputs, fit/predict template.

In the manner of scikit-learn's ``BaseForest``: the shared parameters, their
constraints and docstrings, the input and domain checks and the fit/predict
template live here once; each estimator (regressor, classifier, two-head)
chooses its target encoding (:meth:`BaseNeighborLSTM._encode_targets`), its
net class and loss (:meth:`BaseNeighborLSTM._net_settings`) and how it turns
the network's outputs into predictions.
"""

from __future__ import annotations

import os
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import Tags
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from sklearn_bandgap._nn._training import (
    LR_SCHEDULES,
    SKORCH_PARAMETER_CONSTRAINTS,
    fit_net,
    net_class,
    seed_of,
    skorch_net_kwargs,
)
from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.models._collate import (
    CrystalItem,
    NoisyDistanceCollate,
    collate_neighbor_lists,
)
from sklearn_bandgap.models._domain import (
    domain_problems,
    neighbor_distance_range,
    report_out_of_domain,
)
from sklearn_bandgap.models._environments import (
    canonical_rows,
    composition_keys,
    distinct_environments,
)
from sklearn_bandgap.models._init import body_state, resolve_source
from sklearn_bandgap.models._module import ENVELOPE_START, NeighborLSTM

#: Constraints of the network and domain parameters the LSTM estimators share.
ARCHITECTURE_CONSTRAINTS: dict[str, list[Any]] = {
    "embedding_dim": [Interval(Integral, 1, None, closed="left")],
    "atom_hidden": [Interval(Integral, 1, None, closed="left")],
    "crystal_hidden": [Interval(Integral, 1, None, closed="left")],
    "head_hidden": [Interval(Integral, 1, None, closed="left")],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "distance_expansion": [Options(Integral, {0}), Interval(Integral, 2, None, closed="left")],
    "neighbors": [StrOptions({"shells", "sequence"})],
    "atoms": [StrOptions({"pooled", "distinct", "sorted", "site"})],
    "attention_pooling": ["boolean"],
    "envelope_start": [Interval(Real, 0, 1, closed="left")],
    "interaction_layers": [Interval(Integral, 0, None, closed="left")],
    "message_layers": [Interval(Integral, 0, None, closed="left")],
    "distance_noise": [Interval(Real, 0, None, closed="left")],
    "ema_epochs": [Interval(Real, 0, None, closed="left")],
    "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
    "handle_unknown": [StrOptions({"warn", "error"})],
    "warm_start": ["boolean"],
    "init": [str, os.PathLike, HasMethods(["predict"]), None],
}

#: The values that reproduce the network of files written before a parameter
#: existed (model files carry ``architecture_version``; see ``io``).
LEGACY_PARAMETERS: dict[str, Any] = {
    "neighbors": "sequence",
    "envelope_start": ENVELOPE_START,
    "interaction_layers": 0,
    "message_layers": 0,
    "distance_noise": 0.0,
}

#: Version of the network design; written into model files and model cards.
#: 1: distance-ordered neighbour sequence and a crystal LSTM over sorted rows
#: (not continuous in the positions); 2: smooth radial shells and pooled atoms.
ARCHITECTURE_VERSION = 2

#: How ``fit`` draws its early-stopping validation part (``validation_split_version_``):
#: 1 (models without the attribute): groups read from the merged atom rows, which
#: count each distinct environment once, so polymorphs could land on both sides;
#: 2: groups are the reduced formulas of the whole crystals.
VALIDATION_SPLIT_VERSION = 2

#: The numpydoc entries of the shared parameters, pasted into each estimator's
#: docstring where it says ``{architecture_parameters}`` or ``{training_parameters}``.
SHARED_PARAMETER_DOCS = {
    "architecture_parameters": """\
embedding_dim : int, default=32
    Size of the element embedding.
atom_hidden : int, default=48
    Hidden size of the LSTM over each atom's neighbours (the bulk of the
    compute).
crystal_hidden : int, default=128
    Width of the crystal level: the transform of each atom vector before
    pooling (``atoms="pooled"``) or the hidden size of the crystal LSTM.
head_hidden : int, default=128
    Width of the dense head's hidden layer. 48, 128 and 128 were better than
    32, 64 and 64 on the selection split inside the MP training part
    (``benchmarks/architecture_options.py``).
dropout : float, default=0.0
    Dropout in the head.
distance_expansion : int, default=16
    Gaussians evenly spaced on 0–8 Å. With ``neighbors="shells"`` they are
    the radial shells the atom LSTM steps through (at least 2); with
    ``"sequence"`` they are appended to each neighbour's input (0: none, the
    seed's design).
neighbors : {"shells", "sequence"}, default="shells"
    How the atom LSTM reads an atom's neighbours. ``"shells"``: the centre,
    then a fixed grid of radial shells, each a smooth sum over the neighbours
    (embedding × 1/distance × shell Gaussian × an envelope that takes the
    neighbours to 0 at the last listed one): continuous in the positions and
    symmetric among equidistant neighbours. ``"sequence"``: the seed's design,
    one step per neighbour nearest first, ties ordered by element; *not
    continuous*: noise of 1e-4 Å that breaks a tie or moves the last
    neighbour across the cut changes the input.
atoms : {"pooled", "distinct", "sorted", "site"}, default="pooled"
    How a crystal's atom vectors become one vector. ``"pooled"``: a
    share-weighted mean and an attention-weighted sum of the transformed atom
    vectors (symmetric, continuous; rows equal bit for bit are merged, which
    changes nothing but the cost). The others are the seed's crystal LSTM,
    *not continuous*: it reads ``"site"`` every atom in site order (depends on
    site order), ``"sorted"`` every atom in a canonical order, ``"distinct"``
    atoms with neighbour lists equal on a 1e-3 Å grid merged into one row with
    their share, in the canonical order.
attention_pooling : bool, default=False
    With a crystal LSTM (``atoms`` other than ``"pooled"``, which always
    has it): the head also reads an attention-weighted sum of the atom vectors.
envelope_start : float, default=0.75
    With ``neighbors="shells"``: where the envelope that takes the neighbours
    to 0 at the last listed one starts to fall, as a fraction of that
    neighbour's distance. Lower is gentler (a smaller response to noise near
    the edge) and weighs more of the inner neighbours down.
interaction_layers : int, default=0
    With ``atoms="pooled"``: residual layers before the pooling that update
    each atom's vector from itself and the crystal's share-weighted mean
    vector (symmetric, continuous and exact under supercells), so that it
    depends on the other atoms, as the seed's crystal LSTM let it.
message_layers : int, default=0
    With ``atoms="pooled"``: residual layers after the atom transform that
    update each atom's vector from the vectors of the atoms in its neighbour
    list (message passing: each neighbour sends its atom's vector times a
    learned filter of its distance and the envelope that takes it to 0 at
    the last listed neighbour), so that an atom's vector sees its
    neighbours' environments. Continuous, symmetric among tied neighbours
    and exact under supercells. Needs the lists of
    ``NeighborListFeaturizer.transform``, which carry each neighbour's site
    (``NeighborLists.neighbor_sites``).""",
    "training_parameters": """\
lr : float, default=2e-3
    AdamW learning rate.
weight_decay : float, default=1e-5
    AdamW weight decay.
batch_size : int, default=128
    Crystals per batch.
max_epochs : int, default=200
    Upper bound on training epochs.
patience : int, default=15
    Early stopping: epochs without a better validation loss before stopping;
    with the plateau schedule the learning rate halves after ``patience //
    3`` of them. The best epoch's weights are restored at the end.
ema_epochs : float, default=0.0
    Train with an exponential moving average of the weights spanning about
    this many epochs (per-step decay ``1 - 1 / (ema_epochs x batches per
    epoch)``, so the same value suits any data size): validation, early
    stopping, the schedule and the fitted model use the averaged weights.
    0 uses the raw weights.
lr_schedule : {"plateau", "cosine"}, default="plateau"
    ``"plateau"`` halves the learning rate when the validation loss stalls
    (``patience // 3`` epochs); ``"cosine"`` anneals it from ``lr`` to 0
    along a half cosine over ``max_epochs`` epochs, whether or not early
    stopping ends training sooner (so ``max_epochs`` sets its length).
validation_fraction : float, default=0.1
    Fraction of the training compositions held out for early stopping and
    the plateau schedule (whole compositions: polymorphs never sit on both
    sides). 0 disables validation, early stopping and the plateau schedule;
    a cosine schedule needs no validation and still runs.
handle_unknown : {"warn", "error"}, default="warn"
    What prediction does with structures unlike any seen in ``fit``:
    elements whose embedding was never trained, or neighbour distances far
    outside the range of the training data (below 0.75 x its shortest
    nearest-neighbour distance or above 1.25 x its longest neighbour
    distance). ``"warn"`` predicts and emits one
    :class:`~sklearn_bandgap.exceptions.OutOfDomainWarning` for the batch
    (its ``problems`` name every such structure); ``"error"`` raises
    :class:`~sklearn_bandgap.exceptions.InvalidStructureError` instead.
    Neighbour lists of another ``n_neighbors`` than in ``fit`` always raise.
random_state : int, RandomState instance or None, default=None
    Seeds weights, shuffling, dropout and the validation split: the same
    value gives identical predictions on the CPU with the same number of
    torch threads (across thread counts they differ by ~1e-7).
device : str, default="cpu"
    Torch device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or ``"auto"``
    (CUDA when there is one, else the CPU; decided at ``fit``). A CUDA device
    on a machine without one raises a ``ValueError`` before training.
verbose : int, default=0
    1 prints skorch's table of epochs; 0 prints nothing.
callbacks : list of skorch callbacks, default=None
    Extra callbacks, passed to the skorch net (e.g. ``Checkpoint``, Optuna's
    ``SkorchPruningCallback``).
accelerator : accelerate.Accelerator or None, default=None
    Train through Hugging Face accelerate (skorch's ``AccelerateMixin``):
    accelerate places the module and batches (``device`` is then unused),
    mixed precision if the accelerator asks for it, and data-parallel
    training on several GPUs under ``accelerate launch``. Not saved by
    :func:`sklearn_bandgap.io.save` (set it to None first).
warm_start : bool, default=False
    scikit-learn's convention: when the model is already fitted, ``fit``
    continues from its current weights (and its target encoding: the same
    outputs, the first fit's scaling) on the data it is given, for
    ``max_epochs`` more epochs at most; the domain becomes both fits' data.
    False: every ``fit`` starts from new weights.
init : str, path, fitted estimator or None, default=None
    Fine-tuning: start from another model's network. A shipped model's name
    (``"band_gap_mp2018"``), a saved file, or a fitted estimator (wrapped in
    ``sklearn.frozen.FrozenEstimator`` so that ``clone`` keeps it): an LSTM
    estimator, or a pipeline, seed ensemble or conformal wrapper holding one
    (its first member). Every layer but the output layer starts from the
    source's weights and all are trained; the output layer and the target
    scaling are new, so the target may be another property. The network
    parameters (``embedding_dim``, ..., ``interaction_layers``) must equal
    the source's: :func:`architecture_of` gives them. Ignored when
    ``warm_start`` continues a fitted model.""",
    "domain_attributes": """\
elements_seen_ : ndarray of int
    Atomic numbers present in the training data.
n_neighbors_ : int
    Neighbours per atom of the training lists (each row has one more).
distance_range_ : ndarray of shape (2,)
    Shortest nearest-neighbour and longest neighbour distance (Å) of the
    training lists: with ``elements_seen_``, the domain prediction checks.
validation_split_version_ : int
    How the early-stopping validation part was drawn (2: whole reduced
    formulas held out; models saved without it: 1).""",
}

_Cls = TypeVar("_Cls", bound=type)


def fill_shared_docs(cls: _Cls) -> _Cls:
    """Paste :data:`SHARED_PARAMETER_DOCS` into ``cls.__doc__`` (class decorator)."""
    doc = cls.__doc__ or ""
    for key, text in SHARED_PARAMETER_DOCS.items():
        marker = "{" + key + "}"
        at = doc.find(marker)
        if at < 0:
            continue
        indent = doc[doc.rfind("\n", 0, at) + 1 : at]
        doc = doc.replace(marker, text.replace("\n", "\n" + indent))
    cls.__doc__ = doc
    return cls


class ModelInput:
    """What the module reads per crystal: neighbour rows and, optionally, shares.

    Indexing gives one :data:`~sklearn_bandgap.models._collate.CrystalItem`;
    skorch builds its ``Dataset`` on it.
    """

    def __init__(
        self,
        lists: NeighborLists,
        shares: np.ndarray | None,
        *,
        with_sites: bool = False,
        whole: NeighborLists | None = None,
    ) -> None:
        self.lists = lists
        self.shares = shares
        #: Whether the items carry the neighbour sites (for message layers).
        self.with_sites = with_sites
        #: The unmerged lists (one row per atom) when ``lists`` has merged rows:
        #: the validation groups are read from them (None: from ``lists``).
        self.whole = whole
        #: Crystals that never go to the validation part (set from ``fit``'s ``train_only``).
        self.train_only: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.lists)

    def groups(self) -> np.ndarray:
        """Reduced composition of each crystal (the group of the validation split).

        Read from the unmerged lists when given: the merged rows of a crystal
        count each distinct environment once, so their composition is not the
        crystal's (Fe2O3 with one Fe and one O environment would read as FeO).
        """
        return composition_keys(self.lists if self.whole is None else self.whole)

    def __getitem__(self, i: int) -> CrystalItem:
        start, stop = self.lists.offsets[int(i)], self.lists.offsets[int(i) + 1]
        shares = None if self.shares is None else self.shares[start:stop]
        features = self.lists.atom_features
        sites = self.lists.neighbor_sites if self.with_sites else None
        return (
            self.lists.atomic_numbers[start:stop],
            self.lists.distances[start:stop],
            shares,
            None if features is None else features[start:stop],
            None if sites is None else sites[start:stop],
        )


class BaseNeighborLSTM(BaseEstimator, metaclass=ABCMeta):
    """Base of the estimators that train a :class:`NeighborLSTM` on neighbour lists.

    Do not use it directly: use :class:`NeighborLSTMRegressor`,
    :class:`NeighborLSTMClassifier` or :class:`TwoHeadBandGapRegressor`.

    ``fit`` checks the lists, asks the subclass for the targets the net trains
    on (:meth:`_encode_targets`), records the domain, builds the skorch net
    from the parameters and the subclass's net settings (:meth:`_net_settings`)
    and trains it; :meth:`_net_outputs` is the shared first half of every
    prediction (fitted check, list and domain checks, the net's raw outputs).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **SKORCH_PARAMETER_CONSTRAINTS,
        **ARCHITECTURE_CONSTRAINTS,
    }
    #: Written into model files by :func:`sklearn_bandgap.io.save`; files
    #: without it (version 1) get :data:`LEGACY_PARAMETERS` for what they lack.
    _architecture_version: ClassVar[int] = ARCHITECTURE_VERSION
    _legacy_parameters: ClassVar[dict[str, Any]] = LEGACY_PARAMETERS

    @abstractmethod
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
        self.embedding_dim = embedding_dim
        self.atom_hidden = atom_hidden
        self.crystal_hidden = crystal_hidden
        self.head_hidden = head_hidden
        self.dropout = dropout
        self.distance_expansion = distance_expansion
        self.neighbors = neighbors
        self.atoms = atoms
        self.attention_pooling = attention_pooling
        self.envelope_start = envelope_start
        self.interaction_layers = interaction_layers
        self.message_layers = message_layers
        self.distance_noise = distance_noise
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.ema_epochs = ema_epochs
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.handle_unknown = handle_unknown
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.callbacks = callbacks
        self.accelerator = accelerator
        self.warm_start = warm_start
        self.init = init

    # ------------------------------------------------------------------ template
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: NeighborLists, y: Any, *, train_only: Any = None) -> Any:
        """Train on neighbour lists ``X`` and targets ``y``.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.
        y : array-like
            Targets, as the estimator takes them (see its class docstring).
        train_only : array-like of bool, shape (n_samples,), default=None
            Crystals used for training only, never for early stopping: the
            validation part (``validation_fraction`` of the compositions) is
            drawn from the other crystals alone, exactly as without the marked
            ones, and marked crystals whose composition fell in it are left
            out. For extra crystals with weaker labels (e.g. a teacher
            model's predictions) that should neither decide early stopping nor
            change which crystals do. In a pipeline:
            ``pipe.fit(X, y, neighborlstmregressor__train_only=mask)``.

        Returns
        -------
        self : estimator
            The fitted estimator.
        """
        X = self._check_lists(X)
        train_only = self._check_train_only(train_only, len(X))
        self._check_architecture()
        self._check_sites(X)
        continuing = self._continuing()
        state = None
        source = None
        if continuing:
            previous: Any = getattr(self, "net_")  # noqa: B009 (set by an earlier fit)
            state = {k: v.detach().clone() for k, v in previous.module_.state_dict().items()}
            seen: np.ndarray = getattr(self, "elements_seen_")  # noqa: B009
            distances: np.ndarray = getattr(self, "distance_range_")  # noqa: B009
        elif self.init is not None:
            source = resolve_source(self.init)
            source_features = int(getattr(source, "n_atom_features_", 0))
            read_features = 0 if self._distilled_features() else X.n_atom_features
            if source_features != read_features:
                raise ValueError(
                    f"init: the source network reads {source_features} atom features per atom, "
                    f"X carries {X.n_atom_features}: featurize with NeighborListFeaturizer("
                    f"atom_features={'chgnet' if source_features else None!r})."
                )
            state = body_state(self, source)
        targets = self._encode_targets(y, len(X))
        if source is not None and state is not None:
            state.update(self._head_state(source, X, targets))
        self._learn_domain(X)
        if continuing:  # the model has now seen both fits' data
            new_seen: np.ndarray = getattr(self, "elements_seen_")  # noqa: B009
            low, high = getattr(self, "distance_range_")  # noqa: B009
            self.elements_seen_ = np.union1d(seen, new_seen)
            self.distance_range_ = np.array([min(distances[0], low), max(distances[1], high)])
        seed = seed_of(self.random_state)
        self.net_ = self._build_net(seed)
        self.validation_split_version_ = VALIDATION_SPLIT_VERSION
        model_input = self._model_input(self._with_feature_targets(X))
        model_input.train_only = train_only
        fit_net(
            self.net_,
            model_input,
            targets,
            seed,
            stochastic=self.dropout > 0,
            initial_state=state,
        )
        self._after_fit(X, targets)
        return self

    def _check_train_only(self, train_only: Any, n_samples: int) -> np.ndarray | None:
        """``fit``'s ``train_only`` as a boolean mask, or None when it marks nothing."""
        if train_only is None:
            return None
        mask = np.asarray(train_only)
        if mask.dtype != np.bool_ or mask.shape != (n_samples,):
            raise ValueError(
                f"train_only must be a boolean mask of the {n_samples} crystals of X, got "
                f"an array of dtype {mask.dtype} and shape {mask.shape}."
            )
        if not mask.any():
            return None
        if mask.all() and self.validation_fraction > 0:
            raise ValueError(
                "train_only marks every crystal, so none is left for the validation part: "
                "leave some unmarked, or set validation_fraction=0."
            )
        return mask

    def _distilled_features(self) -> float:
        """Weight of the atom-feature targets (feature distillation; 0: none, the default)."""
        return 0.0

    def _with_feature_targets(self, X: NeighborLists) -> NeighborLists:
        """``X`` with its atom features standardized, when they are targets (else ``X``).

        Each feature is centred and scaled over the atoms of ``X`` (a
        constant feature is only centred), so that every feature counts alike
        in the loss.
        """
        if not self._distilled_features():
            return X
        assert X.atom_features is not None
        features = X.atom_features.astype(np.float64)
        scale = features.std(axis=0)
        scale[scale == 0] = 1.0
        return X.with_atom_features((features - features.mean(axis=0)) / scale)

    def _continuing(self) -> bool:
        """Whether this fit continues from the current weights (``warm_start`` and fitted)."""
        return bool(self.warm_start) and hasattr(self, "net_")

    def _head_state(
        self, source: Any, X: NeighborLists, targets: np.ndarray
    ) -> dict[str, torch.Tensor]:
        """Fine-tuning: starting weights of the new output layer (none: a fresh one)."""
        return {}

    def _after_fit(self, X: NeighborLists, targets: np.ndarray) -> None:
        """Checks of the fitted model on its training data (none by default)."""

    @abstractmethod
    def _encode_targets(self, y: Any, n_samples: int) -> np.ndarray:
        """Validate ``y``, set the target's fitted attributes, return what the net fits."""

    @abstractmethod
    def _net_settings(self) -> dict[str, Any]:
        """The subclass's net: ``{"net": class, "n_outputs": int, **net kwargs}``."""

    def _net_outputs(self, X: NeighborLists, method: str = "predict") -> np.ndarray:
        """The net's raw outputs on ``X`` after the fitted, list and domain checks."""
        check_is_fitted(self)
        X = self._check_lists(X)
        if getattr(self, "n_distilled_features_", 0) and X.atom_features is not None:
            X = X.with_atom_features(None)  # learnt in training, never read
        self._check_domain(X)
        self._check_sites(X)
        outputs: np.ndarray = getattr(self.net_, method)(self._model_input(X))
        return outputs.astype(np.float64)

    def _build_net(self, seed: int | None) -> Any:
        settings = self._net_settings()
        base = settings.pop("net")
        train_collate: Any = collate_neighbor_lists
        if self.distance_noise:
            train_collate = NoisyDistanceCollate(self.distance_noise, seed)
        return net_class(base, self.accelerator)(
            **self._module_kwargs(settings.pop("n_outputs")),
            iterator_train__collate_fn=train_collate,
            iterator_train__shuffle=True,
            iterator_valid__collate_fn=collate_neighbor_lists,
            **settings,
            **skorch_net_kwargs(
                self, seed, ema_epochs=self.ema_epochs, lr_schedule=self.lr_schedule
            ),
        )

    # ------------------------------------------------------------ inputs, domain
    def _check_lists(self, X: Any) -> NeighborLists:
        if not isinstance(X, NeighborLists):
            name = type(self).__name__
            raise TypeError(
                f"{name} takes the NeighborLists made by NeighborListFeaturizer, got a "
                f"{type(X).__qualname__}. Use make_pipeline(NeighborListFeaturizer(), "
                f"{name}()) to fit on structures."
            )
        if len(X) == 0:
            raise ValueError("X holds no structures.")
        return X

    def _check_sites(self, X: NeighborLists) -> None:
        if self.message_layers and X.neighbor_sites is None:
            raise ValueError(
                f"message_layers={self.message_layers} reads which site each neighbour is an "
                "image of, and X carries no neighbor_sites: make the lists with "
                "NeighborListFeaturizer().transform (or pass neighbor_sites= to NeighborLists)."
            )

    def _check_architecture(self) -> None:
        if self.message_layers and self.atoms != "pooled":
            raise ValueError(
                f"message_layers={self.message_layers} needs atoms='pooled' (the crystal LSTM "
                f"of atoms={self.atoms!r} does not pass messages)."
            )
        if self.interaction_layers and self.atoms != "pooled":
            raise ValueError(
                f"interaction_layers={self.interaction_layers} needs atoms='pooled' (the "
                f"crystal LSTM of atoms={self.atoms!r} has no attention among atoms)."
            )
        if self.neighbors == "shells" and self.distance_expansion < 2:
            raise ValueError(
                f"neighbors='shells' steps through distance_expansion radial shells: it needs "
                f"at least 2, got {self.distance_expansion}."
            )

    def _learn_domain(self, X: NeighborLists) -> None:
        """Record the elements, list width, distance range and atom-feature size."""
        if X.n_atom_features and self.atoms != "pooled" and not self._distilled_features():
            raise ValueError(
                f"X carries atom features, which atoms={self.atoms!r} cannot read: use "
                "atoms='pooled' (the default)."
            )
        if self._distilled_features():
            if not X.n_atom_features:
                raise ValueError(
                    "distil_atom_features > 0 learns X's atom features as targets, and X "
                    "carries none: featurize the training data with "
                    "NeighborListFeaturizer(atom_features='chgnet')."
                )
            if self.atoms != "pooled":
                raise ValueError(
                    f"distil_atom_features needs atoms='pooled' (got {self.atoms!r}): the "
                    "features are predicted from the pooled level's atom vectors."
                )
            self.n_distilled_features_ = X.n_atom_features
            self.n_atom_features_ = 0
        else:
            self.n_distilled_features_ = 0
            self.n_atom_features_ = X.n_atom_features
        self.elements_seen_ = np.unique(X.atomic_numbers[:, 0]).astype(int)
        self.n_neighbors_ = int(X.atomic_numbers.shape[1] - 1)
        self.distance_range_ = neighbor_distance_range(X)

    def _check_domain(self, X: NeighborLists) -> None:
        expected = getattr(self, "n_atom_features_", 0)
        if X.n_atom_features != expected:
            if expected:
                hint = (
                    f"it was fitted on lists with {expected} atom features per atom: featurize "
                    "with NeighborListFeaturizer(atom_features='chgnet')"
                )
            else:
                hint = "it was fitted on lists without atom features: featurize without them"
            raise ValueError(f"X carries {X.n_atom_features} atom features per atom, but {hint}.")
        width = X.atomic_numbers.shape[1] - 1
        if width != self.n_neighbors_:
            raise ValueError(
                f"X holds neighbour lists of {width} neighbours, but the model was fitted on "
                f"{self.n_neighbors_}: featurize with NeighborListFeaturizer(n_neighbors="
                f"{self.n_neighbors_})."
            )
        problems = domain_problems(X, self.elements_seen_, self.distance_range_)
        report_out_of_domain(problems, len(X), self.handle_unknown)

    def _model_input(self, X: NeighborLists, *, merged_groups: bool = False) -> ModelInput:
        """What the network reads from ``X``.

        ``merged_groups`` rebuilds the validation split of models fitted before
        version 2 (groups read from the merged rows).
        """
        if self.atoms in ("pooled", "distinct"):
            # With messages, merged rows must also have merged neighbours (to that depth).
            depth = self.message_layers if self.atoms == "pooled" else 0
            lists, shares = distinct_environments(X, exact=self.atoms == "pooled", depth=depth)
            whole = None if merged_groups else X
            return ModelInput(lists, shares, with_sites=depth > 0, whole=whole)
        if self.atoms == "sorted":
            return ModelInput(canonical_rows(X), None)
        return ModelInput(X, None)

    def _module_kwargs(self, n_outputs: int) -> dict[str, Any]:
        """Skorch's ``module`` and ``module__*`` settings of the network."""
        return {
            "module": NeighborLSTM,
            "module__n_outputs": n_outputs,
            "module__embedding_dim": self.embedding_dim,
            "module__atom_hidden": self.atom_hidden,
            "module__crystal_hidden": self.crystal_hidden,
            "module__head_hidden": self.head_hidden,
            "module__dropout": self.dropout,
            "module__distance_expansion": self.distance_expansion,
            "module__with_shares": self.atoms in ("pooled", "distinct"),
            "module__attention_pooling": self.attention_pooling,
            "module__neighbors": self.neighbors,
            "module__crystal": "pooled" if self.atoms == "pooled" else "lstm",
            "module__envelope_start": self.envelope_start,
            "module__interaction_layers": self.interaction_layers,
            "module__message_layers": self.message_layers,
            "module__atom_features": getattr(self, "n_atom_features_", 0),
            "module__feature_targets": getattr(self, "n_distilled_features_", 0),
        }

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # input: NeighborLists
        return tags
