"""Distinct atomic environments of each crystal, and composition keys."""

from __future__ import annotations

from math import gcd

import numpy as np

from sklearn_bandgap.featurizers._neighbor_lists import NeighborList, NeighborLists

#: Distances are compared at this resolution (Å) when merging equivalent atoms.
ENVIRONMENT_RESOLUTION = 1e-3


def _row_keys(item: NeighborList) -> np.ndarray:
    """Each row as comparable numbers: atomic numbers, then distances on a 1e-3 Å grid."""
    return np.hstack(
        [
            item.atomic_numbers.astype(np.float64),
            np.round(item.distances / ENVIRONMENT_RESOLUTION),
        ]
    )


def distinct_environments(lists: NeighborLists) -> tuple[NeighborLists, np.ndarray]:
    """Merge atoms whose neighbour lists are identical; return the lists and shares.

    Symmetry-equivalent atoms have identical neighbour lists (to
    :data:`ENVIRONMENT_RESOLUTION`). Keeping one row per distinct list, with the
    fraction of the crystal's atoms that have it, loses nothing a model of the
    lists can see, makes any supercell of a crystal give exactly the same rows,
    and on the Materials Project set cuts the rows 2.8-fold.

    Parameters
    ----------
    lists : NeighborLists
        Per-atom neighbour lists.

    Returns
    -------
    distinct : NeighborLists
        One row per distinct environment, per structure, sorted by the row
        (centre atomic number first, then the neighbours' atomic numbers and
        distances): a canonical order that does not depend on site order.
    shares : ndarray of shape (distinct.n_total_atoms,)
        Fraction of its crystal's atoms that each row stands for (float32).
    """
    numbers, distances, counts, shares = [], [], [], []
    for item in lists:
        key = _row_keys(item)
        _, first, multiplicity = np.unique(key, axis=0, return_index=True, return_counts=True)
        numbers.append(item.atomic_numbers[first])
        distances.append(item.distances[first])
        counts.append(len(first))
        shares.append(multiplicity / len(item.atomic_numbers))
    distinct = NeighborLists(np.concatenate(numbers), np.concatenate(distances), counts)
    return distinct, np.concatenate(shares).astype(np.float32)


def canonical_rows(lists: NeighborLists) -> NeighborLists:
    """Every atom's row, sorted within each structure by the row itself.

    The order of :func:`distinct_environments` without merging: by the centre's
    atomic number, then the neighbours' atomic numbers and distances.
    """
    numbers, distances = [], []
    for item in lists:
        order = np.lexsort(_row_keys(item).T[::-1])
        numbers.append(item.atomic_numbers[order])
        distances.append(item.distances[order])
    return NeighborLists(np.concatenate(numbers), np.concatenate(distances), lists.n_atoms)


def composition_keys(lists: NeighborLists) -> np.ndarray:
    """Reduced composition of each structure, as a string key (e.g. ``"8:3,26:2"``).

    Read from the centre atoms of the neighbour lists, so it works on the
    featurizer's output alone: polymorphs share a key, which makes it a
    formula-group label for validation splits.
    """
    keys = []
    for item in lists:
        elements, counts = np.unique(item.atomic_numbers[:, 0], return_counts=True)
        divisor = 0
        for count in counts.tolist():
            divisor = gcd(divisor, count)
        keys.append(",".join(f"{z}:{c // divisor}" for z, c in zip(elements, counts, strict=True)))
    return np.array(keys, dtype=object)
