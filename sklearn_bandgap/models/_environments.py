"""Distinct atomic environments of each crystal, and composition keys."""

from __future__ import annotations

from math import gcd

import numpy as np

from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists

#: Distances are compared at this resolution (Å) when merging equivalent atoms.
ENVIRONMENT_RESOLUTION = 1e-3


def _row_keys(lists: NeighborLists, exact: bool = False) -> np.ndarray:
    """Every row of every structure as one byte string that sorts like the row.

    The structure's index, the atomic numbers, then the distances on a 1e-3 Å
    grid (``exact``: the float32 distances' own bits, which for non-negative
    floats sort like the values), each as a big-endian unsigned integer: byte
    order is then the lexicographic order of these numbers, so one sort of all
    rows keeps the structures apart and in order and sorts each one's rows
    canonically.
    """
    n_rows, width = lists.atomic_numbers.shape
    structure = np.repeat(np.arange(len(lists.n_atoms), dtype=np.uint32), lists.n_atoms)
    if exact:
        grid = lists.distances.astype(np.float32).view(np.uint32).astype(">u4")
    else:
        grid = np.round(lists.distances / ENVIRONMENT_RESOLUTION).astype(">u4")
    packed = np.empty((n_rows, 4 + width + 4 * width), dtype=np.uint8)
    packed[:, :4] = structure.astype(">u4")[:, None].view(np.uint8)
    packed[:, 4 : 4 + width] = lists.atomic_numbers
    packed[:, 4 + width :] = grid.view(np.uint8)
    return _as_void(packed)


def _as_void(packed: np.ndarray) -> np.ndarray:
    """Rows of a C-contiguous uint8 array as single sortable byte strings."""
    packed = np.ascontiguousarray(packed)
    return packed.view(np.dtype((np.void, packed.shape[1])))[:, 0]


def _with_neighbor_groups(lists: NeighborLists, keys: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each row's key followed by the groups of its neighbours' rows, in list order."""
    assert lists.neighbor_sites is not None
    start = np.repeat(lists.offsets[:-1], lists.n_atoms)[:, None]
    neighbor_groups = group[lists.neighbor_sites + start].astype(">u4")
    as_bytes = keys.view(np.uint8).reshape(len(keys), -1)
    return _as_void(np.concatenate([as_bytes, neighbor_groups.view(np.uint8)], axis=1))


def distinct_environments(
    lists: NeighborLists, *, exact: bool = False, depth: int = 0
) -> tuple[NeighborLists, np.ndarray]:
    """Merge atoms whose neighbour lists are identical; return the lists and shares.

    Symmetry-equivalent atoms have identical neighbour lists (to
    :data:`ENVIRONMENT_RESOLUTION`, or bit for bit with ``exact=True``).
    With ``exact=True`` merging changes nothing a symmetric function of the
    rows computes (the merged rows are equal), so it is a pure saving; on a
    1e-3 Å grid, rows that straddle a grid line stay apart while their
    neighbours merge, which makes a model of the rows jump under tiny noise.

    Neighbour sites (``lists.neighbor_sites``) are rewritten to point at the
    merged rows: a neighbour that was an image of a merged atom points at the
    group's row.

    Rows that carry atom features (e.g. CHGNet's) are merged on their lists
    alone, and the merged row gets the group's mean feature vector:
    symmetry-equivalent atoms have features equal up to float rounding, and a
    mean is continuous where a pick would not matter either.

    Keeping one row per distinct list, with the fraction of the crystal's
    atoms that have it, loses nothing a model of the lists can see, makes any
    supercell of a crystal give exactly the same rows, and on the Materials
    Project set cuts the rows 2.8-fold (1e-3 Å grid).

    Parameters
    ----------
    lists : NeighborLists
        Per-atom neighbour lists.
    exact : bool, default=False
        Merge only rows equal bit for bit instead of on the 1e-3 Å grid.
    depth : int, default=0
        Also require the neighbours' rows to be merged alike, recursively to
        this depth (a Weisfeiler-Lehman refinement on ``neighbor_sites``), so
        that merged rows stay equal after ``depth`` rounds of messages
        between neighbours. Needs ``lists.neighbor_sites``.

    Returns
    -------
    distinct : NeighborLists
        One row per distinct environment, per structure, sorted by the row
        (centre atomic number first, then the neighbours' atomic numbers and
        distances): a canonical order that does not depend on site order.
    shares : ndarray of shape (distinct.n_total_atoms,)
        Fraction of its crystal's atoms that each row stands for (float32).
    """
    # One sort of all rows of all structures (the structure index leads each
    # key) instead of one per structure.
    keys = _row_keys(lists, exact=exact)
    _, first, inverse, multiplicity = np.unique(
        keys, return_index=True, return_inverse=True, return_counts=True
    )
    if depth and lists.neighbor_sites is None:
        raise ValueError("merging to a depth needs lists that carry neighbor_sites.")
    for _ in range(depth):
        # The structure index leads every key, so each structure's groups stay together.
        refined = _with_neighbor_groups(lists, keys, inverse.reshape(-1))
        n_groups = len(first)
        _, first, inverse, multiplicity = np.unique(
            refined, return_index=True, return_inverse=True, return_counts=True
        )
        if len(first) == n_groups:  # stable: further rounds change nothing
            break
        keys = refined
    structure = np.repeat(np.arange(len(lists.n_atoms)), lists.n_atoms)[first]
    counts = np.bincount(structure, minlength=len(lists.n_atoms))
    shares = multiplicity / lists.n_atoms[structure]
    features = None
    if lists.atom_features is not None:
        # the mean feature vector of each group of merged atoms
        sums = np.zeros((len(first), lists.atom_features.shape[1]), dtype=np.float64)
        np.add.at(sums, inverse.reshape(-1), lists.atom_features)
        features = sums / multiplicity[:, None]
    sites = None
    if lists.neighbor_sites is not None:
        sites = _remap_sites(lists, first, inverse.reshape(-1), counts)
    distinct = NeighborLists(
        lists.atomic_numbers[first], lists.distances[first], counts, features, neighbor_sites=sites
    )
    return distinct, shares.astype(np.float32)


def _remap_sites(
    lists: NeighborLists, kept: np.ndarray, new_row: np.ndarray, new_counts: np.ndarray
) -> np.ndarray:
    """Neighbour sites of the rows ``kept``, as rows of the new lists.

    ``new_row[r]`` is the global row of the new lists that old global row
    ``r`` became (merged or moved); each structure's new rows start at the
    cumulative sum of ``new_counts``.
    """
    assert lists.neighbor_sites is not None
    structure = np.repeat(np.arange(len(lists.n_atoms)), lists.n_atoms)[kept]
    old_global = lists.neighbor_sites[kept] + lists.offsets[structure][:, None]
    new_offsets = np.zeros(len(new_counts), dtype=np.int64)
    np.cumsum(new_counts[:-1], out=new_offsets[1:])
    remapped: np.ndarray = new_row[old_global] - new_offsets[structure][:, None]
    return remapped


def canonical_rows(lists: NeighborLists) -> NeighborLists:
    """Every atom's row, sorted within each structure by the row itself.

    The order of :func:`distinct_environments` without merging: by the centre's
    atomic number, then the neighbours' atomic numbers and distances.
    """
    order = np.argsort(_row_keys(lists), kind="stable")
    features = None if lists.atom_features is None else lists.atom_features[order]
    sites = None
    if lists.neighbor_sites is not None:
        new_row = np.empty_like(order)
        new_row[order] = np.arange(len(order))
        sites = _remap_sites(lists, order, new_row, lists.n_atoms)
    return NeighborLists(
        lists.atomic_numbers[order],
        lists.distances[order],
        lists.n_atoms,
        features,
        neighbor_sites=sites,
    )


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
