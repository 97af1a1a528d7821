"""Compact array form of many ordered structures, for fast caching.

Pickling 33k ``Structure`` objects stores ~1M small site objects and takes
about as long to load as parsing them; a few flat arrays load in well under a
second, and rebuilding through pymatgen's public constructor with one shared
``Composition`` per species (compositions are immutable) costs ~10 µs a site.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.core.periodic_table import get_el_sp

from sklearn_bandgap.utils._settled import settled


def can_pack(structures: Sequence[Structure]) -> bool:
    """True if every structure is ordered, neutral and has no site or structure properties."""
    return all(
        s.is_ordered and not s.site_properties and not s.properties and not s.charge
        for s in structures
    )


def pack_structures(structures: Sequence[Structure]) -> dict[str, np.ndarray]:
    """Flatten ordered structures into arrays (see :func:`unpack_structures`).

    Raises
    ------
    ValueError
        If a structure cannot be represented (check with :func:`can_pack`).
    """
    if not can_pack(structures):
        raise ValueError("Only ordered, neutral structures without properties can be packed.")
    species = [site.species_string for s in structures for site in s]
    species_table, species_codes = np.unique(np.array(species, dtype=str), return_inverse=True)
    return {
        "lattices": np.stack([s.lattice.matrix for s in structures]),
        "pbc": np.array([s.lattice.pbc for s in structures], dtype=bool),
        "n_sites": np.array([len(s) for s in structures], dtype=np.int64),
        "frac_coords": np.concatenate([s.frac_coords for s in structures]),
        "species_table": species_table,
        "species_codes": species_codes.astype(np.int32),
        "labels": np.array([site.label for s in structures for site in s], dtype=str),
    }


def unpack_structures(packed: dict[str, np.ndarray]) -> list[Structure]:
    """Rebuild the structures packed by :func:`pack_structures`."""
    compositions = [Composition({get_el_sp(str(sp)): 1}) for sp in packed["species_table"]]
    species = [compositions[code] for code in packed["species_codes"].tolist()]
    labels = packed["labels"].tolist()
    frac_coords = packed["frac_coords"]
    offsets = np.concatenate([[0], np.cumsum(packed["n_sites"])]).tolist()
    structures = []
    for i, (matrix, pbc) in enumerate(zip(packed["lattices"], packed["pbc"], strict=True)):
        start, stop = offsets[i], offsets[i + 1]
        structures.append(
            settled(
                Structure(
                    Lattice(matrix, pbc=(bool(pbc[0]), bool(pbc[1]), bool(pbc[2]))),
                    species[start:stop],
                    frac_coords[start:stop],
                    labels=labels[start:stop],
                )
            )
        )
    return structures
