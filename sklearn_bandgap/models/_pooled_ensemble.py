"""``PooledEnsembleRegressor``: the members of several fitted models averaged as one ensemble."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from sklearn.base import MetaEstimatorMixin, RegressorMixin, _fit_context, clone
from sklearn.utils import Tags, get_tags
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_is_fitted

from sklearn_bandgap.models._seed_ensemble import SeedEnsembleRegressor, mean_of_members


class PooledEnsembleRegressor(MetaEstimatorMixin, RegressorMixin, _BaseComposition):
    """Pool the members of several regressors into one ensemble of equal members.

    Each of ``estimators`` is a single regressor or a
    :class:`SeedEnsembleRegressor`, whose members join the pool one by one;
    the prediction is the mean over all pooled members, each weighing the
    same, and ``return_std=True`` gives their spread. It joins models trained
    with different recipes that predict the same quantity, e.g. the
    formation-energy members and the formation-energy output of band-gap
    members (``output_column``): members that err differently average to a
    smaller error than more members of one recipe. The estimators are named
    as in scikit-learn's ``VotingRegressor`` (``set_params(name__param=...)``,
    ``set_params(name="drop")``), but seed ensembles are opened up (four
    members of one model and two of another weigh 4 : 2, not 1 : 1) and the
    spread is available, as for :class:`SeedEnsembleRegressor`.

    Parameters
    ----------
    estimators : list of (str, regressor)
        The models to pool, by name; ``"drop"`` leaves one out. ``fit``
        trains a clone of each on the same ``X`` and ``y``;
        :meth:`from_fitted` takes models fitted elsewhere.

    Attributes
    ----------
    estimators_ : list of regressors
        The fitted models, in the order of ``estimators`` (dropped ones left out).
    named_estimators_ : dict
        The fitted models by name.
    n_features_in_ : int
        As the first model's, when it has one (array inputs).

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from sklearn_bandgap.models import PooledEnsembleRegressor, SeedEnsembleRegressor
    >>> X, y = [[0.0], [1.0], [2.0], [3.0]], [0.0, 1.0, 2.0, 3.0]
    >>> trees = SeedEnsembleRegressor(DecisionTreeRegressor(), random_states=[0, 1])
    >>> model = PooledEnsembleRegressor([("trees", trees), ("line", LinearRegression())])
    >>> model.fit(X, y).predict([[1.0]]).round(3), len(model.members_)
    (array([1.]), 3)
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"estimators": [list]}

    def __init__(self, estimators: list[tuple[str, Any]]) -> None:
        self.estimators = estimators

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, with each named model's as ``<name>__<param>`` when ``deep``."""
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params: Any) -> PooledEnsembleRegressor:
        """Set parameters; ``<name>=model`` or ``<name>="drop"`` replaces a named model."""
        self._set_params("estimators", **params)
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any, **fit_params: Any) -> PooledEnsembleRegressor:
        """Train a clone of every (not dropped) model on ``X`` and ``y``.

        Parameters
        ----------
        X : object
            Training input, whatever the models accept.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        **fit_params : dict
            Passed to every model's ``fit``.

        Returns
        -------
        self : PooledEnsembleRegressor
            The fitted pool.
        """
        fitted = []
        for name, model in self._checked(self.estimators):
            try:
                fitted.append((name, clone(model).fit(X, y, **fit_params)))
            except ValueError as exc:  # name the model: e.g. one that needs other columns
                raise ValueError(
                    f"estimator {name!r}: {exc} (set_params({name}='drop') leaves it out)"
                ) from exc
        self._set_fitted(fitted)
        return self

    @classmethod
    def from_fitted(cls, estimators: Sequence[tuple[str, Any]]) -> PooledEnsembleRegressor:
        """The pool of models fitted elsewhere, as they are (no refit).

        Parameters
        ----------
        estimators : sequence of (str, fitted regressor)
            E.g. a shipped model's :class:`SeedEnsembleRegressor` and some
            members of another one.

        Returns
        -------
        pool : PooledEnsembleRegressor
            Fitted; its ``estimators`` are unfitted clones of the models (what
            ``fit`` would train again), its ``estimators_`` the models given.

        Raises
        ------
        ValueError
            If the list is empty, a name repeats, or an item is not a model.
        NotFittedError
            If one of them is not fitted.
        """
        pool = cls([(name, clone(model)) for name, model in estimators])
        named = pool._checked(list(estimators))
        for _, model in named:
            check_is_fitted(model)
        pool._set_fitted(named)
        return pool

    def _checked(self, estimators: Any) -> list[tuple[str, Any]]:
        """The named models that are not dropped, after checking the list."""
        if not isinstance(estimators, list) or not estimators:
            raise ValueError("estimators is empty: give at least one (name, regressor) to pool.")
        if not all(isinstance(item, tuple) and len(item) == 2 for item in estimators):
            raise ValueError("estimators must be a list of (name, regressor) pairs.")
        self._validate_names([name for name, _ in estimators])
        bad = [
            name
            for name, model in estimators
            if model != "drop" and not (hasattr(model, "fit") and hasattr(model, "predict"))
        ]
        if bad:
            raise ValueError(f"estimators {bad} have no fit and predict: not regressors.")
        named = [(name, model) for name, model in estimators if model != "drop"]
        if not named:
            raise ValueError("every estimator is dropped: nothing left to pool.")
        return named

    def _set_fitted(self, named: list[tuple[str, Any]]) -> None:
        self.estimators_ = [model for _, model in named]
        if hasattr(self.estimators_[0], "n_features_in_"):
            self.n_features_in_ = self.estimators_[0].n_features_in_

    @property
    def named_estimators_(self) -> dict[str, Any]:
        """The fitted models by name (dropped ones left out)."""
        check_is_fitted(self)
        names = [name for name, model in self.estimators if model != "drop"]
        return dict(zip(names, self.estimators_, strict=True))

    @property
    def members_(self) -> list[Any]:
        """The pooled members: each seed ensemble's members, each other model itself."""
        check_is_fitted(self)
        return list(_members(self.estimators_))

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Mean prediction of the pooled members (and their spread).

        Parameters
        ----------
        X : object
            Input, whatever the models accept.
        return_std : bool, default=False
            Also return the standard deviation of the members' predictions
            (``ddof=0``), as :meth:`SeedEnsembleRegressor.predict`.

        Returns
        -------
        y_pred : ndarray
            The members' mean, shaped like each member's prediction.
        y_std : ndarray, shaped like ``y_pred``
            Only with ``return_std=True``.
        """
        check_is_fitted(self)
        return mean_of_members(self.members_, X, return_std)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        try:
            models = [model for _, model in self.estimators if hasattr(model, "fit")]
        except (TypeError, ValueError):  # not (yet) a list of pairs: fit will say so
            models = []
        if models:
            inner = [get_tags(model) for model in models]
            tags.input_tags = inner[0].input_tags
            # what every model takes
            tags.input_tags.allow_nan = all(t.input_tags.allow_nan for t in inner)
            tags.input_tags.sparse = all(t.input_tags.sparse for t in inner)
            tags.target_tags.multi_output = all(t.target_tags.multi_output for t in inner)
        return tags


def _members(estimators: Sequence[Any]) -> Iterator[Any]:
    for estimator in estimators:
        if isinstance(estimator, SeedEnsembleRegressor | PooledEnsembleRegressor):
            yield from _members(estimator.estimators_)
        else:
            yield estimator
