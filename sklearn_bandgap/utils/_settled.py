"""Structures whose pickle does not change when they are printed.

``repr`` of a pymatgen ``Structure`` fills lazily cached values (three
properties of its lattice, ``lengths``, ``angles`` and ``volume``, and each
site's Cartesian coordinates), which changes its pickle and so ``joblib.hash``.
``joblib.Memory`` (behind ``Pipeline(memory=...)``) hashes its arguments
*before* the call and prints them (``repr``, for its metadata) *after* it, so a
list of fresh structures missed the featurization cache once more on the next
fit. The package's readers and loaders return structures with those caches
already filled.
"""

from __future__ import annotations

from typing import TypeVar

from pymatgen.core import IStructure

S = TypeVar("S", bound=IStructure)


def settled(structure: S) -> S:
    """Fill the caches that printing fills; return the same structure."""
    lattice = structure.lattice
    _ = lattice.lengths, lattice.angles, lattice.volume, structure.cart_coords
    return structure
