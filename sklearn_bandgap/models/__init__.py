"""Neural-network models of crystal properties.

The pure ``torch.nn.Module`` (:class:`NeighborLSTM`) is apart from the
scikit-learn estimator that trains it (:class:`NeighborLSTMRegressor`).
"""

from sklearn_bandgap.models._collate import collate_neighbor_lists
from sklearn_bandgap.models._environments import (
    canonical_rows,
    composition_keys,
    distinct_environments,
)
from sklearn_bandgap.models._module import NeighborLSTM, gaussian_expansion
from sklearn_bandgap.models._regressor import (
    CompositionGroupSplit,
    NeighborLSTMRegressor,
    seed_torch,
    validation_policy,
)
from sklearn_bandgap.models._seed_ensemble import (
    SeedEnsembleRegressor,
    seeded_clones,
)

__all__ = [
    "CompositionGroupSplit",
    "NeighborLSTM",
    "NeighborLSTMRegressor",
    "SeedEnsembleRegressor",
    "canonical_rows",
    "collate_neighbor_lists",
    "composition_keys",
    "distinct_environments",
    "gaussian_expansion",
    "seeded_clones",
    "seed_torch",
    "validation_policy",
]
