"""``ZeroInflatedRegressor``: a metal classifier in front of a regressor of the gapped crystals."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, _fit_context, clone
from sklearn.utils import Tags, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from sklearn_bandgap.utils import take
from sklearn_bandgap.utils._validation import check_target


class ZeroInflatedRegressor(MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """Predict 0 where a classifier says "zero", a regressor's value elsewhere.

    For band gaps, about 42 % of the Materials Project crystals are metals with
    a gap of exactly 0: ``classifier`` learns metal / non-metal (``y > 0``) on
    all training crystals, ``regressor`` learns the gap on the gapped ones only,
    and ``predict`` is 0 for crystals classified as metals. After a
    :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer` in a pipeline,
    both models read the same neighbour lists (featurized once)::

        make_pipeline(
            NeighborListFeaturizer(),
            ZeroInflatedRegressor(NeighborLSTMClassifier(), NeighborLSTMRegressor()),
        )

    scikit-lego's ``ZeroInflatedRegressor`` does the same for 2-D numeric
    features, but it validates ``X`` as such an array and so refuses crystal
    structures and neighbour lists; this one indexes ``X`` as it comes.

    Parameters
    ----------
    classifier : classifier
        Fitted on ``y > 0``; must have ``predict_proba``.
    regressor : regressor
        Fitted on the rows with ``y > 0``.
    mode : {"hard", "expected"}, default="hard"
        ``"hard"``: the regressor's value where ``P(y > 0) >= threshold``, else
        exactly 0. ``"expected"``: ``P(y > 0)`` × the regressor's value (the
        expectation; never exactly 0).
    threshold : float, default=0.5
        Probability of ``y > 0`` from which ``"hard"`` uses the regressor.

    Attributes
    ----------
    classifier_ : classifier
        The fitted classifier.
    regressor_ : regressor
        The fitted regressor of the gapped rows.
    n_nonzero_ : int or None
        Training rows with ``y > 0`` (None when built by :meth:`from_fitted`).

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    >>> from sklearn_bandgap.models import ZeroInflatedRegressor
    >>> X = [[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]]
    >>> y = [0.0, 0.0, 0.0, 2.0, 2.5, 3.0]
    >>> model = ZeroInflatedRegressor(DecisionTreeClassifier(), DecisionTreeRegressor()).fit(X, y)
    >>> model.predict([[0.5], [3.0]])
    array([0., 2.])
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "classifier": [HasMethods(["fit", "predict_proba"])],
        "regressor": [HasMethods(["fit", "predict"])],
        "mode": [StrOptions({"hard", "expected"})],
        "threshold": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self, classifier: Any, regressor: Any, *, mode: str = "hard", threshold: float = 0.5
    ) -> None:
        self.classifier = classifier
        self.regressor = regressor
        self.mode = mode
        self.threshold = threshold

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any) -> ZeroInflatedRegressor:
        """Fit the classifier on ``y > 0`` and the regressor on the rows with ``y > 0``.

        Parameters
        ----------
        X : object
            What both models take (structures for pipelines, neighbour lists
            after a featurizer); indexed along its first axis.
        y : array-like of shape (n_samples,)
            Non-negative targets (band gaps: 0 for metals).

        Returns
        -------
        self : ZeroInflatedRegressor
            The fitted model.
        """
        y = check_target(y, len(X), multi_output=False).ravel()
        negative = np.flatnonzero(y < 0)
        if negative.size:
            raise ValueError(
                f"y must be non-negative (0 for the zero class); it is negative at indices "
                f"{negative[:10].tolist()}."
            )
        nonzero = y > 0
        if nonzero.all() or not nonzero.any():
            raise ValueError(
                "y must hold both zeros and positive values, got "
                + ("no zeros." if nonzero.all() else "no positive value.")
            )
        self.classifier_ = clone(self.classifier).fit(X, nonzero)
        rows = np.flatnonzero(nonzero)
        self.regressor_ = clone(self.regressor).fit(take(X, rows), y[rows])
        self.n_nonzero_: int | None = int(rows.size)
        return self

    def nonzero_probability(self, X: Any) -> np.ndarray:
        """The classifier's probability that ``y > 0`` (for band gaps: not a metal).

        Parameters
        ----------
        X : object
            Input, as in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        proba = np.asarray(self.classifier_.predict_proba(X), dtype=np.float64)
        classes = list(self.classifier_.classes_)
        return proba[:, classes.index(True)]

    def predict(self, X: Any) -> np.ndarray:
        """Zero where the classifier says so, the regressor's value elsewhere.

        Parameters
        ----------
        X : object
            Input, as in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        p_nonzero = self.nonzero_probability(X)
        return self.combine(p_nonzero, self.regressor_.predict(X))

    def combine(self, p_nonzero: Any, values: Any) -> np.ndarray:
        """The rule of :meth:`predict`, applied to given probabilities and values.

        For ensembles that average the classifiers' probabilities and the
        regressors' values separately before the rule is applied.

        Parameters
        ----------
        p_nonzero : array-like of shape (n_samples,)
            Probability that ``y > 0``.
        values : array-like of shape (n_samples,)
            The regressor's values.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            ``p_nonzero * values`` for ``mode="expected"``; for ``"hard"``,
            ``values`` where ``p_nonzero >= threshold``, else 0.
        """
        self._validate_params()
        p_nonzero = np.asarray(p_nonzero, dtype=np.float64).ravel()
        values = np.asarray(values, dtype=np.float64).ravel()
        if p_nonzero.shape != values.shape:
            raise ValueError(
                f"p_nonzero and values differ in length: {p_nonzero.size} and {values.size}."
            )
        if self.mode == "expected":
            return p_nonzero * values
        return np.where(p_nonzero >= self.threshold, values, 0.0)

    @classmethod
    def from_fitted(
        cls, classifier: Any, regressor: Any, *, mode: str = "hard", threshold: float = 0.5
    ) -> ZeroInflatedRegressor:
        """The composite of a classifier and a regressor fitted elsewhere.

        For components trained one by one (checkpointed, or in separate
        processes): ``classifier`` fitted on ``y > 0``, ``regressor`` on the
        gapped rows, as :meth:`fit` would have fitted clones of them.

        Parameters
        ----------
        classifier : fitted classifier
            With ``predict_proba`` and ``True`` among its ``classes_``.
        regressor : fitted regressor
            Fitted on the rows with ``y > 0``.
        mode : {"hard", "expected"}, default="hard"
            As for the constructor.
        threshold : float, default=0.5
            As for the constructor.

        Returns
        -------
        model : ZeroInflatedRegressor
            Fitted; ``n_nonzero_`` is None (the training rows are not known).

        Raises
        ------
        NotFittedError
            If either component is not fitted.
        ValueError
            If the classifier was not fitted on ``y > 0`` (no ``True`` class).
        """
        model = cls(classifier, regressor, mode=mode, threshold=threshold)
        model._validate_params()
        check_is_fitted(classifier)
        check_is_fitted(regressor)
        if True not in list(getattr(classifier, "classes_", [])):
            raise ValueError(
                "classifier must be fitted on y > 0 (classes False/True); its classes_ are "
                f"{list(getattr(classifier, 'classes_', []))}."
            )
        model.classifier_, model.regressor_, model.n_nonzero_ = classifier, regressor, None
        return model

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags = get_tags(self.regressor).input_tags
        return tags
