"""Neural-network models of crystal properties.

The pure ``torch.nn.Module`` (:class:`NeighborLSTM`) is apart from the
scikit-learn estimator that trains it (:class:`NeighborLSTMRegressor`); the
training policy both the models and the translators use lives in a private
lower module (``sklearn_bandgap._nn``).
"""

from sklearn_bandgap._nn._checkpoint import TrainingCheckpoint
from sklearn_bandgap.models._classifier import NeighborLSTMClassifier
from sklearn_bandgap.models._collate import collate_neighbor_lists
from sklearn_bandgap.models._composition import CompositionBaselineRegressor, element_fractions
from sklearn_bandgap.models._conformal import ConformalRegressor
from sklearn_bandgap.models._domain_check import DomainCheck
from sklearn_bandgap.models._environments import (
    canonical_rows,
    composition_keys,
    distinct_environments,
)
from sklearn_bandgap.models._init import architecture_of
from sklearn_bandgap.models._module import NeighborLSTM, neighbor_envelope
from sklearn_bandgap.models._pooled_ensemble import PooledEnsembleRegressor
from sklearn_bandgap.models._regressor import NeighborLSTMRegressor
from sklearn_bandgap.models._seed_ensemble import SeedEnsembleRegressor
from sklearn_bandgap.models._two_heads import TwoHeadBandGapRegressor
from sklearn_bandgap.models._zero_inflated import ZeroInflatedRegressor

__all__ = [
    "CompositionBaselineRegressor",
    "ConformalRegressor",
    "DomainCheck",
    "NeighborLSTM",
    "NeighborLSTMClassifier",
    "NeighborLSTMRegressor",
    "PooledEnsembleRegressor",
    "SeedEnsembleRegressor",
    "TrainingCheckpoint",
    "TwoHeadBandGapRegressor",
    "ZeroInflatedRegressor",
    "architecture_of",
    "canonical_rows",
    "collate_neighbor_lists",
    "composition_keys",
    "distinct_environments",
    "element_fractions",
    "neighbor_envelope",
]
