"""``CompositionBaselineRegressor``: a linear function of the composition, a model of the rest."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, _fit_context, clone
from sklearn.linear_model import Ridge
from sklearn.utils import Tags, get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

from sklearn_bandgap.featurizers import NeighborLists
from sklearn_bandgap.utils._elements import MAX_ATOMIC_NUMBER
from sklearn_bandgap.utils._validation import check_target


def element_fractions(X: NeighborLists) -> np.ndarray:
    """The fraction of each element among each structure's atoms.

    Parameters
    ----------
    X : NeighborLists
        Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`
        (the first column of each row is the atom itself).

    Returns
    -------
    fractions : ndarray of shape (n_structures, 119)
        Column ``Z`` holds the fraction of atoms of atomic number ``Z``
        (column 0 is unused); rows sum to 1. The same for any cell of the
        crystal (supercells, other settings): it reads the composition only.
    """
    if not isinstance(X, NeighborLists):
        raise TypeError(
            f"X must be the NeighborLists of a NeighborListFeaturizer (put this model after "
            f"one in a Pipeline), got a {type(X).__name__}."
        )
    owner = np.repeat(np.arange(len(X)), np.asarray(X.n_atoms))
    counts = np.zeros((len(X), MAX_ATOMIC_NUMBER + 1))
    np.add.at(counts, (owner, np.asarray(X.atomic_numbers[:, 0], dtype=np.intp)), 1.0)
    fractions: np.ndarray = counts / np.asarray(X.n_atoms, dtype=np.float64)[:, None]
    return fractions


class CompositionBaselineRegressor(MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """A ridge regression on the element fractions, plus a regressor of its residuals.

    Energies per atom are dominated by a sum of per-element reference energies
    (the "elemental references" of CHGNet's and MatGL's energy models):
    ``E/atom ≈ Σ x_el μ_el``. This meta-estimator fits that linear part on the
    element fractions (a ridge regression with an intercept) and ``regressor``
    on what it leaves; ``predict`` adds both. The residual is closer to a
    formation energy, a quantity the shipped models' networks have learnt,
    which is what a fine-tuned network (``init=``) can start from. The
    composition part is exactly invariant to positions and cell choice, so the
    sum is as continuous and exact as ``regressor``.

    When ``regressor`` starts its outputs from a source model's
    (``NeighborLSTMRegressor(init=..., init_output=...)``), the references are
    fitted jointly with those source outputs (one more column of the ridge
    regression, then left out of the baseline): ``E/atom ≈ Σ x_el μ_el + a·s``
    with ``s`` e.g. the shipped model's formation energy, so that the
    references are those of what the source does not explain, and the
    regressor starts from ``a·s`` of the residual.

    Parameters
    ----------
    regressor : regressor
        Fitted on the residuals; it reads the same ``X`` (neighbour lists).
    alpha : float, default=1e-3
        Ridge penalty of the composition part (element fractions lie in [0, 1];
        elements absent from training get a coefficient of 0).

    Attributes
    ----------
    regressor_ : regressor
        The fitted regressor of the residuals.
    coef_ : ndarray of shape (n_outputs, 119)
        Coefficient of each element's fraction (column ``Z``).
    intercept_ : ndarray of shape (n_outputs,)
        Intercept of the composition part.
    y_ndim_ : int
        Dimensions of the ``y`` given to ``fit`` (1 or 2).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_bandgap.featurizers import NeighborListFeaturizer
    >>> from sklearn_bandgap.models import CompositionBaselineRegressor, NeighborLSTMRegressor
    >>> model = make_pipeline(
    ...     NeighborListFeaturizer(),
    ...     CompositionBaselineRegressor(NeighborLSTMRegressor(init="band_gap_mp2018")),
    ... )
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "regressor": [HasMethods(["fit", "predict"])],
        "alpha": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, regressor: Any, *, alpha: float = 1e-3) -> None:
        self.regressor = regressor
        self.alpha = alpha

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: NeighborLists, y: Any) -> CompositionBaselineRegressor:
        """Fit the composition part on ``y``, then ``regressor`` on its residuals.

        Parameters
        ----------
        X : NeighborLists
            Output of :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Finite targets.

        Returns
        -------
        self : CompositionBaselineRegressor
            The fitted model.
        """
        fractions = element_fractions(X)
        targets = check_target(y, len(X))
        self.y_ndim_ = int(targets.ndim)
        columns = targets.reshape(len(X), -1)
        starting = getattr(self.regressor, "starting_outputs", None)
        start = None if starting is None else starting(X, columns.shape[1])
        if start is None:
            linear = Ridge(alpha=self.alpha, fit_intercept=True).fit(fractions, columns)
            self.coef_ = np.asarray(linear.coef_, dtype=np.float64).reshape(columns.shape[1], -1)
            self.intercept_ = np.asarray(linear.intercept_, dtype=np.float64).reshape(-1)
        else:  # jointly with the source output each column starts from; kept: the elements
            coef, intercept = [], []
            for j in range(columns.shape[1]):
                design = np.column_stack([fractions, start[:, j]])
                linear = Ridge(alpha=self.alpha, fit_intercept=True).fit(design, columns[:, j])
                coef.append(linear.coef_[:-1])
                intercept.append(float(linear.intercept_))
            self.coef_ = np.asarray(coef, dtype=np.float64)
            self.intercept_ = np.asarray(intercept, dtype=np.float64)
        residual = columns - self._baseline(fractions)
        self.regressor_ = clone(self.regressor).fit(
            X, residual[:, 0] if self.y_ndim_ == 1 else residual
        )
        return self

    def predict_baseline(self, X: NeighborLists) -> np.ndarray:
        """The composition part alone.

        Parameters
        ----------
        X : NeighborLists
            Input, as in ``fit``.

        Returns
        -------
        y_base : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        base = self._baseline(element_fractions(X))
        return base[:, 0] if self.y_ndim_ == 1 else base

    def predict(self, X: NeighborLists) -> np.ndarray:
        """The composition part plus the regressor's prediction of the residual.

        Parameters
        ----------
        X : NeighborLists
            Input, as in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        base = self.predict_baseline(X)
        rest = np.asarray(self.regressor_.predict(X), dtype=np.float64).reshape(base.shape)
        y_pred: np.ndarray = base + rest
        return y_pred

    def _baseline(self, fractions: np.ndarray) -> np.ndarray:
        base: np.ndarray = fractions @ self.coef_.T + self.intercept_
        return base

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags = get_tags(self.regressor).input_tags
        tags.target_tags.multi_output = True
        return tags
