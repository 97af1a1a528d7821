"""Search spaces as plain data, and their conversion to Optuna distributions."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import BaseEstimator

#: The documented default space of :class:`~sklearn_bandgap.models.NeighborLSTMRegressor`
#: (names relative to the regressor). Each entry is plain data:
#: ``{"type": "float" | "int", "low": ..., "high": ..., "log": bool}`` or
#: ``{"type": "categorical", "choices": [...]}``. The design (``neighbors``,
#: ``atoms``) is not searched: the defaults are the continuous design, and the
#: seed's discontinuous one is kept for comparisons, not to be tuned into.
LSTM_SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "embedding_dim": {"type": "categorical", "choices": [16, 32, 64]},
    "atom_hidden": {"type": "categorical", "choices": [16, 32, 48, 64]},
    "crystal_hidden": {"type": "categorical", "choices": [32, 64, 128]},
    "head_hidden": {"type": "categorical", "choices": [32, 64, 128]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.3},
    "lr": {"type": "float", "low": 3e-4, "high": 1e-2, "log": True},
    "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    "batch_size": {"type": "categorical", "choices": [64, 128, 256]},
    "distance_expansion": {"type": "categorical", "choices": [8, 16, 24, 32]},
}


def default_search_space(prefix: str = "") -> dict[str, dict[str, Any]]:
    """A copy of :data:`LSTM_SEARCH_SPACE` with every name prefixed.

    Parameters
    ----------
    prefix : str, default=""
        E.g. ``"neighborlstmregressor__"`` for the regressor inside
        ``make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor())``.

    Returns
    -------
    space : dict
        Editable plain data.
    """
    return {prefix + name: copy.deepcopy(spec) for name, spec in LSTM_SEARCH_SPACE.items()}


def _distribution(name: str, spec: Mapping[str, Any]) -> BaseDistribution:
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ValueError(f"search space entry {name!r} must be a dict with a 'type', got {spec!r}.")
    kind = spec["type"]
    extra = set(spec) - {"type", "low", "high", "log", "step", "choices"}
    if extra:
        raise ValueError(f"search space entry {name!r} has unknown keys {sorted(extra)}.")
    try:
        if kind == "float":
            return FloatDistribution(
                float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False))
            )
        if kind == "int":
            return IntDistribution(
                int(spec["low"]),
                int(spec["high"]),
                log=bool(spec.get("log", False)),
                step=int(spec.get("step", 1)),
            )
        if kind == "categorical":
            return CategoricalDistribution(list(spec["choices"]))
    except KeyError as missing:
        raise ValueError(f"search space entry {name!r} lacks {missing}.") from None
    except ValueError as exc:
        raise ValueError(f"search space entry {name!r}: {exc}") from None
    raise ValueError(
        f"search space entry {name!r} has type {kind!r}; use 'float', 'int' or 'categorical'."
    )


def to_distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, BaseDistribution]:
    """Optuna distributions for a space, e.g. for ``OptunaSearchCV(param_distributions=...)``.

    Parameters
    ----------
    space : dict of str to dict
        Plain-data space (see :data:`LSTM_SEARCH_SPACE`).

    Returns
    -------
    distributions : dict of str to optuna distribution

    Raises
    ------
    ValueError
        Naming the malformed entry.
    """
    return {name: _distribution(name, spec) for name, spec in space.items()}


def check_space(estimator: BaseEstimator, space: Mapping[str, Any]) -> None:
    """Raise before any trial runs if a name is not a parameter of ``estimator``.

    Parameters
    ----------
    estimator : estimator
        The estimator (or pipeline) to tune.
    space : dict
        Names as ``estimator.set_params`` takes them.

    Raises
    ------
    ValueError
        Listing every unknown name, with close matches.
    """
    valid = set(estimator.get_params(deep=True))
    unknown = [name for name in space if name not in valid]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(valid), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"search space names not parameters of {type(estimator).__name__}: " + ", ".join(hints)
        )
    to_distributions(space)


def suggest(trial: optuna.Trial, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Draw one value per entry of the space from ``trial``.

    Parameters
    ----------
    trial : optuna.Trial
    space : dict of str to dict

    Returns
    -------
    params : dict
        Ready for ``estimator.set_params(**params)``.
    """
    params: dict[str, Any] = {}
    for name, distribution in to_distributions(space).items():
        if isinstance(distribution, FloatDistribution):
            params[name] = trial.suggest_float(
                name, distribution.low, distribution.high, log=distribution.log
            )
        elif isinstance(distribution, IntDistribution):
            params[name] = trial.suggest_int(
                name,
                distribution.low,
                distribution.high,
                log=distribution.log,
                step=distribution.step,
            )
        else:
            assert isinstance(distribution, CategoricalDistribution)
            params[name] = trial.suggest_categorical(name, distribution.choices)
    return params
