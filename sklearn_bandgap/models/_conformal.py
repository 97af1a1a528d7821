"""``ConformalRegressor``: split-conformal prediction intervals (MAPIE) on formula groups."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, _fit_context, clone
from sklearn.exceptions import NotFittedError
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


class _GivenPredictions(RegressorMixin, BaseEstimator):
    """A fitted "regressor" whose input is its own prediction (one column).

    MAPIE conformalizes on these instead of on the structures themselves: it
    never has to index or validate CIF texts, paths or neighbour lists (any
    input the wrapped model takes works), and the model predicts once.
    """

    def fit(self, X: Any, y: Any = None) -> _GivenPredictions:
        self.n_features_in_ = 1
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)[:, 0]


def _half_widths(estimator: Any, X: Any, y: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """MAPIE's split-conformal half width of a fitted ``estimator`` at each level."""
    from mapie.regression import SplitConformalRegressor

    y_pred = np.asarray(estimator.predict(X), dtype=np.float64).reshape(-1, 1)
    conformal = SplitConformalRegressor(
        estimator=_GivenPredictions().fit(y_pred), confidence_level=levels.tolist(), prefit=True
    )
    conformal.conformalize(y_pred, y)
    # The absolute-residual score gives [ŷ - q, ŷ + q]: keep q per level and drop
    # MAPIE's object, so that the fitted model is plain data (and persists safely).
    centre, bounds = conformal.predict_interval(y_pred[:1])
    return np.asarray(bounds[0, 1, :] - centre[0], dtype=float)


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
    separate_at : float or None, default=None
        Conformalize the crystals predicted at or below this value (after the
        cut at ``lower_bound``) apart from the others: Mondrian conformal
        prediction with the predicted class as the category. Each part then
        keeps its coverage on its own: predicted metals get their own, narrow
        intervals, and the gapped crystals are not covered at the metals'
        expense. ``0.0`` separates the metals of a
        :class:`ZeroInflatedRegressor` (predicted exactly 0); for a plain
        band-gap regressor a small gap such as ``0.1`` (eV) does the same.
    prefit : bool, default=False
        ``estimator`` is already fitted (a shipped model, say): ``fit`` uses
        all of ``X, y`` for conformalization and trains nothing. They must be
        crystals the model never saw in training.
    random_state : int or None, default=None
        Seed of the held-out split.

    Attributes
    ----------
    estimator_ : regressor
        ``estimator`` fitted on the part not held out (``estimator`` itself
        with ``prefit``).
    half_widths_ : ndarray of shape (n_levels,)
        ``q`` of each confidence level (in the target's unit); with
        ``separate_at``, of the crystals predicted above it.
    low_half_widths_ : ndarray of shape (n_levels,)
        With ``separate_at`` only: ``q`` of the crystals predicted at or
        below it.
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
        "separate_at": [Real, None],
        "prefit": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator: Any,
        *,
        confidence_level: float | Sequence[float] = (0.68, 0.9),
        conformalize_size: float = 0.2,
        lower_bound: float | None = None,
        separate_at: float | None = None,
        prefit: bool = False,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.confidence_level = confidence_level
        self.conformalize_size = conformalize_size
        self.lower_bound = lower_bound
        self.separate_at = separate_at
        self.prefit = prefit
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
            of each structure (:func:`composition_groups`). Unused with
            ``prefit``.

        Returns
        -------
        self : ConformalRegressor
            The fitted model.
        """
        y = check_target(y, len(X), multi_output=False).ravel()
        levels = np.atleast_1d(np.asarray(self.confidence_level, dtype=float))
        if levels.ndim != 1 or ((levels <= 0) | (levels >= 1)).any():
            raise ValueError(f"confidence_level must lie in (0, 1), got {self.confidence_level}.")
        if not self.prefit:
            groups = composition_groups(X) if groups is None else np.asarray(groups)
        if not self.prefit and len(groups) != len(y):
            raise ValueError(f"groups has {len(groups)} labels for {len(y)} rows.")
        if self.prefit:
            try:
                check_is_fitted(self.estimator)
            except NotFittedError:
                raise ValueError(
                    f"prefit=True needs a fitted estimator, and this "
                    f"{type(self.estimator).__name__} is not (clone() unfits it, e.g. in "
                    "cross_val_predict or GridSearchCV): set prefit=False to fit it on part of "
                    "the groups and conformalize on the rest, or wrap the whole model in "
                    "sklearn.frozen.FrozenEstimator to keep it as it is."
                ) from None
            self.estimator_ = self.estimator
            held_out = np.arange(len(y))
        else:
            splitter = GroupShuffleSplit(
                n_splits=1, test_size=self.conformalize_size, random_state=self.random_state
            )
            train, held_out = next(splitter.split(np.zeros(len(y)), y, groups))
            self.estimator_ = clone(self.estimator).fit(take(X, train), y[train])
        X_held_out, y_held_out = take(X, held_out), y[held_out]
        if self.separate_at is not None:
            low = self._is_low(self.estimator_.predict(X_held_out))
            at = f"{self.separate_at:g}"
            parts = {f"predicted above {at}": ~low, f"predicted at or below {at}": low}
            for part, rows in parts.items():
                if rows.sum() < np.ceil(1 / (1 - levels.max())):
                    raise ValueError(
                        f"separate_at={at}: only {rows.sum()} of the {len(held_out)} "
                        f"conformalization rows are {part}; a {levels.max():.0%} interval "
                        f"needs at least {np.ceil(1 / (1 - levels.max())):.0f}. Hold out more "
                        "(conformalize_size) or set separate_at=None."
                    )
            rows = np.flatnonzero(~low)
            self.half_widths_ = _half_widths(
                self.estimator_, take(X_held_out, rows), y_held_out[rows], levels
            )
            rows = np.flatnonzero(low)
            self.low_half_widths_ = _half_widths(
                self.estimator_, take(X_held_out, rows), y_held_out[rows], levels
            )
        else:
            self.half_widths_ = _half_widths(self.estimator_, X_held_out, y_held_out, levels)
        self.confidence_levels_ = levels
        self.n_conformalize_ = len(held_out)
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Point predictions of ``estimator_`` (cut at ``lower_bound``).

        Parameters
        ----------
        X : object
            Input, as in ``fit``.
        return_std : bool, default=False
            Also return the wrapped model's own spread (a
            :class:`SeedEnsembleRegressor`'s members' standard deviation):
            only for a model whose ``predict`` takes ``return_std``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        y_std : ndarray of shape (n_samples,)
            With ``return_std=True`` only.
        """
        y_pred, y_std = self._raw(X, return_std)
        if self.lower_bound is not None:
            y_pred = np.maximum(y_pred, self.lower_bound)
        return (y_pred, y_std) if return_std else y_pred

    def predict_interval(self, X: Any, return_std: bool = False) -> Any:
        """Point predictions and their conformal intervals.

        Parameters
        ----------
        X : object
            Input, as in ``fit``.
        return_std : bool, default=False
            Also return the wrapped model's spread, as :meth:`predict` (the
            model predicts once for all three).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        intervals : ndarray of shape (n_samples, 2, n_levels)
            Lower (``[:, 0, k]``) and upper (``[:, 1, k]``) bounds at
            ``confidence_levels_[k]``, cut at ``lower_bound``.
        y_std : ndarray of shape (n_samples,)
            With ``return_std=True`` only.
        """
        raw, y_std = self._raw(X, return_std)
        half_widths = np.broadcast_to(self.half_widths_, (len(raw), len(self.half_widths_)))
        if self.separate_at is not None:
            half_widths = np.where(
                self._is_low(raw)[:, None], self.low_half_widths_, self.half_widths_
            )
        intervals = np.stack([raw[:, None] - half_widths, raw[:, None] + half_widths], axis=1)
        if self.lower_bound is not None:
            intervals = np.maximum(intervals, self.lower_bound)
            raw = np.maximum(raw, self.lower_bound)
        return (raw, intervals, y_std) if return_std else (raw, intervals)

    def _raw(self, X: Any, return_std: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The wrapped model's predictions (uncut), and its spread when asked for."""
        check_is_fitted(self)
        if not return_std:
            return np.asarray(self.estimator_.predict(X), dtype=np.float64).ravel(), None
        if not self.has_std():
            raise ValueError(
                f"return_std=True: the wrapped {type(self.estimator_).__name__} has no spread "
                "(predict(X, return_std=True) needs e.g. a SeedEnsembleRegressor)."
            )
        y_pred, y_std = self.estimator_.predict(X, return_std=True)
        return (
            np.asarray(y_pred, dtype=np.float64).ravel(),
            np.asarray(y_std, dtype=np.float64).ravel(),
        )

    def has_std(self) -> bool:
        """Whether the wrapped model gives a spread (``predict(X, return_std=True)``)."""
        import inspect

        model = getattr(self, "estimator_", self.estimator)
        if hasattr(model, "steps"):  # a Pipeline: its final step predicts
            model = model[-1]
        if isinstance(model, ConformalRegressor):
            return model.has_std()
        predict = getattr(model, "predict", None)
        return predict is not None and "return_std" in inspect.signature(predict).parameters

    def _is_low(self, raw: Any) -> np.ndarray:
        """Which raw predictions are at or below ``separate_at`` once cut at ``lower_bound``."""
        cut = np.asarray(raw, dtype=np.float64).ravel()
        if self.lower_bound is not None:
            cut = np.maximum(cut, self.lower_bound)
        assert self.separate_at is not None  # called only with separate_at set
        return np.asarray(cut <= self.separate_at)

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
