"""``compare``: several estimators on identical folds, one table."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import check_cv

from sklearn_bandgap.exceptions import InvalidStructureError
from sklearn_bandgap.utils import take
from sklearn_bandgap.utils._validation import check_target

#: The default scores: name -> metric(y_true, y_pred).
DEFAULT_SCORING: dict[str, Callable[[Any, Any], float]] = {
    "mae": mean_absolute_error,
    "rmse": root_mean_squared_error,
    "r2": r2_score,
}


@dataclass(eq=False)  # compared by identity: pandas compares attrs when combining frames
class ComparisonDetails:
    """What :func:`compare` keeps beside its table, in ``table.attrs["details"]``.

    Attributes
    ----------
    folds : list of (ndarray, ndarray)
        The ``(train, test)`` indices every estimator was run on.
    per_fold : DataFrame
        One row per (estimator, fold): every score, fit and predict seconds.
    predictions : dict of str to ndarray
        Per estimator, its test-fold predictions concatenated in fold order,
        aligned with :attr:`test_indices`.
    """

    folds: list[tuple[np.ndarray, np.ndarray]]
    per_fold: pd.DataFrame
    predictions: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def test_indices(self) -> np.ndarray:
        """The test indices of all folds, concatenated in fold order."""
        return np.concatenate([test for _, test in self.folds])


#: An estimator whose test predictions spread less than this fraction of the
#: targets' spread is flagged ``constant`` by :func:`compare`.
CONSTANT_SPREAD = 0.01


def _run_fold(
    name: str,
    estimator: BaseEstimator,
    X: Any,
    y: np.ndarray,
    fold: int,
    train: np.ndarray,
    test: np.ndarray,
    scoring: Mapping[str, Callable[[Any, Any], float]],
    n_folds: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    model = clone(estimator)
    where = f"{name}, fold {fold + 1}/{n_folds}"
    if progress:
        print(f"compare: {where}: fitting on {len(train)} rows ...", file=sys.stderr, flush=True)
    rows = train  # the fold's rows being worked on, for naming a failing item
    try:
        start = time.perf_counter()
        model.fit(take(X, train), y[train])
        fit_seconds = time.perf_counter() - start
        rows = test
        start = time.perf_counter()
        y_pred = np.asarray(model.predict(take(X, test)), dtype=np.float64)
        predict_seconds = time.perf_counter() - start
    except InvalidStructureError as exc:  # named by their position in X, not in the fold
        error = exc.renumbered(rows)
        error.add_note(f"in compare(): estimator {name!r}, fold {fold}")
        raise error from exc
    except Exception as exc:
        exc.add_note(f"in compare(): estimator {name!r}, fold {fold}")
        raise
    scores = {score: float(metric(y[test], y_pred)) for score, metric in scoring.items()}
    spread = float(np.std(y[test]))
    if progress:
        shown = ", ".join(f"{score} {value:.4g}" for score, value in scores.items())
        print(
            f"compare: {where}: {shown} (fit {fit_seconds:.1f} s, predict {predict_seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    return {
        "estimator": name,
        "fold": fold,
        **scores,
        "prediction_spread": float(np.std(y_pred)) / spread if spread > 0 else np.nan,
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "y_pred": y_pred,
    }


def compare(
    estimators: Mapping[str, BaseEstimator] | Iterable[tuple[str, BaseEstimator]],
    X: Any,
    y: Any,
    *,
    cv: Any = 5,
    groups: Any = None,
    scoring: Mapping[str, Callable[[Any, Any], float]] | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
) -> pd.DataFrame:
    """Fit and score every estimator on the same folds; one row per estimator.

    The folds are made once (``cv.split(X, y, groups)``) and reused for every
    estimator, so the figures are paired. Each estimator is cloned per fold.

    Parameters
    ----------
    estimators : dict of str to estimator, or sequence of (name, estimator)
        What to compare (e.g. a ``NeighborListFeaturizer`` + ``NeighborLSTMRegressor``
        pipeline and the baselines of :mod:`sklearn_bandgap.baselines`).
    X : sequence of structures, or anything the estimators take
        Indexed per fold (lists, arrays, DataFrames, ``NeighborLists``).
    y : array-like of shape (n_samples,)
        Targets.
    cv : int, cross-validation generator or iterable of (train, test), default=5
        As in :func:`sklearn.model_selection.cross_validate`. For honest figures
        on crystals use formula groups, e.g. ``GroupKFold(5)`` with
        ``groups=formula_groups(X)``, or one split from
        :func:`~sklearn_bandgap.model_selection.formula_group_split`: ``[(train, test)]``.
    groups : array-like of shape (n_samples,), default=None
        Group labels for group-aware splitters.
    scoring : dict of str to callable, default=None
        ``name -> metric(y_true, y_pred)``; default MAE, RMSE and R²
        (:data:`DEFAULT_SCORING`).
    n_jobs : int, default=None
        joblib workers over (estimator, fold) pairs. Each worker holds one
        model; estimators that parallelise themselves (``n_jobs`` of a forest)
        are better run with ``n_jobs=None`` here.
    verbose : int, default=0
        From 1, a line on standard error when each (estimator, fold) starts
        and one with its scores and times when it ends; from 2, joblib's own
        progress messages too.

    Returns
    -------
    table : DataFrame
        Indexed by estimator name, in the given order: ``<score>_mean`` and
        ``<score>_std`` over folds for each score, ``fit_seconds`` and
        ``predict_seconds`` (means), ``n_folds``, ``prediction_spread`` (the
        standard deviation of the test-fold predictions over that of the
        targets, mean over folds) and ``constant`` (True when that ratio is
        below :data:`CONSTANT_SPREAD`: the estimator predicts about one value
        per fold, however good its MAE looks on a mostly-zero target). ``table.attrs["details"]``
        is a :class:`ComparisonDetails`: the folds, every score of every fold,
        and the test-fold predictions of each estimator.

    Raises
    ------
    InvalidStructureError
        When an estimator cannot featurize some structures of a fold: each is
        named by its position in ``X`` (not in the fold); a note names the
        estimator and fold, and the featurizer's own error (a
        :class:`~sklearn_bandgap.exceptions.FeaturizationError` keeps the
        fold's computed features) is its ``__cause__``. Any other error of an
        estimator is raised as it is, with that note.

    Examples
    --------
    >>> from sklearn.model_selection import GroupKFold
    >>> from sklearn_bandgap.baselines import compare, make_dummy, make_rf_magpie
    >>> from sklearn_bandgap.datasets import load_mp_gap_eform
    >>> from sklearn_bandgap.model_selection import formula_groups
    >>> X, y = load_mp_gap_eform(subset="sample200", return_X_y=True, progress=False)
    >>> table = compare(
    ...     {"mean": make_dummy(), "rf_magpie": make_rf_magpie(n_estimators=20)},
    ...     X, y, cv=GroupKFold(3), groups=formula_groups(X),
    ... )
    >>> list(table.index), table.loc["rf_magpie", "n_folds"]
    (['mean', 'rf_magpie'], np.int64(3))
    """
    named = list(estimators.items() if isinstance(estimators, Mapping) else estimators)
    names = [name for name, _ in named]
    if not named:
        raise ValueError("estimators is empty: give at least one (name, estimator).")
    if len(set(names)) != len(names):
        raise ValueError(f"estimator names must be unique, got {names}.")
    for name, estimator in named:
        if not hasattr(estimator, "fit") or not hasattr(estimator, "predict"):
            raise TypeError(f"estimator {name!r} ({type(estimator).__name__}) has no fit/predict.")
    y_array = check_target(y, len(X), multi_output=False)
    y_array = y_array.ravel()  # one column
    scoring = dict(DEFAULT_SCORING if scoring is None else scoring)
    splitter = check_cv(cv, y_array, classifier=any(is_classifier(e) for _, e in named))
    folds = [
        (np.asarray(train), np.asarray(test))
        for train, test in splitter.split(np.zeros(len(y_array)), y_array, groups)
    ]
    runs = Parallel(n_jobs=n_jobs, verbose=max(verbose - 1, 0))(
        delayed(_run_fold)(
            name, estimator, X, y_array, i, train, test, scoring, len(folds), verbose > 0
        )
        for name, estimator in named
        for i, (train, test) in enumerate(folds)
    )
    per_fold = pd.DataFrame([{k: v for k, v in run.items() if k != "y_pred"} for run in runs])
    columns: dict[str, Any] = {}
    grouped = per_fold.groupby("estimator", sort=False)
    for score in scoring:
        columns[f"{score}_mean"] = grouped[score].mean()
        columns[f"{score}_std"] = grouped[score].std(ddof=0)
    columns["fit_seconds"] = grouped["fit_seconds"].mean()
    columns["predict_seconds"] = grouped["predict_seconds"].mean()
    columns["n_folds"] = grouped["fold"].count()
    columns["prediction_spread"] = grouped["prediction_spread"].mean()
    columns["constant"] = columns["prediction_spread"] < CONSTANT_SPREAD
    table = pd.DataFrame(columns).loc[names]
    table.index.name = "estimator"
    predictions = {
        name: np.concatenate([run["y_pred"] for run in runs if run["estimator"] == name])
        for name in names
    }
    table.attrs["details"] = ComparisonDetails(folds, per_fold, predictions)
    return table
