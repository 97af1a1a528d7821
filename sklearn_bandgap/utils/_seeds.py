"""Seeds of the seed ensembles (of property models and of translators)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone


def seed_parameters(estimator: BaseEstimator) -> list[str]:
    """Names of the ``random_state`` parameters of ``estimator`` (nested included)."""
    return sorted(
        name
        for name in estimator.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    )


def check_random_states(random_states: Any) -> list[int]:
    """The seeds of a seed ensemble as ints; a clear error if empty, not integers or repeated."""
    seeds = np.asarray(random_states)
    if seeds.ndim != 1 or seeds.size == 0 or not np.issubdtype(seeds.dtype, np.integer):
        raise ValueError(
            f"random_states must be a non-empty sequence of integers, got {random_states!r}."
        )
    values, counts = np.unique(seeds, return_counts=True)
    repeated = values[counts > 1].tolist()
    if repeated:
        raise ValueError(
            f"random_states repeats {repeated}: repeated seeds train identical members."
        )
    return [int(s) for s in seeds]


def seeded_clones(estimator: Any, random_states: Any) -> tuple[list[str], list[Any]]:
    """One unfitted clone of ``estimator`` per seed, every ``random_state`` in it set to the seed.

    Returns the names of the seed parameters and the clones; a clear error if
    the seeds are bad or ``estimator`` has no ``random_state`` parameter.
    """
    seeds = check_random_states(random_states)
    names = seed_parameters(estimator)
    if not names:
        raise ValueError(
            f"{type(estimator).__name__} has no random_state parameter (nested or not): its "
            "members would all be the same model."
        )
    return names, [clone(estimator).set_params(**dict.fromkeys(names, seed)) for seed in seeds]
