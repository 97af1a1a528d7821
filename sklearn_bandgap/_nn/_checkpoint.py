"""Resumable training: the whole state of a fit, saved after every epoch.

A fit cut off (a session limit, a killed job, a lost machine) resumes from its
last finished epoch and ends exactly where the uninterrupted fit would have:
the weights, the optimizer's moments, the history, early stopping's best
weights and patience count, the learning-rate schedule, the weight average
and the seeded generators of batching and dropout all continue. skorch's own
``Checkpoint`` keeps weights, optimizer and history but not the callbacks'
state or the generators, so a fit restarted from it takes another path.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from skorch.history import History
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from sklearn_bandgap._nn._averaging import WeightAverage
from sklearn_bandgap.utils._files import publish

#: Version of the checkpoint's layout.
CHECKPOINT_FORMAT = 1


class TrainingCheckpoint(Callback):
    """skorch callback: save the state of a fit after every epoch; resume a fit cut off.

    Pass it in an estimator's ``callbacks`` (e.g.
    ``NeighborLSTMRegressor(callbacks=[TrainingCheckpoint("gap.ckpt")])``). At
    the end of every epoch the fit's state goes to ``path`` (written to a
    temporary file and renamed, so a kill mid-write leaves the previous
    epoch's). When ``fit`` starts and ``path`` holds the state of the same fit
    (same network, targets and seed; checked), training resumes after its last
    epoch, and with a ``random_state`` it ends with the same weights as a fit
    never cut off (same torch threads). A fit that ends (early stopping,
    ``max_epochs``, or Ctrl-C, which skorch takes as "stop training here")
    removes ``path``.

    Parameters
    ----------
    path : str or path-like
        The checkpoint file; ``{seed}`` in it is replaced by the fit's
        ``random_state`` (needed in a :class:`SeedEnsembleRegressor`, whose
        members would otherwise share one file). It is read with
        ``torch.load(weights_only=True)`` (tensors, numbers and strings only:
        nothing is unpickled).

    Notes
    -----
    Saved: the module, the optimizer, skorch's history, and the state of the
    package's callbacks (early stopping, the learning-rate schedule, the
    weight average) and of the fit's seeded generators. Other callbacks are
    restarted. Without a ``random_state`` the resumed epochs draw fresh
    randomness, so they are not those of an uninterrupted fit.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path

    def initialize(self) -> TrainingCheckpoint:
        """Forget what an earlier fit loaded."""
        self.fingerprint_: str | None = None
        self.path_ = Path(self.path)
        self.global_rng_ = False
        self.pending_: dict[str, Any] | None = None
        self.resumed_from_epoch_ = 0
        self.warned_ = False
        return self

    # ----------------------------------------------------------- called by fit_net
    def prepare(self, fingerprint: str, seed: int | None, *, global_rng: bool = False) -> int:
        """Read a checkpoint of this fit, if any; return the epochs it has done.

        ``global_rng``: the fit draws from torch's global generator (a seeded
        fork, for dropout or batching of its own), whose state is then
        restored too.

        Raises
        ------
        ValueError
            If ``path`` holds the checkpoint of another fit, or is not a checkpoint.
        """
        self.fingerprint_ = fingerprint
        self.path_ = Path(str(self.path).format(seed=seed))
        self.global_rng_ = global_rng
        self.pending_ = None
        self.resumed_from_epoch_ = 0
        path = self.path_
        if not path.exists():
            return 0
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(
                f"{path}: not a training checkpoint this package can read ({exc}); "
                "remove it to start the fit afresh."
            ) from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: not a training checkpoint of this package; remove it.")
        if state.get("fingerprint") != fingerprint:
            raise ValueError(
                f"{path}: the checkpoint of another fit (other network, targets or seed); "
                "remove it, or give this fit its own path."
            )
        self.pending_ = state
        self.resumed_from_epoch_ = int(state["epochs_done"])
        return self.resumed_from_epoch_

    # ------------------------------------------------------------- skorch hooks
    def on_train_begin(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        """Put the saved state back, after the other callbacks have reset theirs."""
        state, self.pending_ = self.pending_, None
        if state is None:
            return
        net.module_.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history_ = History(json.loads(state["history"]))
        saved = state["callbacks"]
        for _, callback in net.callbacks_:
            if isinstance(callback, EarlyStopping) and "early_stopping" in saved:
                _restore_early_stopping(callback, saved["early_stopping"])
            elif isinstance(callback, LRScheduler) and "lr_scheduler" in saved:
                callback.lr_scheduler_.load_state_dict(saved["lr_scheduler"])
                callback.batch_idx_ = sum(net.history[:, "train_batch_count"])
            elif isinstance(callback, WeightAverage) and "weight_average" in saved:
                _restore_weight_average(callback, net, saved["weight_average"])
        generators = state["generators"]
        for name in ("iterator_train__generator", "iterator_valid__generator"):
            generator = getattr(net, name, None)
            if generator is not None and name in generators:
                generator.set_state(generators[name])
        if self.global_rng_ and "torch" in generators:
            torch.set_rng_state(generators["torch"])  # inside fit_net's seeded fork
        if net.verbose:
            print(f"Resuming from {self.path_}: {len(net.history)} epochs done.", flush=True)

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        """Write the state of the fit after this epoch (atomically)."""
        if self.fingerprint_ is None:  # not started through fit_net: nothing to check against
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": self.fingerprint_,
            "epochs_done": len(net.history),
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": json.dumps(net.history.to_list(), default=_plain),
            "callbacks": _callback_states(net),
            "generators": _generator_states(net),
        }
        path = self.path_
        try:
            handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        except OSError as exc:
            return self._warn_unsaved(exc)
        try:
            with os.fdopen(handle, "wb") as out:
                torch.save(state, out)
            publish(temporary, path)
        except OSError as exc:  # a full disk costs the checkpoint, never the fit
            Path(temporary).unlink(missing_ok=True)
            self._warn_unsaved(exc)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _warn_unsaved(self, exc: OSError) -> None:
        if not self.warned_:
            warnings.warn(
                f"{self.path_}: cannot save the training state ({exc}); training goes on, "
                "but a fit cut off now cannot resume from this epoch.",
                RuntimeWarning,
                stacklevel=2,
            )
            self.warned_ = True

    def on_train_end(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        """The fit has ended: its checkpoint is no longer needed."""
        if self.fingerprint_ is not None:  # a file this callback wrote or resumed from
            self.path_.unlink(missing_ok=True)


def fit_fingerprint(net: Any, y: Any, seed: int | None) -> str:
    """A digest of what makes two fits the same: network shapes, targets and seed."""
    digest = hashlib.sha256()
    digest.update(type(net.module_).__qualname__.encode())
    for name, tensor in net.module_.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
    digest.update(repr(seed).encode())
    for array in _arrays(y):
        digest.update(str(array.shape).encode() + str(array.dtype).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def training_checkpoint(net: Any) -> TrainingCheckpoint | None:
    """The net's :class:`TrainingCheckpoint`, if it has one (one at most)."""
    found = [cb for _, cb in net.callbacks_ if isinstance(cb, TrainingCheckpoint)]
    if len(found) > 1:
        raise ValueError("give a fit one TrainingCheckpoint at most.")
    return found[0] if found else None


# ----------------------------------------------------------------------- helpers
def _arrays(y: Any) -> list[np.ndarray]:
    if y is None:
        return []
    if isinstance(y, torch.Tensor):
        return [y.detach().cpu().numpy()]
    if isinstance(y, np.ndarray):
        return [y]
    if isinstance(y, list | tuple):
        return [a for item in y for a in _arrays(item)]
    if hasattr(y, "__len__") and hasattr(y, "__getitem__"):  # e.g. relaxation targets
        return [a for k in range(len(y)) for a in _arrays(y[k])]
    return [np.asarray(y)]


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and arrays in skorch's history."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"history value of type {type(value).__name__} cannot be checkpointed")


def _callback_states(net: Any) -> dict[str, Any]:
    states: dict[str, Any] = {}
    for _, callback in net.callbacks_:
        if isinstance(callback, EarlyStopping):
            states["early_stopping"] = {
                "misses": callback.misses_,
                "dynamic_threshold": float(callback.dynamic_threshold_),
                "best_epoch": int(callback.best_epoch_),
                "best_model_weights": callback.best_model_weights_,
            }
        elif isinstance(callback, LRScheduler):
            states["lr_scheduler"] = callback.lr_scheduler_.state_dict()
        elif isinstance(callback, WeightAverage) and callback.average_ is not None:
            states["weight_average"] = {
                "decay": callback.decay_,
                "average": callback.average_.state_dict(),
                "raw": callback.raw_,
            }
    return states


def _restore_early_stopping(callback: EarlyStopping, state: dict[str, Any]) -> None:
    callback.misses_ = int(state["misses"])
    callback.dynamic_threshold_ = float(state["dynamic_threshold"])
    callback.best_epoch_ = int(state["best_epoch"])
    callback.best_model_weights_ = state["best_model_weights"]


def _restore_weight_average(callback: Any, net: Any, state: dict[str, Any]) -> None:
    decay = float(state["decay"])
    average = AveragedModel(net.module_, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    average.load_state_dict(state["average"])
    callback.decay_ = decay
    callback.average_ = average
    callback.raw_ = state["raw"]


def _generator_states(net: Any) -> dict[str, torch.Tensor]:
    states: dict[str, torch.Tensor] = {}
    for name in ("iterator_train__generator", "iterator_valid__generator"):
        generator = getattr(net, name, None)
        if generator is not None:
            states[name] = generator.get_state()
    states["torch"] = torch.get_rng_state()
    return states
