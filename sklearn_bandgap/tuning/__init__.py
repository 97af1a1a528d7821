"""Optuna tuning of the LSTM pipeline (and any estimator) through scikit-learn APIs.

Needs the ``tune`` extra (``pip install "sklearn_bandgap[tune]"``): optuna and
optuna-integration. :func:`tune` runs a study with pruning in any Optuna
storage (several workers can share it); :func:`to_distributions` turns the
plain-data spaces into distributions for ``optuna_integration.OptunaSearchCV``.
"""

from sklearn_bandgap.tuning._spaces import (
    LSTM_SEARCH_SPACE,
    check_space,
    default_search_space,
    suggest,
    to_distributions,
)
from sklearn_bandgap.tuning._tune import TuningResult, make_storage, regressor_prefix, tune

__all__ = [
    "LSTM_SEARCH_SPACE",
    "TuningResult",
    "check_space",
    "default_search_space",
    "make_storage",
    "regressor_prefix",
    "suggest",
    "to_distributions",
    "tune",
]
