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

A teacher that fits the student's training rows too closely passes on little
beyond the DFT values (record ``member_validation/2026-12-06-teacher2``). With
``teacher_folds`` the labels are out of fold instead (:func:`teacher_folds`,
:func:`out_of_fold_labels`): the student's fit part (its training part without
its early-stopping validation part) is cut into folds of whole formulas, one
teacher member per fold trains on the other folds and labels its own, and the
validation part gets the mean of the fold members, none of which trained on it.

Crystals without DFT labels can join in the same way (:func:`teacher_labels` and
:func:`with_extra_crystals`): the teacher's member labels them, they are appended
with a missing value (NaN) in every other column, and ``fit``'s ``train_only``
keeps them out of the validation part, so that the student's validation part is
the same MP crystals as without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sklearn_bandgap.featurizers import NeighborLists
from sklearn_bandgap.models import SeedEnsembleRegressor
from sklearn_bandgap.models._domain import domain_problems
from sklearn_bandgap.models._unwrap import find_inner
from sklearn_bandgap.utils._targets import distilled_targets

__all__ = [
    "distilled_targets",
    "out_of_fold_labels",
    "teacher_folds",
    "teacher_labels",
    "teacher_member",
    "teacher_member_file",
    "teacher_predictions",
    "with_extra_crystals",
]


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


def teacher_member_file(path: str | Path, random_state: int) -> Any:
    """A teacher's member saved on its own, checked to be the member of ``random_state``.

    For a recipe whose ``teacher_members`` names the member files of an earlier
    teacher rather than the shipped file's members.

    Parameters
    ----------
    path : str or Path
        The member's model file (:func:`sklearn_bandgap.io.save`).
    random_state : int
        The seed the member must have been trained with.

    Returns
    -------
    NeighborLSTMRegressor
        The fitted member.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file holds a member of another seed.
    """
    from sklearn_bandgap.io import load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no teacher member file {path}")
    member = load(path)
    seed = getattr(member, "random_state", None)
    if seed != random_state:
        raise ValueError(
            f"the teacher member file {path} holds the member of random_state={seed}, "
            f"not {random_state}"
        )
    return member


def teacher_folds(
    formulas: Any, validation: Any, n_folds: int, random_state: int | None
) -> np.ndarray:
    """Fold of each training row for out-of-fold teacher labels.

    Parameters
    ----------
    formulas : array-like of str, shape (n,)
        Reduced formulas of the student's training rows: a formula's rows share
        a fold, so no teacher labels a row of a formula it trained on.
    validation : array-like of int
        Rows of the student's early-stopping validation part; they get fold -1
        and no fold member trains on them.
    n_folds : int
        Number of folds (and of teacher members), at least 2.
    random_state : int or None
        Shuffles the formulas before they are dealt to folds (scikit-learn's
        ``GroupKFold(shuffle=True)``); the student's seed, in the recipes.

    Returns
    -------
    folds : ndarray of int, shape (n,)
        0 to ``n_folds - 1`` for the fit part, -1 for the validation part.

    Raises
    ------
    ValueError
        If ``n_folds < 2``, a validation row is out of range, or the fit part
        has fewer formulas than folds.
    """
    from sklearn.model_selection import GroupKFold

    formulas = np.asarray(formulas, dtype=object)
    validation = np.asarray(validation, dtype=int).reshape(-1)
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 2:
        raise ValueError(f"n_folds must be an integer of at least 2, got {n_folds!r}")
    if len(validation) and (validation.min() < 0 or validation.max() >= len(formulas)):
        raise ValueError(f"validation rows must lie in [0, {len(formulas)}), got {validation}")
    folds = np.full(len(formulas), -1, dtype=int)
    fit = np.setdiff1d(np.arange(len(formulas)), validation)
    n_groups = len(set(formulas[fit]))
    if n_groups < n_folds:
        raise ValueError(f"{n_groups} formulas outside the validation part for {n_folds} folds")
    splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for k, (_, held_out) in enumerate(splitter.split(fit, groups=formulas[fit])):
        folds[fit[held_out]] = k
    return folds


def out_of_fold_labels(predictions: Any, folds: Any) -> np.ndarray:
    """Each row's teacher label from the fold member that did not train on it.

    Parameters
    ----------
    predictions : array-like of shape (n_folds, n)
        Row ``k``: the prediction, for every training row, of the teacher member
        that trained on every fold but ``k``.
    folds : array-like of int, shape (n,)
        :func:`teacher_folds`: the row's fold, or -1 (validation part).

    Returns
    -------
    labels : ndarray of shape (n,)
        Row ``i`` of fold ``k``: ``predictions[k, i]``; a validation row: the
        mean over the fold members (none of which trained on it).

    Raises
    ------
    ValueError
        If the shapes disagree or a fold has no member.
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    folds = np.asarray(folds, dtype=int).reshape(-1)
    if predictions.ndim != 2 or predictions.shape[1] != len(folds):
        raise ValueError(
            f"predictions of shape {predictions.shape} for {len(folds)} rows: one row per fold "
            "member, one column per training row"
        )
    if folds.min(initial=0) < -1 or folds.max(initial=-1) >= len(predictions):
        raise ValueError(f"folds must lie in [-1, {len(predictions)}), got {np.unique(folds)}")
    labels = predictions.mean(axis=0)
    fit = folds >= 0
    labels[fit] = predictions[folds[fit], np.flatnonzero(fit)]
    return labels


def teacher_predictions(member: Any, lists: NeighborLists) -> np.ndarray:
    """The teacher member's prediction of its headline column for ``lists``."""
    return np.asarray(member.predict(lists), dtype=np.float64).reshape(len(lists), -1)[:, 0]


def teacher_labels(
    member: Any,
    lists: NeighborLists,
    formulas: Any,
    *,
    exclude_formulas: Any = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Which extra crystals a teacher's member labels, and its labels.

    Parameters
    ----------
    member : NeighborLSTMRegressor
        The teacher's member (:func:`teacher_member`).
    lists : NeighborLists
        The extra crystals' lists as the member reads them (with its atom
        features, if any).
    formulas : array-like of str, shape (len(lists),)
        Their reduced formulas.
    exclude_formulas : iterable of str, default=()
        Formulas left out, e.g. those of the test split: the student then sees
        no crystal of a test formula, not even one labelled by the teacher.

    Returns
    -------
    kept : ndarray of int
        Indices (into ``lists``) of the crystals kept: not excluded, and inside
        the member's domain (elements and distances it was fitted on), so that
        no label is an extrapolation.
    labels : ndarray of shape (len(kept),)
        The member's prediction of its headline column for them.
    """
    formulas = np.asarray(formulas, dtype=object)
    if len(formulas) != len(lists):
        raise ValueError(f"{len(formulas)} formulas for {len(lists)} crystals")
    usable = ~np.isin(formulas, list(exclude_formulas))
    for problem in domain_problems(lists, member.elements_seen_, member.distance_range_):
        usable[problem.index] = False
    kept = np.flatnonzero(usable)
    if not len(kept):
        return kept, np.empty(0)
    return kept, teacher_predictions(member, lists.take(kept))


def with_extra_crystals(
    lists: NeighborLists,
    y: np.ndarray,
    extra_lists: NeighborLists,
    labels: np.ndarray,
    column: int = 0,
) -> tuple[NeighborLists, np.ndarray, np.ndarray]:
    """Training data with teacher-labelled crystals appended, and their ``train_only`` mask.

    Parameters
    ----------
    lists : NeighborLists
        The labelled training crystals.
    y : ndarray of shape (n,) or (n, n_targets)
        Their targets.
    extra_lists : NeighborLists
        The extra crystals (the same featurization as ``lists``).
    labels : ndarray of shape (len(extra_lists),)
        Their labels in ``column`` (e.g. :func:`teacher_labels`); every other
        column gets NaN, so the student needs ``missing_targets="ignore"``
        when ``y`` has more than one.
    column : int, default=0
        The column the labels fill.

    Returns
    -------
    lists, y : NeighborLists, ndarray
        The training crystals, then the extra ones.
    train_only : ndarray of bool
        True for the extra crystals: pass it to ``fit``.
    """
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if len(labels) != len(extra_lists):
        raise ValueError(f"{len(labels)} labels for {len(extra_lists)} extra crystals")
    y = np.asarray(y, dtype=np.float64)
    extra_y = np.full((len(labels), *y.shape[1:]), np.nan)
    if y.ndim == 1:
        extra_y[:] = labels
    else:
        extra_y[:, column] = labels
    combined = NeighborLists.from_lists([*lists, *extra_lists], lists.n_neighbors)
    train_only = np.r_[np.zeros(len(lists), dtype=bool), np.ones(len(extra_lists), dtype=bool)]
    return combined, np.concatenate([y, extra_y]), train_only
