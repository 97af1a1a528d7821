"""Structures from text and files: CIF and POSCAR by content, other formats by name."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

from pymatgen.core import Structure

from sklearn_bandgap.utils._cif import read_cif
from sklearn_bandgap.utils._settled import settled

#: File name patterns that are POSCAR files whatever their content looks like
#: (VASP's own names, and the ``.vasp`` suffix of VESTA and ase).
_POSCAR_NAMES = re.compile(r"^(POSCAR|CONTCAR|CHGCAR|LOCPOT)|\.vasp$|\.poscar$", re.IGNORECASE)
_CIF_SUFFIXES = {".cif", ".mcif"}


def looks_like_cif(text: str) -> bool:
    """True if ``text`` has the markers of CIF content (a data block and a cell)."""
    return "_cell_length_a" in text or bool(re.search(r"^\s*data_", text, re.MULTILINE))


def read_poscar(text: str) -> Structure:
    """Parse VASP POSCAR/CONTCAR text (velocities and predictor lines ignored)."""
    from pymatgen.io.vasp import Poscar

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Elements in POSCAR cannot be determined"
        return settled(Poscar.from_str(text, read_velocities=False).structure)


def structure_from_text(text: str, name: str = "") -> Structure:
    """Parse CIF or POSCAR text (the kind told by ``name`` if it says, else by the content).

    Parameters
    ----------
    text : str
        File content.
    name : str, default=""
        File name, if any: ``*.cif`` is CIF; ``POSCAR*``, ``CONTCAR*`` and
        ``*.vasp`` are POSCAR; any other name is told by the content.

    Returns
    -------
    structure : Structure

    Raises
    ------
    ValueError
        If the text is neither (with both parsers' reasons).
    """
    base = os.path.basename(name)
    if Path(base).suffix.lower() in _CIF_SUFFIXES:
        return read_cif(text)
    if _POSCAR_NAMES.search(base):
        return read_poscar(text)
    if looks_like_cif(text):
        return read_cif(text)
    try:
        return read_poscar(text)
    except Exception as exc:
        raise ValueError(
            f"is neither CIF (no data_ block or _cell_length_a) nor POSCAR text ({exc})."
        ) from exc


def read_structure_file(path: str | os.PathLike[str]) -> Structure:
    """Read one structure file: CIF or POSCAR under any name, else any format pymatgen reads.

    Parameters
    ----------
    path : str or path-like
        The file. CIF and POSCAR are recognised by name (``*.cif``,
        ``POSCAR*``, ``CONTCAR*``, ``*.vasp``) or, under any other name, by
        content; other formats pymatgen reads (``*.json``, ``*.xsf``, ...) go
        to ``Structure.from_file``.

    Returns
    -------
    structure : Structure

    Raises
    ------
    ValueError
        If the file is not a structure pymatgen can read (naming why).
    OSError
        If it cannot be read at all.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _CIF_SUFFIXES or _POSCAR_NAMES.search(path.name) or suffix in ("", ".txt"):
        text = path.read_text(encoding="utf-8", errors="replace")
        return structure_from_text(text, path.name)
    try:
        return settled(Structure.from_file(path))
    except Exception:
        text = path.read_text(encoding="utf-8", errors="replace")
        return structure_from_text(text, path.name)
