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

import dataclasses
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
    (checked: see Notes), training resumes after its last
    epoch, and with a ``random_state`` it ends with the same weights as a fit
    never cut off (same torch threads). A fit that ends (early stopping or
    ``max_epochs``) leaves its result in ``path`` (weights and history), so the
    same fit started again returns it without training: a seed ensemble cut
    off in its third member keeps its first two. Remove the file when the
    result is no longer wanted. A fit cut short by Ctrl-C (which skorch alone
    would take as "stop training here" and return a half-trained model) keeps
    ``path`` and raises ``KeyboardInterrupt``: fit again to resume.

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
    "The same fit" means the same network, training settings (learning
    rate, epochs, batch size, early stopping, schedule, weight average, ...),
    inputs, targets, seed and starting weights (``init``); a checkpoint of
    any other fit is refused by name, never loaded. Other callbacks (logging, progress) may differ.

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
        self.epochs_done_ = self.epochs_saved_ = 0
        self.finished_ = False
        self.warned_ = False
        return self

    # ----------------------------------------------------------- called by fit_net
    def prepare(self, fingerprint: str, seed: int | None, *, global_rng: bool = False) -> int:
        """Read a checkpoint of this fit, if any; return the epochs it has done.

        :data:`FINISHED` (more epochs than any fit runs) for the result of a
        fit that has ended: it is restored and no epoch is trained.

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
        self.resumed_from_epoch_ = self.epochs_done_ = self.epochs_saved_ = 0
        self.finished_ = False
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
                f"{path}: the checkpoint of another fit (other network, settings, inputs, "
                "targets or seed); remove it, or give this fit its own path."
            )
        self.pending_ = state
        self.resumed_from_epoch_ = int(state["epochs_done"])
        self.epochs_done_ = self.epochs_saved_ = self.resumed_from_epoch_
        if state.get("finished"):
            return FINISHED
        return self.resumed_from_epoch_

    # ------------------------------------------------------------- skorch hooks
    def on_train_begin(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        """Put the saved state back, after the other callbacks have reset theirs."""
        state, self.pending_ = self.pending_, None
        if state is None:
            return
        if state.get("finished"):  # the result of this fit: nothing left to train
            net.module_.load_state_dict(state["module"])
            net.history_ = History(json.loads(state["history"]))
            self.finished_ = True
            if net.verbose:
                print(f"{self.path_}: this fit has ended ({len(net.history)} epochs).", flush=True)
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
        self.epochs_done_ = len(net.history)
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
        if self._write(state):
            self.epochs_saved_ = self.epochs_done_

    def _write(self, state: dict[str, Any]) -> bool:
        """Save ``state`` atomically; False (and a warning, once) if it cannot be."""
        path = self.path_
        try:
            handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        except OSError as exc:
            self._warn_unsaved(exc)
            return False
        try:
            with os.fdopen(handle, "wb") as out:
                torch.save(state, out)
            publish(temporary, path)
        except OSError as exc:  # a full disk costs the checkpoint, never the fit
            Path(temporary).unlink(missing_ok=True)
            self._warn_unsaved(exc)
            return False
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return True

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
        """Stop a fit cut short: skorch has caught the Ctrl-C that ended it.

        Raises
        ------
        KeyboardInterrupt
            If training stopped before early stopping or ``max_epochs`` ended
            it (Ctrl-C, which skorch catches and takes as the end of training).
        """
        if self.fingerprint_ is None or self.finished_:
            return
        if _ended(net, self.epochs_done_):
            return  # fit_net calls finish() once the other callbacks have ended too
        saved = f"its state after epoch {self.epochs_saved_} is in {self.path_}"
        if not self.epochs_saved_:
            saved = f"no epoch was finished and saved to {self.path_}"
        raise KeyboardInterrupt(f"training interrupted; {saved}: fit again to resume")

    def finish(self, net: Any) -> None:
        """Keep the result of a fit that has ended (called by ``fit_net`` after training).

        Written after every callback's ``on_train_end``, so the weights are the
        fit's final ones (early stopping's best, the weight average).
        """
        if self.fingerprint_ is None or self.finished_:
            return
        result = {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": self.fingerprint_,
            "finished": True,
            "epochs_done": len(net.history),
            "module": net.module_.state_dict(),
            "history": json.dumps(net.history.to_list(), default=_plain),
        }
        self.finished_ = self._write(result)


def fit_fingerprint(
    net: Any, X: Any, y: Any, seed: int | None, initial_state: dict[str, Any] | None = None
) -> str:
    """A digest of what makes two fits the same.

    The network's layers and shapes, the training settings (the net's
    parameters of plain values but ``verbose`` and ``device``, and those of
    the callbacks whose state a checkpoint keeps), the inputs, the targets,
    the seed and the weights training starts from (``initial_state``, when
    fine-tuning).
    """
    digest = hashlib.sha256()
    digest.update(type(net.module_).__qualname__.encode())
    for name, tensor in net.module_.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
    digest.update(repr(seed).encode())
    settings = _json_settings(net.get_params(deep=False), skip=_NOT_SETTINGS)
    for name, callback in net.callbacks_:  # those whose state the checkpoint keeps
        if isinstance(callback, EarlyStopping | LRScheduler | WeightAverage):
            settings[f"callbacks.{name}"] = _json_settings(callback.get_params(), skip=())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    _feed(digest, X)
    _feed(digest, y)
    _feed(digest, initial_state)
    return digest.hexdigest()


#: Net parameters that do not change what a fit computes.
_NOT_SETTINGS = ("verbose", "device", "callbacks", "compile", "use_caching")
#: Code to mark a checkpoint of a fit that has ended: more epochs than any fit runs.
FINISHED = 2**62


def training_checkpoint(net: Any) -> TrainingCheckpoint | None:
    """The net's :class:`TrainingCheckpoint`, if it has one (one at most)."""
    found = [cb for _, cb in net.callbacks_ if isinstance(cb, TrainingCheckpoint)]
    if len(found) > 1:
        raise ValueError("give a fit one TrainingCheckpoint at most.")
    return found[0] if found else None


# ----------------------------------------------------------------------- helpers
def _ended(net: Any, epochs_done: int) -> bool:
    """Whether training ended on its own: early stopping, or every epoch done."""
    if epochs_done >= net.max_epochs:
        return True
    return any(
        isinstance(callback, EarlyStopping) and callback.misses_ >= callback.patience
        for _, callback in net.callbacks_
    )


def _json_settings(params: dict[str, Any], skip: tuple[str, ...]) -> dict[str, Any]:
    """The parameters as JSON values, for the fingerprint of a fit.

    Numbers, strings and None stand for themselves; classes and functions (the
    criterion, the optimizer, a collate function) by their module and name;
    arrays and tensors (a criterion's output weights) by their values; an
    object with scikit-learn's ``get_params`` (the validation split) by its
    class and parameters. Any other object counts by its class and its
    attributes of plain values. Private entries (a leading ``_``) are left out.
    """
    return {
        key: _setting(value)
        for key, value in params.items()
        if key not in skip and not key.startswith("_")
    }


def _setting(value: Any, depth: int = 0) -> Any:
    """One parameter's value as JSON (see :func:`_json_settings`)."""
    if depth > 8:  # deeper than any setting of this package: the class alone
        return {"class": f"{type(value).__module__}.{type(value).__qualname__}"}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_setting(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {str(key): _setting(item, depth + 1) for key, item in value.items()}
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return {"class": f"{value.__module__}.{value.__qualname__}"}
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray | np.generic):
        return {"array": value.tolist()}
    if hasattr(value, "get_params"):
        fields = value.get_params()
    else:
        fields = {k: v for k, v in getattr(value, "__dict__", {}).items() if _is_plain(v)}
    settings = {
        key: _setting(item, depth + 1) for key, item in fields.items() if not key.startswith("_")
    }
    return {"class": f"{type(value).__module__}.{type(value).__qualname__}", **settings}


def _is_plain(value: Any) -> bool:
    """Numbers, strings, None, or lists and tuples of them."""
    if isinstance(value, list | tuple):
        return all(_is_plain(item) for item in value)
    return value is None or isinstance(value, bool | int | float | str)


def _feed(digest: Any, value: Any, depth: int = 0) -> None:
    """Add ``value`` (arrays, tensors, containers, objects holding them) to ``digest``."""
    if depth > 16:
        raise TypeError("the training data nest too deep to fingerprint")
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
        return
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        digest.update(f"array{value.dtype.str}{value.shape};".encode())
        if value.dtype.kind == "O":
            for item in value.ravel():
                _feed(digest, item, depth + 1)
        else:
            digest.update(np.ascontiguousarray(value).tobytes())
        return
    if isinstance(value, list | tuple):
        digest.update(f"{type(value).__name__}{len(value)};".encode())
        for item in value:
            _feed(digest, item, depth + 1)
        return
    if isinstance(value, dict):
        digest.update(f"dict{len(value)};".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key, depth + 1)
            _feed(digest, value[key], depth + 1)
        return
    fields = (
        [f.name for f in dataclasses.fields(value)]
        if dataclasses.is_dataclass(value)
        else sorted(vars(value))
        if hasattr(value, "__dict__")
        else None
    )
    if fields is None:
        raise TypeError(f"cannot fingerprint training data of type {type(value).__qualname__}")
    digest.update(f"{type(value).__qualname__}{len(fields)};".encode())
    for name in fields:
        _feed(digest, name, depth + 1)
        _feed(digest, getattr(value, name), depth + 1)


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
