"""The domain a property model was fitted on, and the structures that fall outside it."""

from __future__ import annotations

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


def neighbor_distance_range(lists: NeighborLists) -> np.ndarray:
    """``[shortest nearest-neighbour distance, longest neighbour distance]`` in Å."""
    return np.array([lists.distances[:, 1].min(), lists.distances[:, -1].max()], dtype=float)


def domain_problems(
    lists: NeighborLists, elements_seen: np.ndarray, distance_range: np.ndarray
) -> list[StructureProblem]:
    """One problem per structure outside the domain: unseen elements or distances."""
    starts = lists.offsets[:-1]
    centres = lists.atomic_numbers[:, 0]
    unseen_rows = ~np.isin(centres, elements_seen)
    nearest = np.minimum.reduceat(lists.distances[:, 1], starts)
    farthest = np.maximum.reduceat(lists.distances[:, -1], starts)
    short, long = DOMAIN_SHORT * distance_range[0], DOMAIN_LONG * distance_range[1]
    flagged = np.flatnonzero(
        np.logical_or.reduceat(unseen_rows, starts) | (nearest < short) | (farthest > long)
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
