"""Featurizers that turn crystal structures into model inputs."""

from sklearn_bandgap.featurizers._neighbor_list_featurizer import NeighborListFeaturizer
from sklearn_bandgap.featurizers._neighbor_lists import NeighborList, NeighborLists
from sklearn_bandgap.featurizers._potential_features import (
    chgnet_atom_features,
    chgnet_domain_problems,
)
from sklearn_bandgap.featurizers._search import TIE_TOLERANCE, nearest_neighbors

__all__ = [
    "TIE_TOLERANCE",
    "NeighborList",
    "NeighborListFeaturizer",
    "NeighborLists",
    "chgnet_atom_features",
    "chgnet_domain_problems",
    "nearest_neighbors",
]
