"""Knowledge distillation for the shipped recipes: training targets blended with a teacher's.

A recipe with a ``teacher`` (the name of another shipped model, e.g. the
CHGNet-feature band-gap model) trains each member on the blend

    (1 - w) x DFT value + w x the prediction of the teacher's member of the same seed

in its target column, other columns untouched. The teacher's member of the
same ``random_state`` held out the same compositions for early stopping as
the student (:class:`~sklearn_bandgap._nn._training.CompositionGroupSplit`
seeded by it, on the same training part), so the student's validation part
is one the teacher never trained on either: the paired comparison of students
on their validation parts stays clean, and no member of either model ever saw
the test split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sklearn_bandgap.featurizers import NeighborLists
from sklearn_bandgap.models import SeedEnsembleRegressor
from sklearn_bandgap.models._unwrap import find_inner
from sklearn_bandgap.utils._targets import distilled_targets

__all__ = ["distilled_targets", "teacher_member", "teacher_predictions"]


def teacher_member(model: Any, random_state: int) -> Any:
    """The member of a shipped seed-ensemble model trained with ``random_state``.

    Parameters
    ----------
    model : Pipeline
        A shipped model (:func:`~sklearn_bandgap.pretrained.load_pretrained`):
        a featurizer, then a seed ensemble, possibly inside a conformal wrapper.
    random_state : int
        The seed of the member to return.

    Returns
    -------
    NeighborLSTMRegressor
        The fitted member.

    Raises
    ------
    ValueError
        If the model holds no seed ensemble or no member of that seed.
    """
    final = find_inner(model, SeedEnsembleRegressor)
    if final is None:
        raise ValueError(f"the teacher holds no SeedEnsembleRegressor (found {model[-1]!r})")
    for member in final.estimators_:
        if member.random_state == random_state:
            return member
    seeds = [m.random_state for m in final.estimators_]
    raise ValueError(f"the teacher has no member with random_state={random_state} (has {seeds})")


def teacher_predictions(member: Any, lists: NeighborLists) -> np.ndarray:
    """The teacher member's prediction of its headline column for ``lists``."""
    return np.asarray(member.predict(lists), dtype=np.float64).reshape(len(lists), -1)[:, 0]
