"""Loader of the NREL unrelaxed -> DFT-relaxed structure pairs."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pymatgen.core import Structure
from sklearn.utils import Bunch

from sklearn_bandgap.datasets._cache import load_or_build
from sklearn_bandgap.datasets._home import find_data_file
from sklearn_bandgap.datasets._pack import pack_structures, unpack_structures
from sklearn_bandgap.utils import map_chunks

NREL_FILES = {
    "full": "nrel_relaxation_pairs/nrel_pairs.json.gz",
    "sample100": "nrel_relaxation_pairs/nrel_pairs_sample100.json.gz",
}

_DESCR = """\
NREL unrelaxed -> DFT-relaxed structure pairs
---------------------------------------------
9,717 pairs (``subset="full"``) or a seeded sample of 100 clean pairs
(``subset="sample100"``). The unrelaxed structures are new elements put into known
crystal prototypes; the relaxed ones are their DFT relaxations (VASP, GGA-PBE(+U),
NREL MatDB settings). Target: ``energy_per_atom`` (eV/atom), the DFT total energy
of the RELAXED structure (not a formation energy). Relaxed/unrelaxed volume
ratio: median 1.34, range 0.26-12.8. About 2.6 % of the pairs have different
species lists in the two structures (a defect of the source); they are dropped
by default (``same_species_only=True``).

Source: prashungorai/combined-gnn (MIT). Cite: Pandey, Qu, Stevanovic, St. John,
Gorai, Patterns 2, 100361 (2021).
"""


def _parse_pair_chunk(rows: Sequence[dict[str, Any]], start: int) -> list[tuple[Any, ...]]:
    out = []
    for offset, row in enumerate(rows):
        try:
            unrelaxed = Structure.from_dict(row["unrelaxed"])
            relaxed = Structure.from_dict(row["relaxed"])
        except Exception as exc:
            raise ValueError(
                f"Row {start + offset} ({row.get('structure_id')}): structure could not be read: "
                f"{exc}"
            ) from exc
        same = [s.species_string for s in unrelaxed] == [s.species_string for s in relaxed]
        out.append((unrelaxed, relaxed, relaxed.composition.reduced_formula, same))
    return out


def _parse_nrel_file(path: os.PathLike[str], n_jobs: int | None, progress: bool) -> dict[str, Any]:
    with gzip.open(path, "rt") as handle:
        rows = json.load(handle)
    parsed = map_chunks(
        _parse_pair_chunk,
        rows,
        n_jobs=n_jobs,
        chunk_size=250,
        progress=progress,
        desc=f"Reading {os.path.basename(path)}",
    )
    frame = pd.DataFrame(
        {
            "structure_id": [row["structure_id"] for row in rows],
            "composition": [row["composition"] for row in rows],
            "formula": [p[2] for p in parsed],
            "energy_per_atom": np.array([row["energy_per_atom"] for row in rows], dtype=float),
            "nsites": [row["nsites"] for row in rows],
            "same_species": [p[3] for p in parsed],
        }
    )
    return {
        "unrelaxed": pack_structures([p[0] for p in parsed]),
        "relaxed": pack_structures([p[1] for p in parsed]),
        "frame": frame,
    }


def load_nrel_relaxation_pairs(
    *,
    subset: Literal["full", "sample100"] = "full",
    same_species_only: bool = True,
    return_X_y: bool = False,
    data_home: str | os.PathLike[str] | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> Bunch | tuple[list[Structure], np.ndarray]:
    """Load the NREL pairs of unrelaxed and DFT-relaxed structures.

    Parameters
    ----------
    subset : {"full", "sample100"}, default="full"
        The 9,717-pair development set or its seeded 100-pair sample.
    same_species_only : bool, default=True
        Keep only the pairs whose two structures list the same species site by
        site (needed by anything that maps unrelaxed sites to relaxed sites).
        The number dropped is in ``n_dropped``.
    return_X_y : bool, default=False
        If True, return ``(unrelaxed, energy_per_atom)``.
    data_home : str or path-like, default=None
        Folder that holds ``nrel_relaxation_pairs/``; see
        :func:`sklearn_bandgap.datasets.data_home_candidates`.
    cache : bool, default=True
        Read and write the parsed-structure cache.
    cache_dir : str or path-like, default=None
        Where the cache lives; see :func:`sklearn_bandgap.datasets.get_cache_dir`.
    n_jobs : int, default=None
        Processes used to read the structures on a cache miss.
    progress : bool, default=True
        Show a progress bar on a cache miss.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With fields

        unrelaxed : list of Structure
            The prototype-derived starting structures.
        relaxed : list of Structure
            Their DFT relaxations (same order).
        target : ndarray of shape (n_samples,)
            ``energy_per_atom`` of the relaxed structure (eV/atom).
        target_names : list of str
            ``["energy_per_atom"]``.
        formula : ndarray of str
            Reduced formula of each pair (the formula-group label).
        structure_id : ndarray of str
            ``<formula>_<prototype>_<spacegroup>`` ids from the source.
        frame : DataFrame
            Per-pair metadata, including ``same_species``.
        n_dropped : int
            Pairs removed by ``same_species_only``.
        DESCR : str
            Description of the data set.

    (unrelaxed, target) : tuple
        If ``return_X_y`` is True.

    Examples
    --------
    >>> from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
    >>> pairs = load_nrel_relaxation_pairs(subset="sample100", progress=False)
    >>> len(pairs.unrelaxed) == len(pairs.relaxed) == len(pairs.target)
    True
    """
    if subset not in NREL_FILES:
        raise ValueError(f"subset must be one of {sorted(NREL_FILES)}, got {subset!r}.")
    path = find_data_file(NREL_FILES[subset], data_home)
    parsed = load_or_build(
        path,
        lambda: _parse_nrel_file(path, n_jobs, progress),
        cache=cache,
        cache_dir=cache_dir,
        validate=lambda obj: (
            isinstance(obj, dict) and {"unrelaxed", "relaxed", "frame"} <= set(obj)
        ),
    )
    frame: pd.DataFrame = parsed["frame"]
    keep = frame["same_species"].to_numpy() if same_species_only else np.ones(len(frame), bool)
    unrelaxed = [s for s, k in zip(unpack_structures(parsed["unrelaxed"]), keep, strict=True) if k]
    relaxed = [s for s, k in zip(unpack_structures(parsed["relaxed"]), keep, strict=True) if k]
    frame = frame[keep].reset_index(drop=True)
    y = frame["energy_per_atom"].to_numpy(dtype=np.float64)
    if return_X_y:
        return unrelaxed, y
    return Bunch(
        unrelaxed=unrelaxed,
        relaxed=relaxed,
        target=y,
        target_names=["energy_per_atom"],
        formula=frame["formula"].to_numpy(dtype=object),
        structure_id=frame["structure_id"].to_numpy(dtype=object),
        frame=frame,
        n_dropped=int((~keep).sum()),
        DESCR=_DESCR,
    )
