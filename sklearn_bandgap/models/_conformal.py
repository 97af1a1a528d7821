"""``ConformalRegressor``: split-conformal prediction intervals (MAPIE) on formula groups."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, _fit_context, clone
from sklearn.model_selection import GroupShuffleSplit
from sklearn.utils import Tags, get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.model_selection import formula_groups
from sklearn_bandgap.models._environments import composition_keys
from sklearn_bandgap.utils import take
from sklearn_bandgap.utils._validation import as_item_list, check_target


def _estimator_has(method: str) -> Any:
    """``available_if`` check: the wrapped estimator (fitted or not) has ``method``."""

    def check(self: ConformalRegressor) -> bool:
        return hasattr(getattr(self, "estimator_", self.estimator), method)

    return check


def composition_groups(X: Any) -> np.ndarray:
    """Formula-group labels of structures or of neighbour lists (polymorphs share one)."""
    if isinstance(X, NeighborLists):
        return composition_keys(X)
    return formula_groups([item for item in as_item_list(X)])


class ConformalRegressor(MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """Prediction intervals with a coverage guarantee, by split conformal prediction.

    ``fit`` holds out ``conformalize_size`` of the formula groups of the
    training data (polymorphs never on both sides), fits ``estimator`` on the
    rest, and hands the fitted model and the held-out part to MAPIE's
    ``SplitConformalRegressor`` (absolute-residual conformity score), which
    finds, for each confidence level, the half width ``q`` such that ``[ŷ - q,
    ŷ + q]`` covers that share of new crystals from the same distribution.
    ``predict_interval`` returns these intervals, cut at ``lower_bound`` (0 for
    band gaps: an interval never goes below 0).

    Parameters
    ----------
    estimator : regressor
        The model (a pipeline that takes structures, or a regressor of
        neighbour lists).
    confidence_level : float or sequence of float, default=(0.68, 0.9)
        Coverage of the intervals, one interval per level.
    conformalize_size : float, default=0.2
        Fraction of the formula groups held out for conformalization.
    lower_bound : float or None, default=None
        Intervals (and point predictions) are cut at this value; 0.0 for band
        gaps.
    random_state : int or None, default=None
        Seed of the held-out split.

    Attributes
    ----------
    estimator_ : regressor
        ``estimator`` fitted on the part not held out.
    half_widths_ : ndarray of shape (n_levels,)
        ``q`` of each confidence level (in the target's unit).
    confidence_levels_ : ndarray of shape (n_levels,)
        The levels, in the order of ``half_widths_``.
    n_conformalize_ : int
        Rows used for conformalization.

    Notes
    -----
    The intervals have the same width for every crystal: split conformal with
    the absolute residual guarantees coverage on average, not per crystal.
    For crystal-by-crystal uncertainty use the spread of a
    :class:`SeedEnsembleRegressor` (``predict(X, return_std=True)``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn_bandgap.models import ConformalRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(size=(400, 1))
    >>> y = 2 * X[:, 0] + rng.normal(scale=0.1, size=400)
    >>> groups = np.arange(400)
    >>> model = ConformalRegressor(LinearRegression(), confidence_level=0.9, random_state=0)
    >>> y_pred, intervals = model.fit(X, y, groups=groups).predict_interval(X[:2])
    >>> intervals.shape
    (2, 2, 1)
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "estimator": [HasMethods(["fit", "predict"])],
        "confidence_level": [Interval(Real, 0, 1, closed="neither"), "array-like"],
        "conformalize_size": [Interval(Real, 0, 1, closed="neither")],
        "lower_bound": [Real, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator: Any,
        *,
        confidence_level: float | Sequence[float] = (0.68, 0.9),
        conformalize_size: float = 0.2,
        lower_bound: float | None = None,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.confidence_level = confidence_level
        self.conformalize_size = conformalize_size
        self.lower_bound = lower_bound
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any, groups: Any = None) -> ConformalRegressor:
        """Fit ``estimator`` on part of the groups and conformalize on the rest.

        Parameters
        ----------
        X : object
            Structures (or whatever ``estimator`` takes; neighbour lists too).
        y : array-like of shape (n_samples,)
            Targets.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the held-out split; by default the reduced formula
            of each structure (:func:`composition_groups`).

        Returns
        -------
        self : ConformalRegressor
            The fitted model.
        """
        from mapie.regression import SplitConformalRegressor

        y = check_target(y, len(X), multi_output=False).ravel()
        levels = np.atleast_1d(np.asarray(self.confidence_level, dtype=float))
        if levels.ndim != 1 or ((levels <= 0) | (levels >= 1)).any():
            raise ValueError(f"confidence_level must lie in (0, 1), got {self.confidence_level}.")
        groups = composition_groups(X) if groups is None else np.asarray(groups)
        if len(groups) != len(y):
            raise ValueError(f"groups has {len(groups)} labels for {len(y)} rows.")
        splitter = GroupShuffleSplit(
            n_splits=1, test_size=self.conformalize_size, random_state=self.random_state
        )
        train, held_out = next(splitter.split(np.zeros(len(y)), y, groups))
        self.estimator_ = clone(self.estimator).fit(take(X, train), y[train])
        conformal = SplitConformalRegressor(
            estimator=self.estimator_, confidence_level=levels.tolist(), prefit=True
        )
        X_held_out = take(X, held_out)
        conformal.conformalize(X_held_out, y[held_out])
        # The absolute-residual score gives [ŷ - q, ŷ + q]: keep q per level and drop
        # MAPIE's object, so that the fitted model is plain data (and persists safely).
        y_pred, bounds = conformal.predict_interval(take(X_held_out, np.arange(1)))
        self.half_widths_ = (bounds[0, 1, :] - y_pred[0]).astype(float)
        self.confidence_levels_ = levels
        self.n_conformalize_ = len(held_out)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Point predictions of ``estimator_`` (cut at ``lower_bound``).

        Parameters
        ----------
        X : object
            Input, as in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        y_pred = np.asarray(self.estimator_.predict(X), dtype=np.float64).ravel()
        return y_pred if self.lower_bound is None else np.maximum(y_pred, self.lower_bound)

    def predict_interval(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Point predictions and their conformal intervals.

        Parameters
        ----------
        X : object
            Input, as in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        intervals : ndarray of shape (n_samples, 2, n_levels)
            Lower (``[:, 0, k]``) and upper (``[:, 1, k]``) bounds at
            ``confidence_levels_[k]``, cut at ``lower_bound``.
        """
        check_is_fitted(self)
        raw = np.asarray(self.estimator_.predict(X), dtype=np.float64).ravel()
        intervals = np.stack(
            [raw[:, None] - self.half_widths_, raw[:, None] + self.half_widths_], axis=1
        )
        if self.lower_bound is not None:
            intervals = np.maximum(intervals, self.lower_bound)
            raw = np.maximum(raw, self.lower_bound)
        return raw, intervals

    @available_if(_estimator_has("nonzero_probability"))
    def nonzero_probability(self, X: Any) -> np.ndarray:
        """The wrapped model's probability that ``y > 0`` (for band gaps: not a metal).

        Only when ``estimator`` has it (:class:`ZeroInflatedRegressor`,
        :class:`TwoHeadBandGapRegressor`).

        Parameters
        ----------
        X : object
            Input, as in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return np.asarray(self.estimator_.nonzero_probability(X), dtype=np.float64)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags = get_tags(self.estimator).input_tags
        return tags
