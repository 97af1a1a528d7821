"""The training policy of the package's skorch-backed estimators."""

from __future__ import annotations

import threading
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from skorch.dataset import Dataset
from torch.utils.data import Subset

from sklearn_bandgap._nn._accelerate import ACCELERATED
from sklearn_bandgap._nn._averaging import WeightAverage
from sklearn_bandgap._nn._checkpoint import fit_fingerprint, training_checkpoint

#: Constraints of the parameters every skorch-backed estimator of the package has;
#: each merges them with its own (``{**SKORCH_PARAMETER_CONSTRAINTS, ...}``).
SKORCH_PARAMETER_CONSTRAINTS: dict[str, list[Any]] = {
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "patience": [Interval(Integral, 1, None, closed="left")],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "random_state": ["random_state"],
    "device": [str],
    "verbose": ["verbose"],
    "callbacks": [list, None],
    "accelerator": [HasMethods(["prepare"]), None],
}


#: The learning-rate schedules :func:`validation_policy` knows.
LR_SCHEDULES = frozenset({"plateau", "cosine"})


def resolve_device(device: str) -> str:
    """The torch device a net trains on: ``"auto"`` is CUDA when there is one, else the CPU.

    Raises a ``ValueError`` naming the parameter for a string torch does not
    take, and for a CUDA device on a machine (or a torch build) without CUDA,
    before any training starts.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device ('cpu', 'cuda', 'cuda:1', ...) nor 'auto'."
        ) from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        build = "a CPU build of torch" if torch.version.cuda is None else "no visible GPU"
        raise ValueError(
            f"device={device!r}, but CUDA is not available here ({build}); "
            "use device='cpu' or 'auto'."
        )
    return device


class CompositionGroupSplit(BaseEstimator):
    """skorch ``train_split``: hold out whole compositions for validation.

    Polymorphs share a composition; splitting them across training and
    validation would make early stopping optimistic. The dataset's ``X`` tells
    each crystal's group through its ``groups()`` method (the composition read
    from the neighbour lists, :func:`composition_keys`, for the regressor).

    If ``X`` also has a ``train_only`` boolean mask (not None), the split is
    drawn over the other rows alone, exactly as it would be without the
    marked rows; the marked rows then join the training part, except those
    whose group fell in the validation part, which are left out of both. So
    adding training-only rows (e.g. crystals labelled by a teacher model)
    keeps the validation part of the same seed unchanged, and none of its
    compositions is trained on.

    A scikit-learn ``BaseEstimator`` for its ``get_params`` (a fit's checkpoint
    fingerprint reads the split's parameters through it) and its ``repr``.

    Parameters
    ----------
    fraction : float
        Fraction of the compositions held out.
    random_state : int or None
        Seed of the split.
    """

    def __init__(self, fraction: float, random_state: int | None) -> None:
        self.fraction = fraction
        self.random_state = random_state

    def __call__(self, dataset: Dataset, y: Any = None, **fit_params: Any) -> tuple[Any, Any]:
        """Return ``(train_subset, valid_subset)`` of ``dataset``."""
        groups = np.asarray(dataset.X.groups(), dtype=object)
        train_only = getattr(dataset.X, "train_only", None)
        split_rows = np.arange(len(groups))
        if train_only is not None:
            split_rows = np.flatnonzero(~train_only)
        splitter = GroupShuffleSplit(
            n_splits=1, test_size=self.fraction, random_state=self.random_state
        )
        train, valid = next(splitter.split(np.zeros(len(split_rows)), groups=groups[split_rows]))
        train, valid = split_rows[train], split_rows[valid]
        if train_only is not None:
            held_out = np.isin(groups, groups[valid])
            train = np.sort(np.concatenate([train, np.flatnonzero(train_only & ~held_out)]))
        return Subset(dataset, train.tolist()), Subset(dataset, valid.tolist())


def seed_of(random_state: int | np.random.RandomState | None) -> int | None:
    """The torch seed of an estimator's ``random_state`` (None if unseeded).

    ``random_state`` is what scikit-learn's ``check_random_state`` takes: an int
    (the same int always gives the same seed), a ``RandomState`` (one number is
    drawn from it), or None. The same seed also drives the validation split,
    so a fixed ``random_state`` gives the same weights, batches and split on
    the CPU.
    """
    if random_state is None:
        return None
    return int(check_random_state(random_state).randint(2**31 - 1))


#: Held while a net's weights are drawn from a seeded fork of torch's global
#: generator, so that fits running in threads each get their own seed's weights.
_INITIALIZING = threading.Lock()


def _forked_devices(net: Any) -> list[int]:
    device = getattr(net, "device", None)
    if isinstance(device, str) and device.startswith("cuda") and torch.cuda.is_available():
        return [torch.device(device).index or 0]
    return []


def fit_net(
    net: Any,
    X: Any,
    y: Any,
    seed: int | None,
    *,
    stochastic: bool = False,
    initial_state: dict[str, Any] | None = None,
) -> Any:
    """Initialise and train a skorch net without touching torch's global random state.

    With a ``seed``: the weights are drawn from a seeded fork of torch's
    generator (``torch.random.fork_rng``, under a lock, so concurrent fits in
    threads each get their own seed's weights); batches are shuffled by a
    ``torch.Generator`` of the fit's own (``iterator_train__generator``, and
    the validation loader's, set for the fit only, so that the fitted net
    still pickles). A ``stochastic``
    net (dropout, or batching of its own) also draws from a seeded fork during training: the
    caller's state is restored afterwards, but fits in concurrent threads then
    share that generator and are not reproducible. Without a seed, torch's
    global generator is used as it is. ``initial_state`` (module tensors by
    name, e.g. a pretrained network's body) is loaded over the fresh weights
    before training; the layers it lacks keep theirs.

    Returns
    -------
    net
        The fitted net.
    """
    if seed is None:
        net.initialize()
        _load_initial_state(net, initial_state)
        _train(net, X, y, _epochs_to_run(net, X, y, seed, stochastic, initial_state))
        return net
    devices = _forked_devices(net)
    with _INITIALIZING, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        net.initialize()
    _load_initial_state(net, initial_state)
    epochs = _epochs_to_run(net, X, y, seed, stochastic, initial_state)
    # attributes, as skorch reads iterator_*__ (set_params would re-initialise); every
    # DataLoader iterator draws a base seed from its generator, validation's too
    net.iterator_train__generator = torch.Generator().manual_seed(seed)
    net.iterator_valid__generator = torch.Generator().manual_seed(seed + 1)
    try:
        if stochastic:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                _train(net, X, y, epochs)
        else:
            _train(net, X, y, epochs)
    finally:
        del net.iterator_train__generator, net.iterator_valid__generator
    return net


def _epochs_to_run(
    net: Any,
    X: Any,
    y: Any,
    seed: int | None,
    stochastic: bool,
    initial_state: dict[str, Any] | None,
) -> int:
    """``max_epochs``, less those a :class:`TrainingCheckpoint` of this fit has done."""
    checkpoint = training_checkpoint(net)
    if checkpoint is None:
        return int(net.max_epochs)
    fingerprint = fit_fingerprint(net, X, y, seed, initial_state)
    done = checkpoint.prepare(fingerprint, seed, global_rng=stochastic)
    return max(int(net.max_epochs) - done, 0)


def _train(net: Any, X: Any, y: Any, epochs: int) -> None:
    """``partial_fit`` for ``epochs``; then a checkpoint keeps the result of a fit that ended."""
    net.partial_fit(X, y, epochs=epochs)
    checkpoint = training_checkpoint(net)
    if checkpoint is not None:
        checkpoint.finish(net)


def _load_initial_state(net: Any, state: dict[str, Any] | None) -> None:
    """Load ``state`` over the initialised module (every tensor it names must fit)."""
    if state is None:
        return
    try:
        _, unexpected = net.module_.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another shape
        raise ValueError(f"initial weights do not fit the network: {exc}") from None
    if unexpected:
        raise ValueError(f"initial weights for layers the network does not have: {unexpected}")
    # copied into the same parameter objects the optimizer holds: nothing to rebuild


def validation_policy(
    validation_fraction: float,
    patience: int,
    seed: int | None,
    *,
    lr_schedule: str = "plateau",
    max_epochs: int | None = None,
) -> tuple[CompositionGroupSplit | None, list[tuple[str, Callback]]]:
    """The training policy of the project's skorch nets: split, early stopping, schedule.

    Parameters
    ----------
    validation_fraction : float
        Fraction of compositions held out for validation; 0 means no
        validation and no early stopping (and, with the plateau schedule, no
        schedule).
    patience : int
        Epochs without a better validation loss before stopping (the best epoch
        is restored); with ``lr_schedule="plateau"`` the learning rate halves
        after ``patience // 3`` such epochs.
    seed : int or None
        Seed of the validation split.
    lr_schedule : {"plateau", "cosine"}, default="plateau"
        ``"plateau"``: halve the learning rate when the validation loss stalls
        (torch's ``ReduceLROnPlateau``). ``"cosine"``: anneal it from ``lr`` to
        0 along a half cosine over ``max_epochs`` epochs (torch's
        ``CosineAnnealingLR``, stepped once per epoch), with or without a
        validation part.
    max_epochs : int, optional
        Length of the cosine schedule; required with ``lr_schedule="cosine"``.

    Returns
    -------
    train_split : CompositionGroupSplit or None
        skorch's ``train_split``.
    callbacks : list of (name, Callback)
        Early stopping and the learning-rate schedule.
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule={lr_schedule!r}: choose one of {sorted(LR_SCHEDULES)}")
    callbacks: list[tuple[str, Callback]] = []
    if lr_schedule == "cosine":
        if max_epochs is None:
            raise ValueError("lr_schedule='cosine' needs max_epochs, the length of the cosine")
        callbacks.append(
            (
                "lr_scheduler",
                LRScheduler(
                    policy=torch.optim.lr_scheduler.CosineAnnealingLR,
                    T_max=max_epochs,
                    eta_min=0.0,
                ),
            )
        )
    if validation_fraction <= 0:
        return None, callbacks
    callbacks.insert(0, ("early_stopping", EarlyStopping(patience=patience, load_best=True)))
    if lr_schedule == "plateau":
        callbacks.append(
            (
                "lr_scheduler",
                LRScheduler(
                    policy=torch.optim.lr_scheduler.ReduceLROnPlateau,
                    monitor="valid_loss",
                    factor=0.5,
                    patience=max(patience // 3, 1),
                ),
            )
        )
    return CompositionGroupSplit(validation_fraction, seed), callbacks


def skorch_net_kwargs(
    estimator: Any,
    seed: int | None,
    *,
    ema_epochs: float = 0.0,
    lr_schedule: str = "plateau",
) -> dict[str, Any]:
    """The settings every net of the package shares, read from the estimator's parameters.

    AdamW with ``lr`` and ``weight_decay``, ``batch_size``, ``max_epochs``, the
    validation policy (:func:`validation_policy`) followed by the user's
    ``callbacks``, ``verbose`` and ``device`` (or, with an ``accelerator``, no
    device: accelerate places the module and the batches). Each estimator adds
    its module, loss and data loading, and picks its net class with
    :func:`net_class`. ``ema_epochs > 0`` adds a :class:`WeightAverage` over
    that many epochs after the validation policy's callbacks; ``lr_schedule``
    is :func:`validation_policy`'s (a cosine spans ``max_epochs``).
    """
    train_split, callbacks = validation_policy(
        estimator.validation_fraction,
        estimator.patience,
        seed,
        lr_schedule=lr_schedule,
        max_epochs=estimator.max_epochs,
    )
    if ema_epochs > 0:
        callbacks.append(("weight_average", WeightAverage(ema_epochs)))
    return {
        "optimizer": torch.optim.AdamW,
        "optimizer__weight_decay": estimator.weight_decay,
        "lr": estimator.lr,
        "batch_size": estimator.batch_size,
        "max_epochs": estimator.max_epochs,
        "train_split": train_split,
        "callbacks": callbacks + list(estimator.callbacks or []),
        "verbose": estimator.verbose,
        **(
            {"device": resolve_device(estimator.device)}
            if getattr(estimator, "accelerator", None) is None
            else {"accelerator": estimator.accelerator, "device": None}  # accelerate places it
        ),
    }


def net_class(base: type, accelerator: Any) -> type:
    """``base``, or its subclass with skorch's ``AccelerateMixin`` when given an accelerator.

    The accelerated classes are module-level classes (so fitted estimators
    pickle); they exist for the net classes the package trains with.
    """
    if accelerator is None:
        return base
    try:
        return ACCELERATED[base]
    except KeyError:  # pragma: no cover - a net class of the package without a twin
        raise TypeError(f"no accelerated twin of {base.__qualname__}") from None
