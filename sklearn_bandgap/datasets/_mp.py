"""Loader of the Materials Project band gap / formation energy set."""

from __future__ import annotations

import os
import warnings
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
from sklearn_bandgap.utils._cif import read_cif

MP_FILES = {
    "full": "mp_gap_eform/mp_gap_eform.csv.gz",
    "sample200": "mp_gap_eform/mp_gap_eform_sample200.csv.gz",
}
#: Unit of each target of the MP set.
MP_UNITS = {
    "band_gap": "eV",
    "formation_energy_per_atom": "eV/atom",
    "efermi": "eV",
    "total_magnetization": "muB",
    "magnetization_per_atom": "muB/atom",
}
MP_TARGETS = tuple(MP_UNITS)

_DESCR = """\
Materials Project structures with DFT band gap and formation energy
-------------------------------------------------------------------
33,144 crystals (``subset="full"``) or a seeded 200-row sample
(``subset="sample200"``: 100 with gap > 0, 100 metals, at most 30 sites).

Targets: ``band_gap`` (eV, GGA-PBE/GGA+U; about 42 % are exactly 0, metals) and
``formation_energy_per_atom`` (eV/atom); beside them ``efermi`` (the DFT Fermi
level, eV, missing for 2 crystals: NaN), ``total_magnetization`` (muB per cell)
and ``magnetization_per_atom`` (its absolute value over the number of sites).
1 to 200 sites per structure, median about 20. Many reduced formulas occur more
than once (polymorphs): split by ``formula`` groups (see :mod:`sklearn_bandgap.model_selection`).

Source: Materials Project data (circa 2018, CC BY 4.0), as committed in the
public repository kdmsit/MEGNet. Cite: Jain et al., APL Materials 1, 011002
(2013); Sanyal et al., arXiv:1811.05660 (2018).
"""


def _parse_cif_chunk(cifs: Sequence[str], start: int) -> list[tuple[Structure, str]]:
    out = []
    with warnings.catch_warnings():
        # pymatgen warns, once per process, that He has no Pauling electronegativity
        warnings.filterwarnings("ignore", message="No Pauling electronegativity")
        for offset, cif in enumerate(cifs):
            try:
                structure = read_cif(cif)
            except Exception as exc:
                raise ValueError(f"Row {start + offset}: CIF could not be parsed: {exc}") from exc
            out.append((structure, structure.composition.reduced_formula))
    return out


def _parse_mp_file(
    path: os.PathLike[str], n_jobs: int | None, progress: bool, rows: np.ndarray | None = None
) -> dict[str, Any]:
    frame = pd.read_csv(path)
    if rows is not None:
        outside = rows[(rows < 0) | (rows >= len(frame))]
        if outside.size:
            raise ValueError(
                f"rows holds positions outside 0..{len(frame) - 1} of {path}: "
                f"{outside[:10].tolist()}."
            )
        frame = frame.iloc[rows].reset_index(drop=True)
    parsed = map_chunks(
        _parse_cif_chunk,
        frame["cif"].tolist(),
        n_jobs=n_jobs,
        chunk_size=500,
        progress=progress,
        desc=f"Parsing CIFs of {os.path.basename(path)}",
    )
    frame = frame.drop(columns="cif")
    frame.insert(2, "formula", [formula for _, formula in parsed])
    return {"structures": pack_structures([structure for structure, _ in parsed]), "frame": frame}


def load_mp_gap_eform(
    *,
    subset: Literal["full", "sample200"] = "full",
    target: str | Sequence[str] = "band_gap",
    return_X_y: bool = False,
    data_home: str | os.PathLike[str] | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    rows: Any = None,
) -> Bunch | tuple[list[Structure], np.ndarray]:
    """Load the Materials Project band gap and formation energy data set.

    The CIFs are parsed into :class:`pymatgen.core.Structure` once (about two
    minutes for the full set on one core) and cached as compact arrays; later
    loads rebuild the structures from the cache in about 10 seconds. The cache
    is keyed by the source file's content (and the pymatgen version), so a
    changed file is parsed again.

    Parameters
    ----------
    subset : {"full", "sample200"}, default="full"
        The 33,144-row development set or its seeded 200-row sample.
    target : str or sequence of str, default="band_gap"
        Column(s) returned as ``target``: any of ``"band_gap"``,
        ``"formation_energy_per_atom"``, ``"efermi"`` (NaN for the 2 crystals
        the source lacks it for), ``"total_magnetization"`` (muB per cell) and
        ``"magnetization_per_atom"`` (``|total_magnetization|`` over the
        number of sites); a sequence gives a 2-D ``target``.
    return_X_y : bool, default=False
        If True, return ``(structures, target)`` instead of a Bunch.
    data_home : str or path-like, default=None
        Folder that holds ``mp_gap_eform/``. See
        :func:`sklearn_bandgap.datasets.data_home_candidates` for the search order.
    cache : bool, default=True
        Read and write the parsed-structure cache.
    cache_dir : str or path-like, default=None
        Where the cache lives; see :func:`sklearn_bandgap.datasets.get_cache_dir`.
    n_jobs : int, default=None
        Processes used to parse the CIFs on a cache miss (joblib semantics).
    progress : bool, default=True
        Show a progress bar while parsing.
    rows : array-like of int, default=None
        Read only these rows of the file (positions, 0-based, in this order),
        parsing only their CIFs and bypassing the cache: a seeded subset for a
        quick look costs a fraction of the whole set's first load.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With fields

        data : list of Structure
            The crystals, in file order.
        target : ndarray of shape (n_samples,) or (n_samples, n_targets)
            The requested target column(s).
        target_names : list of str
            Names of the target columns.
        formula : ndarray of str, shape (n_samples,)
            Reduced formula of each structure: the group label for
            formula-group splits.
        material_id : ndarray of str, shape (n_samples,)
            Materials Project ids.
        frame : DataFrame
            Every column of the source except the CIF text, plus ``formula``
            and ``magnetization_per_atom``.
        DESCR : str
            Description of the data set.

    (structures, target) : tuple
        If ``return_X_y`` is True.

    Examples
    --------
    >>> from sklearn_bandgap.datasets import load_mp_gap_eform
    >>> X, y = load_mp_gap_eform(subset="sample200", return_X_y=True, progress=False)
    >>> len(X), y.shape
    (200, (200,))
    """
    if subset not in MP_FILES:
        raise ValueError(f"subset must be one of {sorted(MP_FILES)}, got {subset!r}.")
    target_names = [target] if isinstance(target, str) else list(target)
    unknown = [name for name in target_names if name not in MP_TARGETS]
    if unknown or not target_names:
        raise ValueError(f"target must be among {MP_TARGETS}, got {target!r}.")

    path = find_data_file(MP_FILES[subset], data_home)
    if rows is not None:
        rows = np.asarray(rows)
        if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
            raise ValueError(f"rows must be a 1-D sequence of row positions, got {rows!r:.80}.")
        parsed = _parse_mp_file(path, n_jobs, progress, rows)
    else:
        parsed = load_or_build(
            path,
            lambda: _parse_mp_file(path, n_jobs, progress),
            cache=cache,
            cache_dir=cache_dir,
            validate=lambda obj: isinstance(obj, dict) and {"structures", "frame"} <= set(obj),
        )
    structures = unpack_structures(parsed["structures"])
    frame: pd.DataFrame = parsed["frame"].copy()
    n_sites = np.array([len(structure) for structure in structures], dtype=np.float64)
    frame["magnetization_per_atom"] = frame["total_magnetization"].abs() / n_sites
    y = frame[target_names].to_numpy(dtype=np.float64)
    if isinstance(target, str):
        y = y[:, 0]
    if return_X_y:
        return structures, y
    return Bunch(
        data=structures,
        target=y,
        target_names=target_names,
        formula=frame["formula"].to_numpy(dtype=object),
        material_id=frame["material_id"].to_numpy(dtype=object),
        frame=frame,
        DESCR=_DESCR,
    )
