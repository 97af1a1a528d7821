"""Exact k-nearest-neighbour search in a periodic crystal.

The candidate pairs come from pymatgen's cell-list search
(:func:`pymatgen.optimization.neighbors.find_points_in_spheres`, compiled), which
returns every periodic image within a radius. The rest is vectorised numpy: one
sort of the pairs, tie groups, a gather of the first ``n_neighbors + 1`` per
atom. The radius grows until it provably holds every atom's neighbours, so the
result does not depend on the first radius tried.

:func:`nearest_neighbors_batch` does the numpy part once for many structures
(their pairs concatenated), which removes most of the per-structure overhead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from pymatgen.optimization.neighbors import find_points_in_spheres

#: Distances closer than this (Å) are one tie; within a tie, the neighbour with
#: the smaller atomic number comes first.
TIE_TOLERANCE = 1e-5
#: Two sites closer than this (Å) are the same point: the structure is invalid.
COINCIDENT_SITES = 1e-2
#: Expected neighbours in the first sphere, as a multiple of ``n_neighbors + 1``.
_FIRST_RADIUS_OCCUPANCY = 1.5
_GROWTH = 1.5
_MAX_ROUNDS = 30
_PBC = np.ones(3, dtype=np.int64)


def cell_volume(lattice: np.ndarray) -> float:
    """Volume (Å^3) of the cell spanned by the rows of ``lattice`` (faster than det for 3x3)."""
    (ax, ay, az), (bx, by, bz), (cx, cy, cz) = lattice.tolist()
    return abs(ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx))


def first_radius(lattice: np.ndarray, n_atoms: int, n_neighbors: int) -> float:
    """Radius of a sphere that holds about 1.5 × (n_neighbors + 1) atoms at this density."""
    volume_per_atom = cell_volume(lattice) / n_atoms
    n_in_sphere = _FIRST_RADIUS_OCCUPANCY * (n_neighbors + 1)
    return float((3.0 * n_in_sphere * volume_per_atom / (4.0 * np.pi)) ** (1.0 / 3.0))


class _Selection(NamedTuple):
    numbers: np.ndarray  # (n_atoms, k + 1)
    distances: np.ndarray  # (n_atoms, k + 1)
    sites: np.ndarray  # (n_atoms, k + 1) index of each neighbour's site (of the batch)
    complete: np.ndarray  # (n_atoms,) the last kept tie lies inside the radius
    reach: np.ndarray  # (n_atoms,) radius needed for the last kept tie
    nearest: np.ndarray  # (n_atoms,) distance to the nearest other site


def _candidate_pairs(
    lattice: np.ndarray, cart_coords: np.ndarray, k: int, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Pairs within ``radius``, grown until every atom has more than ``k`` pairs."""
    n_atoms = len(cart_coords)
    for _ in range(_MAX_ROUNDS):
        centers, neighbors, _images, distances = find_points_in_spheres(
            cart_coords, cart_coords, radius, _PBC, lattice, tol=1e-8
        )
        counts = np.bincount(centers, minlength=n_atoms)
        if counts.min() > k:  # every atom: itself plus at least k others
            return centers, neighbors, distances, counts, radius
        radius *= _GROWTH
    raise RuntimeError(  # pragma: no cover - needs a radius 1.5**30 times the first
        f"fewer than {k} neighbours within {radius:.1f} Å after {_MAX_ROUNDS} rounds."
    )


def _select(
    centers: np.ndarray,
    neighbors: np.ndarray,
    numbers: np.ndarray,
    distances: np.ndarray,
    counts: np.ndarray,
    k: int,
    radius_per_atom: np.ndarray,
) -> _Selection:
    """Sort the pairs of consecutive atoms ``0..len(counts)-1`` and keep the first ``k + 1``."""
    # Sort by centre, then distance: one argsort of a combined float key (its
    # ordering error, < 1e-9 Å, is far below TIE_TOLERANCE; ties are regrouped below).
    span = 2.0 * float(radius_per_atom.max()) + 1.0
    order = np.argsort(centers * span + distances)
    centers = centers[order]
    distances = distances[order]
    numbers = numbers[order]
    neighbors = neighbors[order]
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    new_tie = np.empty(len(distances), dtype=bool)
    new_tie[0] = True
    new_tie[1:] = (centers[1:] != centers[:-1]) | (np.diff(distances) > TIE_TOLERANCE)
    tie_id = np.cumsum(new_tie)
    # The tie holding the last kept neighbour must lie wholly inside the sphere.
    last_of_tie = np.searchsorted(tie_id, tie_id[starts + k], side="right") - 1
    reach = distances[last_of_tie] + TIE_TOLERANCE
    # Nearly sorted already (tie_id ascends): timsort ("stable") is about linear here.
    by_tie_then_z = np.argsort(tie_id * 128 + numbers, kind="stable")  # exact key: Z < 128
    keep = by_tie_then_z[starts[:, None] + np.arange(k + 1)]
    kept_distances = distances[keep]
    kept_distances[:, 0] = 0.0  # the atom itself (image arithmetic leaves ~1e-16)
    # Pair 0 of each atom is itself at distance 0; pair 1 its nearest other site.
    return _Selection(
        numbers=numbers[keep],
        distances=kept_distances,
        sites=neighbors[keep],
        complete=reach <= radius_per_atom,
        reach=reach,
        nearest=distances[starts + 1],
    )


def nearest_neighbors(
    lattice: np.ndarray,
    cart_coords: np.ndarray,
    atomic_numbers: np.ndarray,
    n_neighbors: int,
    cutoff: float | None = None,
    *,
    return_sites: bool = False,
) -> tuple[np.ndarray, ...]:
    """Each atom followed by its ``n_neighbors`` nearest periodic neighbours.

    Parameters
    ----------
    lattice : ndarray of shape (3, 3)
        Lattice vectors as rows (Å).
    cart_coords : ndarray of shape (n_atoms, 3)
        Cartesian site coordinates (Å), C-contiguous float64.
    atomic_numbers : ndarray of shape (n_atoms,)
        Atomic number of each site (1..118).
    n_neighbors : int
        Neighbours per atom, not counting the atom itself.
    cutoff : float, default=None
        First search radius (Å). It grows by factors of 1.5 until every atom has
        its neighbours, so it changes speed, never the result. None estimates
        it from the density (see :func:`first_radius`).
    return_sites : bool, default=False
        Also return the site each neighbour is an image of.

    Returns
    -------
    neighbor_atomic_numbers : ndarray of shape (n_atoms, n_neighbors + 1)
        Column 0 is the atom itself, then its neighbours nearest first. Periodic
        images count as neighbours, images of the atom itself included.
    neighbor_distances : ndarray of shape (n_atoms, n_neighbors + 1)
        The matching distances in Å; column 0 is 0.
    neighbor_sites : ndarray of shape (n_atoms, n_neighbors + 1)
        Only with ``return_sites``: the index (in ``cart_coords``) of the site
        each neighbour is a periodic image of; column 0 is the atom's own
        index. When the list's last place cuts through a tie of one element,
        which of the tied sites it keeps depends on the site order (the
        numbers and distances do not).

    Notes
    -----
    Order rule: by distance; distances within :data:`TIE_TOLERANCE` of each
    other (chained) form a tie, ordered by atomic number. Atoms of one tie with
    the same atomic number are interchangeable in the output, so the result is
    independent of site order, translation, rotation and supercell choice. When
    the last place is inside a tie, the tie's lightest elements take it.

    Raises
    ------
    ValueError
        If two sites coincide (closer than :data:`COINCIDENT_SITES`).
    """
    k = n_neighbors
    n_atoms = len(atomic_numbers)
    radius = first_radius(lattice, n_atoms, k) if cutoff is None else float(cutoff)
    for _ in range(_MAX_ROUNDS):
        centers, neighbors, distances, counts, radius = _candidate_pairs(
            lattice, cart_coords, k, radius
        )
        selection = _select(
            centers,
            neighbors,
            atomic_numbers[neighbors],
            distances,
            counts,
            k,
            np.full(n_atoms, radius),
        )
        if selection.nearest.min() < COINCIDENT_SITES:
            i = int(np.argmin(selection.nearest))
            # Among the pairs of site i that close, the other site (with an exact
            # coincidence, the sort may put the other site before i itself).
            close = (centers == i) & (distances < COINCIDENT_SITES) & (neighbors != i)
            j = int(neighbors[close][0]) if close.any() else i
            raise ValueError(
                f"sites {i} and {j} coincide "
                f"({selection.nearest[i]:.4f} Å apart, periodic images counted)."
            )
        if selection.complete.all():
            if return_sites:
                return selection.numbers, selection.distances, selection.sites
            return selection.numbers, selection.distances
        radius = max(radius * _GROWTH, float(selection.reach.max()) + 0.5)
    raise RuntimeError(  # pragma: no cover
        f"no complete neighbour list within {radius:.1f} Å after {_MAX_ROUNDS} rounds."
    )


def nearest_neighbors_batch(
    systems: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    n_neighbors: int,
    cutoff: float | None = None,
    *,
    return_sites: bool = False,
) -> list[tuple[np.ndarray, ...] | ValueError]:
    """:func:`nearest_neighbors` of many structures at once.

    Parameters
    ----------
    systems : sequence of (lattice, cart_coords, atomic_numbers)
        One tuple per structure, as the arguments of :func:`nearest_neighbors`.
    n_neighbors : int
        Neighbours per atom.
    cutoff : float, default=None
        First search radius, as in :func:`nearest_neighbors`.
    return_sites : bool, default=False
        Also return each neighbour's site, as in :func:`nearest_neighbors`.

    Returns
    -------
    results : list
        Per structure, ``(neighbor_atomic_numbers, neighbor_distances)`` (and
        ``neighbor_sites``) exactly as :func:`nearest_neighbors` returns them,
        or the ``ValueError`` it would raise.
    """
    k = n_neighbors
    if not systems:
        return []
    pairs = []
    for lattice, cart_coords, atomic_numbers in systems:
        radius = first_radius(lattice, len(atomic_numbers), k) if cutoff is None else cutoff
        pairs.append(_candidate_pairs(lattice, cart_coords, k, float(radius)))
    n_atoms = np.array([len(system[2]) for system in systems])
    atom_starts = np.zeros(len(systems), dtype=np.int64)
    np.cumsum(n_atoms[:-1], out=atom_starts[1:])
    selection = _select(
        np.concatenate([p[0] + start for p, start in zip(pairs, atom_starts, strict=True)]),
        np.concatenate([p[1] for p in pairs]),
        np.concatenate([s[2][p[1]] for s, p in zip(systems, pairs, strict=True)]),
        np.concatenate([p[2] for p in pairs]),
        np.concatenate([p[3] for p in pairs]),
        k,
        np.repeat([p[4] for p in pairs], n_atoms),
    )
    good = selection.complete & (selection.nearest >= COINCIDENT_SITES)
    good_system = np.logical_and.reduceat(good, atom_starts)
    results: list[tuple[np.ndarray, ...] | ValueError] = []
    for i, (start, size) in enumerate(zip(atom_starts.tolist(), n_atoms.tolist(), strict=True)):
        if good_system[i]:
            stop = start + size
            found: tuple[np.ndarray, ...] = (
                selection.numbers[start:stop],
                selection.distances[start:stop],
            )
            if return_sites:  # the pairs' site indices are each structure's own
                found += (selection.sites[start:stop],)
            results.append(found)
            continue
        try:  # a larger radius, or an error message naming the coinciding sites
            results.append(
                nearest_neighbors(*systems[i], k, pairs[i][4], return_sites=return_sites)
            )
        except ValueError as exc:
            results.append(exc)
    return results
