"""matminer baselines as sklearn pipelines, and a paired comparison of estimators.

:func:`compare` runs every estimator on identical folds and returns one table;
:func:`plot_comparison` draws it. The baselines are built on the real matminer
featurizers, wrapped by :class:`MatminerTransformer` so that ``n_jobs`` is a
constructor parameter, failures name the offending structure, and
featurization can be cached with ``joblib.Memory``.
"""

from sklearn_bandgap.baselines._compare import DEFAULT_SCORING, ComparisonDetails, compare
from sklearn_bandgap.baselines._matminer import MatminerTransformer
from sklearn_bandgap.baselines._pipelines import (
    PaddedSineCoulombMatrix,
    magpie_features,
    make_dummy,
    make_rf_magpie,
    make_rf_scm_magpie,
)
from sklearn_bandgap.baselines._plot import plot_comparison
from sklearn_bandgap.utils._validation import read_structures

__all__ = [
    "ComparisonDetails",
    "DEFAULT_SCORING",
    "MatminerTransformer",
    "PaddedSineCoulombMatrix",
    "compare",
    "magpie_features",
    "make_dummy",
    "make_rf_magpie",
    "make_rf_scm_magpie",
    "plot_comparison",
    "read_structures",
]
