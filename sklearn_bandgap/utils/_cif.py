"""Fast reading of CIF text: gemmi for plain P1 crystals, pymatgen for everything else.

pymatgen's ``CifParser`` takes about 2.5 ms a structure, more than everything
else ``sklearn-bandgap predict`` does to a structure together. gemmi (a
compiled CIF library from CCP4 / Global Phasing) reads the same CIF in about
0.03 ms. It is used only where its result is known to equal pymatgen's: one
data block, space group P1 (no symmetry to expand: DFT codes, the Materials
Project and pymatgen's own ``CifWriter`` write P1 cells), every site fully
occupied by one known element. Anything else (symmetry, partial occupancy,
several blocks, odd symbols) goes to pymatgen, so its results, warnings and
errors are exactly pymatgen's. The fast path rounds coordinates near 1/3 and
2/3 as pymatgen does; it keeps the file's site order, where pymatgen groups
sites by element. On all 33,144 CIFs of the MP set the two give identical
lattices and the same sites with identical coordinates
(``benchmarks/cif_reader.py``), so identical neighbour lists up to row order.
"""

from __future__ import annotations

import warnings

import numpy as np
from pymatgen.core import Lattice, Structure

from sklearn_bandgap.utils._elements import MAX_ATOMIC_NUMBER
from sklearn_bandgap.utils._settled import settled

_P1 = {"x,y,z"}
#: pymatgen's ``CifParser`` sets fractional coordinates within this relative
#: tolerance of 1/3 and 2/3 to those values (its ``frac_tolerance``); so does
#: the fast path, so that both give the same coordinates.
_FRAC_TOLERANCE = 1e-4


def gemmi_p1_parts(text: str) -> tuple[Lattice, list[str], np.ndarray] | None:
    """Lattice, element symbols and fractional coordinates of a plain P1 CIF, or None.

    None means "not for the fast path": pymatgen reads it (or explains why
    not). The coordinates are wrapped into [0, 1) and rounded near 1/3 and 2/3
    as pymatgen's ``CifParser`` does.
    """
    try:
        import gemmi
    except ImportError:  # pragma: no cover - gemmi is a dependency
        return None
    try:
        document = gemmi.cif.read_string(text)
        if len(document) != 1:
            return None
        small = gemmi.make_small_structure_from_block(document[0])
    except Exception:  # pymatgen reads it, or explains why not
        return None
    symops = {op.replace(" ", "").lower() for op in small.symops}
    number = small.spacegroup.number if small.spacegroup is not None else 1
    if not small.sites or (symops and symops != _P1) or (not symops and number != 1):
        return None
    species, coords = [], []
    for site in small.sites:
        element = site.element
        if not 1 <= element.atomic_number <= MAX_ATOMIC_NUMBER or site.occ != 1.0:
            return None
        if site.type_symbol and not site.type_symbol.startswith(element.name):
            return None  # e.g. "D" or an unusual label: leave it to pymatgen
        species.append(element.name)
        coords.append((site.fract.x, site.fract.y, site.fract.z))
    cell = small.cell
    if not all(np.isfinite([cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma])):
        return None
    fractions = np.array(coords, dtype=np.float64)
    for ideal in (1 / 3, 2 / 3):
        fractions[np.abs(fractions / ideal - 1.0) <= _FRAC_TOLERANCE] = ideal
    lattice = Lattice.from_parameters(cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma)
    return lattice, species, np.mod(fractions, 1.0)


def _gemmi_p1(text: str) -> Structure | None:
    """The structure of a plain P1 CIF through gemmi, or None to use pymatgen."""
    parts = gemmi_p1_parts(text)
    return None if parts is None else Structure(*parts)


def read_cif(text: str) -> Structure:
    """Parse CIF text into a pymatgen ``Structure`` (the first structure of the CIF).

    Parameters
    ----------
    text : str
        CIF content.

    Returns
    -------
    structure : Structure
        As ``Structure.from_str(text, fmt="cif")`` gives it.

    Raises
    ------
    ValueError
        If pymatgen cannot read it either (pymatgen's message).
    """
    fast = _gemmi_p1(text)
    if fast is not None:
        return settled(fast)
    with warnings.catch_warnings():
        # pymatgen reports every coordinate it rounded to a symmetric value
        warnings.filterwarnings("ignore", message="Issues encountered while parsing CIF")
        return settled(Structure.from_str(text, fmt="cif"))
