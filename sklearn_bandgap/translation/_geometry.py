"""Geometry of a relaxation: neighbour vectors, the cell's log-strain, site displacements.

Conventions (lattice vectors are the *rows* of a 3×3 matrix, as in pymatgen):

- The relaxed cell is ``L_r = L_u @ F``. Its polar decomposition ``F = S @ Q``
  (``S`` symmetric positive definite, ``Q`` a rotation) separates the change of
  shape and size (``S``) from a rigid rotation (``Q``), which no property depends
  on. The *log-strain* ``E = logm(S) = logm(F @ F.T) / 2`` is symmetric, its
  trace is ``log(V_r / V_u)``, and ``L_u @ expm(E)`` is the relaxed cell up to a
  rotation.
- Site displacements are the change of fractional coordinates, wrapped into
  [-0.5, 0.5) and freed of a common origin shift (their circular mean per axis),
  expressed in Å in the stretched cell ``L_u @ S`` and divided by the relaxed
  length per site ``(V_r / n)^(1/3)`` -- the unit of StructureMatcher's ``stol``.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import IStructure, Lattice, Structure
from pymatgen.optimization.neighbors import find_points_in_spheres

_PBC = np.ones(3, dtype=np.int64)
_GROWTH = 1.5
_MAX_ROUNDS = 30
#: Two sites closer than this (Å) are the same point.
COINCIDENT_SITES = 1e-2


def symmetric_logm(matrix: np.ndarray) -> np.ndarray:
    """Logarithm of a symmetric positive definite matrix (by its eigendecomposition)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.log(values)) @ vectors.T


def symmetric_expm(matrix: np.ndarray) -> np.ndarray:
    """Exponential of a symmetric matrix (by its eigendecomposition)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.exp(values)) @ vectors.T


def cell_log_strain(unrelaxed_lattice: np.ndarray, relaxed_lattice: np.ndarray) -> np.ndarray:
    """Symmetric log-strain ``E`` with ``relaxed = unrelaxed @ expm(E)`` up to a rotation.

    Parameters
    ----------
    unrelaxed_lattice, relaxed_lattice : ndarray of shape (3, 3)
        Lattice vectors as rows (Å).

    Returns
    -------
    log_strain : ndarray of shape (3, 3)
        Symmetric; its trace is the log of the volume ratio.
    """
    deformation = np.linalg.solve(unrelaxed_lattice, relaxed_lattice)
    return 0.5 * symmetric_logm(deformation @ deformation.T)


def origin_shift(fractional_change: np.ndarray) -> np.ndarray:
    """Common shift of all sites: the circular mean of the fractional changes per axis."""
    angles = 2.0 * np.pi * fractional_change
    return np.arctan2(np.sin(angles).mean(axis=0), np.cos(angles).mean(axis=0)) / (2.0 * np.pi)


def wrap(fractional: np.ndarray) -> np.ndarray:
    """Wrap fractional differences into [-0.5, 0.5)."""
    return fractional - np.floor(fractional + 0.5)


def site_displacements(
    unrelaxed: IStructure, relaxed: IStructure, log_strain: np.ndarray
) -> np.ndarray:
    """Displacement of each site from the affinely strained cell, in relaxed site lengths.

    Parameters
    ----------
    unrelaxed, relaxed : Structure
        The two structures of a pair, same species site by site.
    log_strain : ndarray of shape (3, 3)
        :func:`cell_log_strain` of the pair.

    Returns
    -------
    displacements : ndarray of shape (n_sites, 3)
        Cartesian, in the frame of ``L_u @ expm(log_strain)``, with zero mean
        over the sites, divided by ``(V_r / n)^(1/3)``.
    """
    change = wrap(relaxed.frac_coords - unrelaxed.frac_coords)
    change = wrap(change - origin_shift(change))
    change -= change.mean(axis=0)
    stretched = unrelaxed.lattice.matrix @ symmetric_expm(log_strain)
    length = (relaxed.volume / len(relaxed)) ** (1.0 / 3.0)
    return (change @ stretched) / length


def apply_relaxation(
    structure: IStructure, log_strain: np.ndarray, displacements: np.ndarray
) -> Structure:
    """Strain the cell of ``structure`` and move its sites.

    Parameters
    ----------
    structure : Structure
        The unrelaxed structure.
    log_strain : ndarray of shape (3, 3)
        Symmetric log-strain of the cell.
    displacements : ndarray of shape (n_sites, 3)
        Cartesian site displacements in units of the new length per site
        ``(V / n)^(1/3)`` (see :func:`site_displacements`).

    Returns
    -------
    translated : Structure
        Same species in the same site order, on the strained lattice.
    """
    lattice = structure.lattice.matrix @ symmetric_expm(log_strain)
    length = (abs(np.linalg.det(lattice)) / len(structure)) ** (1.0 / 3.0)
    cart = structure.frac_coords @ lattice + displacements * length
    frac = np.linalg.solve(lattice.T, cart.T).T
    return Structure(
        Lattice(lattice), structure.species, frac % 1.0, site_properties=structure.site_properties
    )


def nearest_neighbor_vectors(
    lattice: np.ndarray, cart_coords: np.ndarray, n_neighbors: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n_neighbors`` nearest periodic neighbours of every site, as vectors.

    Parameters
    ----------
    lattice : ndarray of shape (3, 3)
        Lattice vectors as rows (Å).
    cart_coords : ndarray of shape (n_sites, 3)
        Cartesian coordinates (Å).
    n_neighbors : int
        Neighbours per site (periodic images, of the site itself too, count).

    Returns
    -------
    indices : ndarray of shape (n_sites, n_neighbors)
        Site index of each neighbour, nearest first.
    distances : ndarray of shape (n_sites, n_neighbors)
        Their distances (Å).
    vectors : ndarray of shape (n_sites, n_neighbors, 3)
        Cartesian vectors from the site to each neighbour (Å).

    Raises
    ------
    ValueError
        If two sites coincide (closer than :data:`COINCIDENT_SITES`).
    """
    n_sites = len(cart_coords)
    cart_coords = np.ascontiguousarray(cart_coords, dtype=np.float64)
    lattice = np.ascontiguousarray(lattice, dtype=np.float64)
    volume_per_site = abs(np.linalg.det(lattice)) / n_sites
    radius = float((3.0 * 1.5 * (n_neighbors + 1) * volume_per_site / (4.0 * np.pi)) ** (1 / 3))
    for _ in range(_MAX_ROUNDS):
        centers, points, images, distances = find_points_in_spheres(
            cart_coords, cart_coords, radius, _PBC, lattice, tol=1e-8
        )
        other = (centers != points) | np.any(images != 0, axis=1)
        centers, points, images, distances = (
            centers[other],
            points[other],
            images[other],
            distances[other],
        )
        counts = np.bincount(centers, minlength=n_sites)
        if counts.min() >= n_neighbors:
            break
        radius *= _GROWTH
    else:  # pragma: no cover - needs a radius 1.5**30 times the first
        raise RuntimeError(f"fewer than {n_neighbors} neighbours within {radius:.1f} Å.")
    if distances.min() < COINCIDENT_SITES:
        pair = int(np.argmin(distances))
        raise ValueError(
            f"sites {int(centers[pair])} and {int(points[pair])} coincide "
            f"({distances[pair]:.4f} Å apart, periodic images counted)."
        )
    order = np.lexsort((points, distances, centers))
    starts = np.zeros(n_sites, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    keep = order[starts[:, None] + np.arange(n_neighbors)]
    vectors = cart_coords[points[keep]] + images[keep] @ lattice - cart_coords[centers[keep]]
    return points[keep], distances[keep], vectors


def min_interatomic_distance(structure: IStructure, radius: float = 1.0) -> float:
    """Smallest distance (Å) between two sites, periodic images counted (``inf`` if > radius)."""
    lattice = np.ascontiguousarray(structure.lattice.matrix, dtype=np.float64)
    cart = np.ascontiguousarray(structure.cart_coords, dtype=np.float64)
    centers, points, images, distances = find_points_in_spheres(
        cart, cart, radius, _PBC, lattice, tol=1e-8
    )
    distances = distances[(centers != points) | np.any(images != 0, axis=1)]
    return float(distances.min()) if distances.size else float("inf")
