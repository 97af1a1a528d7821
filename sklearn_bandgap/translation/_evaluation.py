"""How close translated structures are to the DFT-relaxed ones."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import IStructure

from sklearn_bandgap.translation._geometry import origin_shift, wrap


def structure_agreement(
    predicted: Sequence[IStructure],
    relaxed: Sequence[IStructure],
    *,
    ltol: float = 0.2,
    stol: float = 0.3,
    angle_tol: float = 5.0,
) -> pd.DataFrame:
    """Compare predicted structures with the relaxed ones, pair by pair.

    Parameters
    ----------
    predicted : sequence of Structure
        Translated (or untouched) structures.
    relaxed : sequence of Structure
        The DFT-relaxed structures, same species in the same site order.
    ltol, stol, angle_tol : float, default=0.2, 0.3, 5.0
        Tolerances of pymatgen's :class:`StructureMatcher` (those of Kim et al.).

    Returns
    -------
    agreement : DataFrame
        One row per pair:

        match : bool
            ``StructureMatcher(ltol, stol, angle_tol).fit(predicted, relaxed)``.
            The matcher rescales volumes, so this judges shape and positions.
        volume_error : float
            ``V_predicted / V_relaxed - 1``.
        mean_displacement : float
            Mean distance (Å) between corresponding sites, fractional coordinates
            compared in the relaxed cell after removing a common origin shift.
    """
    if len(predicted) != len(relaxed):
        raise ValueError(f"{len(predicted)} predicted structures but {len(relaxed)} relaxed.")
    matcher = StructureMatcher(ltol=ltol, stol=stol, angle_tol=angle_tol)
    rows = []
    for index, (p, r) in enumerate(zip(predicted, relaxed, strict=True)):
        if [s.specie for s in p] != [s.specie for s in r]:
            raise ValueError(f"pair {index} ({r.composition.reduced_formula}): species differ.")
        change = wrap(p.frac_coords - r.frac_coords)
        change = wrap(change - origin_shift(change))
        rows.append(
            {
                "match": bool(matcher.fit(p, r)),
                "volume_error": p.volume / r.volume - 1.0,
                "mean_displacement": float(
                    np.linalg.norm(change @ r.lattice.matrix, axis=1).mean()
                ),
            }
        )
    return pd.DataFrame(rows)


def agreement_summary(agreement: pd.DataFrame) -> dict[str, float]:
    """The figures a benchmark reports from a :func:`structure_agreement` table.

    Parameters
    ----------
    agreement : DataFrame
        The output of :func:`structure_agreement`.

    Returns
    -------
    summary : dict of str to float
        ``match_rate`` (fraction of matched pairs), ``volume_error_mean_abs_pct``
        and ``volume_error_median_abs_pct`` (mean and median of
        ``|volume_error|``, in %), ``mean_site_displacement_A`` (mean over the
        pairs of their mean displacement, Å).

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"match": [True, False], "volume_error": [0.1, -0.3],
    ...                       "mean_displacement": [0.2, 0.4]})
    >>> for name, value in agreement_summary(table).items():
    ...     print(f"{name}: {value:.3f}")
    match_rate: 0.500
    volume_error_mean_abs_pct: 20.000
    volume_error_median_abs_pct: 20.000
    mean_site_displacement_A: 0.300
    """
    volume_error = agreement["volume_error"].abs()
    return {
        "match_rate": float(agreement["match"].mean()),
        "volume_error_mean_abs_pct": float(100 * volume_error.mean()),
        "volume_error_median_abs_pct": float(100 * volume_error.median()),
        "mean_site_displacement_A": float(agreement["mean_displacement"].mean()),
    }
