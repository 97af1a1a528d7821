"""Ready-made baseline pipelines on the real matminer featurizers."""

from __future__ import annotations

from typing import Any

from joblib import Memory
from matminer.featurizers.composition import ElementProperty
from matminer.featurizers.structure import SineCoulombMatrix, StructureComposition
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import FeatureUnion, Pipeline

from sklearn_bandgap.baselines._matminer import MatminerTransformer, _quiet_matminer


class PaddedSineCoulombMatrix(SineCoulombMatrix):
    """matminer's ``SineCoulombMatrix`` with a floor on its number of columns.

    The flattened matrix has one eigenvalue column per site of the largest
    structure seen in ``fit``; a larger structure cannot be featurized later.
    ``min_columns`` raises that count up front, e.g. to the largest structure
    of a whole data set (structures only, no targets: what Matbench does by
    featurizing each data set once). The features are matminer's, unchanged.

    Parameters
    ----------
    diag_elems : bool, default=True
        matminer's parameter.
    flatten : bool, default=True
        matminer's parameter.
    min_columns : int, default=0
        Least number of eigenvalue columns after ``fit``.
    """

    _max_eigs: int | None

    def __init__(self, diag_elems: bool = True, flatten: bool = True, min_columns: int = 0) -> None:
        super().__init__(diag_elems=diag_elems, flatten=flatten)
        self.min_columns = min_columns

    def fit(self, X: Any, y: Any = None) -> PaddedSineCoulombMatrix:
        """Set the number of columns: the largest structure of ``X`` or ``min_columns``."""
        super().fit(X, y)
        if self.flatten:
            self._max_eigs = max(self._max_eigs or 0, self.min_columns)
        return self


def magpie_features(
    *, n_jobs: int | None = None, memory: str | Memory | None = None
) -> MatminerTransformer:
    """Magpie element-property statistics of a structure's composition (132 columns).

    matminer's ``StructureComposition(ElementProperty.from_preset("magpie"))``;
    missing element data are imputed as matminer's preset does
    (``impute_nan=True``).

    Parameters
    ----------
    n_jobs : int, default=None
        joblib workers for featurization.
    memory : str, joblib.Memory or None, default=None
        Cache of the featurization.

    Returns
    -------
    step : MatminerTransformer
    """
    with _quiet_matminer():  # Magpie's imputation notice, printed by its __init__
        magpie = StructureComposition(ElementProperty.from_preset("magpie", impute_nan=True))
    return MatminerTransformer(magpie, n_jobs=n_jobs, memory=memory)


def make_rf_scm_magpie(
    *,
    max_sites: int = 0,
    n_estimators: int = 500,
    n_jobs: int | None = None,
    memory: str | Memory | None = None,
    random_state: int | None = 0,
) -> Pipeline:
    """The Matbench RF-SCM/Magpie baseline as one sklearn pipeline.

    Sine Coulomb matrix eigenvalues (matminer's ``SineCoulombMatrix``,
    flattened: one column per site of the largest training structure, zero
    padded) beside the Magpie composition statistics, then a random forest.

    Parameters
    ----------
    max_sites : int, default=0
        Least number of Sine Coulomb matrix columns: the largest structure
        the pipeline will be asked to predict (e.g. ``max(len(s) for s in X)``
        over a whole data set). By default, the largest structure seen in ``fit``.
    n_estimators : int, default=500
        Trees of the forest (Matbench's setting).
    n_jobs : int, default=None
        joblib workers, for the featurizers and the forest.
    memory : str, joblib.Memory or None, default=None
        Cache of both featurizations (a directory or a ``Memory``).
    random_state : int or None, default=0
        Seed of the forest.

    Returns
    -------
    pipeline : Pipeline
        Steps ``features`` (a ``FeatureUnion`` of ``sine_coulomb`` and
        ``magpie``) and ``forest``.

    Notes
    -----
    The flattened Sine Coulomb matrix has ``max(max_sites, largest structure
    seen in fit)`` columns; predicting a larger structure raises a
    :class:`~sklearn_bandgap.exceptions.FeaturizationError` naming it. The
    eigenvalues are in matminer's (unsorted) order.
    """
    features = FeatureUnion(
        [
            (
                "sine_coulomb",
                MatminerTransformer(
                    PaddedSineCoulombMatrix(min_columns=max_sites), n_jobs=n_jobs, memory=memory
                ),
            ),
            ("magpie", magpie_features(n_jobs=n_jobs, memory=memory)),
        ]
    )
    forest = RandomForestRegressor(
        n_estimators=n_estimators, n_jobs=n_jobs, random_state=random_state
    )
    return Pipeline([("features", features), ("forest", forest)])


def make_rf_magpie(
    *,
    n_estimators: int = 500,
    n_jobs: int | None = None,
    memory: str | Memory | None = None,
    random_state: int | None = 0,
) -> Pipeline:
    """A random forest on the Magpie composition statistics alone.

    Parameters
    ----------
    n_estimators : int, default=500
        Trees of the forest.
    n_jobs : int, default=None
        joblib workers, for the featurizer and the forest.
    memory : str, joblib.Memory or None, default=None
        Cache of the featurization.
    random_state : int or None, default=0
        Seed of the forest.

    Returns
    -------
    pipeline : Pipeline
        Steps ``magpie`` and ``forest``.
    """
    forest = RandomForestRegressor(
        n_estimators=n_estimators, n_jobs=n_jobs, random_state=random_state
    )
    return Pipeline([("magpie", magpie_features(n_jobs=n_jobs, memory=memory)), ("forest", forest)])


def make_dummy() -> DummyRegressor:
    """The mean of the training targets, for every structure.

    ``DummyRegressor`` ignores ``X``, so it takes structures as they are.

    Returns
    -------
    estimator : DummyRegressor
    """
    return DummyRegressor(strategy="mean")
