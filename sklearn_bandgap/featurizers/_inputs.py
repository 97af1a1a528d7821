"""Conversion of user inputs to periodic structures, and their validation."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import IMolecule, IStructure

from sklearn_bandgap.exceptions import StructureProblem
from sklearn_bandgap.featurizers._search import cell_volume
from sklearn_bandgap.utils._structure_files import read_structure_file, structure_from_text

#: Largest atomic number accepted (oganesson).
MAX_ATOMIC_NUMBER = 118
_ORDER_IT = (
    "only ordered structures are supported (e.g. order it with pymatgen's "
    "OrderDisorderedStructureTransformation)."
)


@dataclass(frozen=True)
class PeriodicArrays:
    """The arrays the neighbour search needs, read once from a structure.

    Attributes
    ----------
    lattice : ndarray of shape (3, 3)
        Lattice vectors as rows, in Å.
    cart_coords : ndarray of shape (n_atoms, 3)
        Cartesian coordinates in Å.
    atomic_numbers : ndarray of shape (n_atoms,)
        Atomic number of each site.
    structure : IStructure or None
        The structure they were read from (None once detached).
    formula_text : str or None
        The reduced formula, when already known.
    """

    lattice: np.ndarray
    cart_coords: np.ndarray
    atomic_numbers: np.ndarray
    structure: IStructure | None
    formula_text: str | None = None

    @property
    def formula(self) -> str | None:
        """Reduced formula, for error messages (computed on demand: it is slow)."""
        if self.formula_text is None and self.structure is not None:
            return _formula(self.structure)
        return self.formula_text

    def detached(self) -> PeriodicArrays:
        """A copy without the structure (cheap to send to another process)."""
        return replace(self, structure=None, formula_text=self.formula)


def to_structure(obj: Any) -> IStructure:
    """Convert one supported input to a pymatgen structure.

    Accepted: ``Structure``/``IStructure``; ``ase.Atoms`` with periodic
    boundaries on all three axes (through pymatgen's ``AseAtomsAdaptor``); CIF
    or POSCAR text; a path (``str`` or ``os.PathLike``) to a CIF or POSCAR
    file under any name, or to any other file pymatgen reads.

    Raises
    ------
    TypeError
        For an object of another type, including a non-periodic ``Molecule``.
    ValueError
        For a string that is neither CIF or POSCAR text nor an existing file.
    """
    if isinstance(obj, IStructure):
        return obj
    if isinstance(obj, IMolecule):
        raise TypeError(
            "is a non-periodic Molecule: neighbour lists with periodic images need a "
            "crystal. Place it in a box first, e.g. molecule.get_boxed_structure(a, b, c)."
        )
    ase = sys.modules.get("ase")  # an ase.Atoms can only exist if ase is imported
    if ase is not None and isinstance(obj, ase.Atoms):
        if not all(obj.pbc):
            raise TypeError(f"is an ase.Atoms with pbc={list(obj.pbc)}: all three must be True.")
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(obj)
    if isinstance(obj, str) and "\n" in obj:
        return structure_from_text(obj)
    if isinstance(obj, str | os.PathLike):
        path = Path(obj)
        if not path.is_file():
            raise ValueError(
                f"is a string but neither CIF or POSCAR text nor an existing file: {obj!r:.80}"
            )
        return read_structure_file(path)
    raise TypeError(
        f"is a {type(obj).__module__}.{type(obj).__qualname__}, not a pymatgen Structure, "
        "ase.Atoms, CIF or POSCAR text, or structure file path."
    )


def _formula(structure: IStructure) -> str | None:
    try:
        return str(structure.composition.reduced_formula)
    except Exception:
        return None


def read_periodic_arrays(obj: Any, index: int | None) -> PeriodicArrays | StructureProblem:
    """Convert and validate one input; return its arrays or the problem found.

    Checks: convertible (see :func:`to_structure`), at least one site, fully
    ordered (no partial occupancy), atomic numbers in 1..118, periodic on all
    axes, finite lattice and coordinates, a non-degenerate cell.
    """
    try:
        structure = to_structure(obj)
    except Exception as exc:  # conversion failures become reports, not crashes
        return StructureProblem(index, None, str(exc))

    def problem(reason: str) -> StructureProblem:
        return StructureProblem(index, _formula(structure), reason)

    if len(structure) == 0:
        return problem("has no sites.")
    # One pass over the sites: ordered (one species, full occupancy) and Z in range.
    atomic_numbers = []
    for site, composition in enumerate(structure.species_and_occu):
        if len(composition) != 1:
            return problem(f"is disordered: site {site} is {composition}; " + _ORDER_IT)
        ((species, occupancy),) = composition.items()
        if abs(occupancy - 1.0) > 1e-8:
            return problem(f"is disordered: site {site} has occupancy {occupancy}; " + _ORDER_IT)
        z = species.Z
        if not 1 <= z <= MAX_ATOMIC_NUMBER:
            return problem(
                f"site {site} holds {species} (Z={z}), outside the supported elements "
                f"Z=1..{MAX_ATOMIC_NUMBER}."
            )
        atomic_numbers.append(z)
    lattice_obj = structure.lattice
    if not all(lattice_obj.pbc):
        return problem(f"is not periodic on all axes (pbc={lattice_obj.pbc}).")
    lattice = np.ascontiguousarray(lattice_obj.matrix, dtype=np.float64)
    cart_coords = np.ascontiguousarray(structure.frac_coords @ lattice, dtype=np.float64)
    if not (np.isfinite(lattice).all() and np.isfinite(cart_coords).all()):
        return problem("has non-finite (NaN or infinite) lattice or coordinates.")
    if cell_volume(lattice) < 1e-6:
        return problem("has a degenerate lattice (cell volume about 0 Å^3).")
    return PeriodicArrays(lattice, cart_coords, np.array(atomic_numbers, dtype=np.int64), structure)
