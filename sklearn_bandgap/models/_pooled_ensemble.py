"""``PooledEnsembleRegressor``: the members of several fitted models averaged as one ensemble."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, _fit_context, clone
from sklearn.utils import Tags, get_tags
from sklearn.utils.validation import check_is_fitted

from sklearn_bandgap.models._seed_ensemble import SeedEnsembleRegressor, mean_of_members


class PooledEnsembleRegressor(MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """Pool the members of several regressors into one ensemble of equal members.

    Each of ``estimators`` is a single regressor or a
    :class:`SeedEnsembleRegressor`, whose members join the pool one by one;
    the prediction is the mean over all pooled members, each weighing the
    same, and ``return_std=True`` gives their spread. It joins models trained
    with different recipes that predict the same quantity, e.g. the
    formation-energy members and the formation-energy output of band-gap
    members (``output_column``): members that err differently average to a
    smaller error than more members of one recipe. Unlike scikit-learn's
    ``VotingRegressor``, seed ensembles are opened up (four members of one
    model and two of another weigh 4 : 2, not 1 : 1) and the spread is
    available, as for :class:`SeedEnsembleRegressor`.

    Parameters
    ----------
    estimators : list of regressors
        The models to pool, each trained on the same ``X`` and ``y`` by
        ``fit`` (clones), or already fitted elsewhere (:meth:`from_fitted`).

    Attributes
    ----------
    estimators_ : list of regressors
        The fitted models, in the order of ``estimators``.
    n_features_in_ : int
        As the first model's, when it has one (array inputs).

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from sklearn_bandgap.models import PooledEnsembleRegressor, SeedEnsembleRegressor
    >>> X, y = [[0.0], [1.0], [2.0], [3.0]], [0.0, 1.0, 2.0, 3.0]
    >>> trees = SeedEnsembleRegressor(DecisionTreeRegressor(), random_states=[0, 1])
    >>> model = PooledEnsembleRegressor([trees, LinearRegression()]).fit(X, y)
    >>> len(model.members_), model.predict([[1.0]]).round(3)
    (3, array([1.]))
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"estimators": [list]}

    def __init__(self, estimators: list[Any]) -> None:
        self.estimators = estimators

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any, **fit_params: Any) -> PooledEnsembleRegressor:
        """Train a clone of every estimator on ``X`` and ``y``.

        Parameters
        ----------
        X : object
            Training input, whatever the estimators accept.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        **fit_params : dict
            Passed to every estimator's ``fit``.

        Returns
        -------
        self : PooledEnsembleRegressor
            The fitted pool.
        """
        _check_estimators(self.estimators)
        self.estimators_ = [clone(model).fit(X, y, **fit_params) for model in self.estimators]
        self._take_n_features()
        return self

    def _take_n_features(self) -> None:
        if hasattr(self.estimators_[0], "n_features_in_"):
            self.n_features_in_ = self.estimators_[0].n_features_in_

    @classmethod
    def from_fitted(cls, estimators: Sequence[Any]) -> PooledEnsembleRegressor:
        """The pool of models fitted elsewhere, as they are (no refit).

        Parameters
        ----------
        estimators : sequence of fitted regressors
            E.g. a shipped model's :class:`SeedEnsembleRegressor` and some
            members of another one.

        Returns
        -------
        pool : PooledEnsembleRegressor
            Fitted; its ``estimators`` are unfitted clones of ``estimators``
            (what ``fit`` would train again), its ``estimators_`` the models
            given.

        Raises
        ------
        ValueError
            If the list is empty or holds something that is not an estimator.
        NotFittedError
            If one of them is not fitted.
        """
        _check_estimators(list(estimators))
        for estimator in estimators:
            check_is_fitted(estimator)
        pool = cls([clone(estimator) for estimator in estimators])
        pool.estimators_ = list(estimators)
        pool._take_n_features()
        return pool

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
            Input, whatever the estimators accept.
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
        if isinstance(self.estimators, list) and self.estimators:
            inner = [get_tags(estimator) for estimator in self.estimators]
            tags.input_tags = inner[0].input_tags
            # what every model takes
            tags.input_tags.allow_nan = all(t.input_tags.allow_nan for t in inner)
            tags.input_tags.sparse = all(t.input_tags.sparse for t in inner)
            tags.target_tags.multi_output = all(t.target_tags.multi_output for t in inner)
        return tags


def _check_estimators(estimators: list[Any]) -> None:
    if not estimators:
        raise ValueError("estimators is empty: give at least one regressor to pool.")
    bad = [k for k, e in enumerate(estimators) if not (hasattr(e, "fit") and hasattr(e, "predict"))]
    if bad:
        raise ValueError(f"estimators {bad} have no fit and predict: not regressors.")


def _members(estimators: Sequence[Any]) -> Iterator[Any]:
    for estimator in estimators:
        if isinstance(estimator, SeedEnsembleRegressor | PooledEnsembleRegressor):
            yield from _members(estimator.estimators_)
        else:
            yield estimator
