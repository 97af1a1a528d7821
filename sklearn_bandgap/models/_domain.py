"""The domain a property model was fitted on, and the structures that fall outside it."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from pymatgen.core import Element

from sklearn_bandgap.exceptions import InvalidStructureError, StructureProblem
from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.utils._formulas import formula_of_numbers
from sklearn_bandgap.utils._validation import warn_out_of_domain

#: A structure is outside the fitted domain when a nearest-neighbour distance is
#: below DOMAIN_SHORT x the shortest seen in fit, or a neighbour distance above
#: DOMAIN_LONG x the longest (the 19th neighbour lies within 8.7 Å in the whole
#: MP set; a lone atom in a 30 Å box has its neighbours at 30 Å).
DOMAIN_SHORT, DOMAIN_LONG = 0.75, 1.25
#: A structure is also outside when two atoms sit closer than COVALENT_FLOOR x
#: the sum of their covalent radii (Cordero et al. 2008, as pymatgen tabulates
#: them): no crystal of the 33,144 of the MP set goes below 0.61 (Nb2P), while
#: NaCl squeezed to half its lattice constant sits at 0.53.
COVALENT_FLOOR = 0.55


@functools.cache
def _covalent_radii() -> np.ndarray:
    """Covalent radius (Å) by atomic number; NaN where none is tabulated."""
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius

    radii = np.full(119, np.nan)
    for symbol, radius in CovalentRadius.radius.items():
        if Element.is_valid_symbol(symbol):
            radii[Element(symbol).Z] = radius
    return radii


def covalent_ratio(lists: NeighborLists) -> np.ndarray:
    """Each atom's nearest-neighbour distance over the sum of the two covalent radii."""
    radii = _covalent_radii()
    pair = radii[lists.atomic_numbers[:, 0]] + radii[lists.atomic_numbers[:, 1]]
    return np.asarray(lists.distances[:, 1] / pair, dtype=float)


def neighbor_distance_range(lists: NeighborLists) -> np.ndarray:
    """``[shortest nearest-neighbour distance, longest neighbour distance]`` in Å."""
    return np.array([lists.distances[:, 1].min(), lists.distances[:, -1].max()], dtype=float)


def domain_problems(
    lists: NeighborLists, elements_seen: np.ndarray, distance_range: np.ndarray
) -> list[StructureProblem]:
    """One problem per structure outside the domain: unseen elements or distances.

    Flagged: elements unseen in fit; a nearest-neighbour distance below
    :data:`DOMAIN_SHORT` x the shortest seen in fit, or a neighbour beyond
    :data:`DOMAIN_LONG` x the farthest; two atoms closer than
    :data:`COVALENT_FLOOR` x the sum of their covalent radii (named by pair).
    """
    starts = lists.offsets[:-1]
    centres = lists.atomic_numbers[:, 0]
    unseen_rows = ~np.isin(centres, elements_seen)
    nearest = np.minimum.reduceat(lists.distances[:, 1], starts)
    ratio = covalent_ratio(lists)
    squeezed_rows = ratio < COVALENT_FLOOR  # NaN (no radius) compares False
    farthest = np.maximum.reduceat(lists.distances[:, -1], starts)
    short, long = DOMAIN_SHORT * distance_range[0], DOMAIN_LONG * distance_range[1]
    flagged = np.flatnonzero(
        np.logical_or.reduceat(unseen_rows, starts)
        | np.logical_or.reduceat(squeezed_rows, starts)
        | (nearest < short)
        | (farthest > long)
    )
    problems = []
    for i in flagged.tolist():
        rows = slice(lists.offsets[i], lists.offsets[i + 1])
        reasons = []
        unseen = np.unique(centres[rows][unseen_rows[rows]])
        if unseen.size:
            names = ", ".join(Element.from_Z(int(z)).symbol for z in unseen)
            reasons.append(f"holds {names}, unseen in fit")
        if nearest[i] < short:
            reasons.append(
                f"has atoms {nearest[i]:.2f} Å apart (the closest seen in fit: "
                f"{distance_range[0]:.2f} Å)"
            )
        squeezed = np.flatnonzero(squeezed_rows[rows])
        if squeezed.size:
            k = squeezed[np.argmin(ratio[rows][squeezed])]
            a, b = (Element.from_Z(int(z)).symbol for z in lists.atomic_numbers[rows][k, :2])
            reasons.append(
                f"has {a}-{b} {lists.distances[rows][k, 1]:.2f} Å apart, {ratio[rows][k]:.2f} x "
                f"the sum of their covalent radii (no MP crystal goes below 0.61)"
            )
        if farthest[i] > long:
            reasons.append(
                f"has neighbours up to {farthest[i]:.1f} Å away (seen in fit: up to "
                f"{distance_range[1]:.1f} Å)"
            )
        problems.append(StructureProblem(i, formula_of_numbers(centres[rows]), "; ".join(reasons)))
    return problems


def report_out_of_domain(
    problems: Sequence[StructureProblem], n_structures: int, handle_unknown: str
) -> None:
    """Raise (``"error"``) or warn once for the batch (``"warn"``) about ``problems``."""
    if not problems:
        return
    if handle_unknown == "error":
        raise InvalidStructureError(problems)
    warn_out_of_domain(
        problems,
        n_structures,
        "lie outside what the model was fitted on, so their predictions are extrapolations "
        "(handle_unknown='error' raises instead; the warning's .problems lists them all)",
        stacklevel=4,
    )
