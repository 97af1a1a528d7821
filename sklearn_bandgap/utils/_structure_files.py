"""Structures from text and files: CIF and POSCAR by content, other formats by name.

A file may hold several structures (CIF data blocks, extended-XYZ frames):
:func:`read_structures_file` and :func:`structures_from_text` return them all,
in order; :func:`read_structure_file` and :func:`structure_from_text`, which
the estimators' input layer uses (one input, one structure), refuse such a
file rather than keep its first structure silently. Compressed files
(``.gz``, ``.bz2``, ``.xz``) are read through, up to :data:`MAX_TEXT_BYTES`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from sklearn_bandgap.utils._cif import read_cif
from sklearn_bandgap.utils._settled import settled

#: File name patterns that are POSCAR files whatever their content looks like
#: (VASP's own names, and the ``.vasp`` suffix of VESTA and ase).
_POSCAR_NAMES = re.compile(r"^(POSCAR|CONTCAR|CHGCAR|LOCPOT)|\.vasp$|\.poscar$", re.IGNORECASE)
_CIF_SUFFIXES = {".cif", ".mcif"}
#: Suffixes read through ASE (several frames each possible); periodic only.
ASE_SUFFIXES = {".extxyz", ".xyz"}
#: Compressions read through, by suffix.
COMPRESSIONS: dict[str, Callable[..., Any]] = {
    ".gz": gzip.open,
    ".bz2": bz2.open,
    ".xz": lzma.open,
}
#: Largest structure file read (after decompression): guards against
#: decompression bombs and files that are not structures at all.
MAX_TEXT_BYTES = 256 * 2**20
_DATA_BLOCK = re.compile(r"^[ \t]*data_", re.MULTILINE | re.IGNORECASE)


def looks_like_cif(text: str) -> bool:
    """True if ``text`` has the markers of CIF content (a data block and a cell)."""
    return "_cell_length_a" in text or bool(re.search(r"^\s*data_", text, re.MULTILINE))


def is_cif_name(path: str | os.PathLike[str]) -> bool:
    """True if a file's name says CIF (``.cif``, ``.mcif``, compressed or not)."""
    name = Path(path).name.lower()
    for suffix in COMPRESSIONS:
        name = name.removesuffix(suffix)
    return Path(name).suffix in _CIF_SUFFIXES


def is_other_format_name(name: str) -> bool:
    """True if a file's name says POSCAR or extended XYZ (not to be read as CIF)."""
    base = os.path.basename(name)
    return bool(_POSCAR_NAMES.search(base)) or Path(base).suffix.lower() in ASE_SUFFIXES


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
    is_cif = Path(base).suffix.lower() in _CIF_SUFFIXES
    if is_cif or (not _POSCAR_NAMES.search(base) and looks_like_cif(text)):
        n_blocks = len(_cif_blocks(text))
        if n_blocks > 1:
            raise ValueError(
                f"the CIF holds {n_blocks} data blocks; give them one by one "
                "(sklearn-bandgap predict reads them all)"
            )
        return read_cif(text)
    if _POSCAR_NAMES.search(base):
        return read_poscar(text)
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
        content; ``*.extxyz``/``*.xyz`` go through ASE, other formats pymatgen
        reads (``*.json``, ``*.xsf``, ...) to ``Structure.from_file``; any of
        them may be compressed (``.gz``, ``.bz2``, ``.xz``).

    Returns
    -------
    structure : Structure

    Raises
    ------
    ValueError
        If the file is not a structure pymatgen can read (naming why), or
        holds several (:func:`read_structures_file` reads them all).
    OSError
        If it cannot be read at all.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _CIF_SUFFIXES and len(_cif_blocks(text := path.read_text(errors="replace"))) == 1:
        return read_cif(text)  # the common case, without the detours below
    structures = read_structures_file(path)
    if len(structures) != 1:
        raise ValueError(
            f"{path.name} holds {len(structures)} structures (CIF data blocks or XYZ frames); "
            "give them one by one (sklearn-bandgap predict reads them all)"
        )
    if isinstance(structures[0], Exception):
        raise structures[0]
    return structures[0]


def _cif_blocks(text: str) -> list[str]:
    """The data blocks of a CIF, each as CIF text of its own (text before the first dropped)."""
    starts = [m.start() for m in _DATA_BLOCK.finditer(text)]
    if len(starts) <= 1:
        return [text]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _read_ase(text: str, name: str) -> list[Structure]:
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    fmt = "extxyz"
    frames = read(io.StringIO(text), index=":", format=fmt)
    structures = []
    for k, atoms in enumerate(frames):
        if not all(atoms.pbc) or atoms.cell.rank < 3:
            where = f" (frame {k + 1})" if len(frames) > 1 else ""
            raise ValueError(
                f"{name or 'the text'}{where} is not a periodic crystal "
                '(extended XYZ needs a Lattice and pbc="T T T")'
            )
        structures.append(settled(AseAtomsAdaptor.get_structure(atoms)))
    return structures


def structures_from_text(text: str, name: str = "") -> list[Any]:
    """Every structure in CIF, POSCAR or extended-XYZ text: CIF blocks and XYZ frames apart.

    Parameters
    ----------
    text : str
        File content.
    name : str, default=""
        File name, if any: tells the format as :func:`structure_from_text`
        does; ``*.extxyz`` and ``*.xyz`` are extended XYZ.

    Returns
    -------
    structures : list
        One per CIF data block or XYZ frame: a ``Structure``, or the
        ``ValueError`` that block raised (so that one bad block does not cost
        the others).

    Raises
    ------
    ValueError
        If the text is none of these formats.
    """
    base = os.path.basename(name)
    suffix = Path(base).suffix.lower()
    if suffix in ASE_SUFFIXES:
        return list(_read_ase(text, base))
    is_cif = suffix in _CIF_SUFFIXES or (not _POSCAR_NAMES.search(base) and looks_like_cif(text))
    if is_cif:
        blocks = _cif_blocks(text)
        if len(blocks) == 1:
            return [read_cif(text)]
        out: list[Any] = []
        for block in blocks:
            try:
                out.append(read_cif(block))
            except Exception as exc:
                out.append(ValueError(" ".join(str(exc).split()) or type(exc).__name__))
        return out
    return [structure_from_text(text, name)]


def read_text_file(path: str | os.PathLike[str]) -> tuple[str, str]:
    """A file's text, decompressed by suffix, and its name without the compression suffix.

    Raises
    ------
    ValueError
        If it is larger than :data:`MAX_TEXT_BYTES` (decompressed) or not a
        valid compressed file.
    OSError
        If it cannot be read.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        data = handle.read(MAX_TEXT_BYTES + 1)
    return decode_text(_checked_size(data), path.name)


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """The text of a file's bytes (an upload), decompressed by the name's suffix.

    The bytes-in-memory twin of :func:`read_text_file`: same limits, same
    errors, and the name without its compression suffix.
    """
    suffix = Path(name).suffix.lower()
    opener = COMPRESSIONS.get(suffix)
    if opener is None:
        return _checked_text(data), name
    try:
        with opener(io.BytesIO(data), "rb") as handle:
            inflated = handle.read(MAX_TEXT_BYTES + 1)
    except (EOFError, gzip.BadGzipFile, lzma.LZMAError, OSError) as exc:
        raise ValueError(f"is not a valid {suffix} file ({exc})") from exc
    return _checked_text(inflated), name[: -len(suffix)]


def _checked_size(data: bytes) -> bytes:
    if len(data) > MAX_TEXT_BYTES:
        raise ValueError(f"holds more than {MAX_TEXT_BYTES // 2**20} MB of text: not read")
    return data


def _checked_text(data: bytes) -> str:
    return _checked_size(data).decode("utf-8", errors="replace")


def read_structures_file(path: str | os.PathLike[str]) -> list[Any]:
    """Every structure of a file (see :func:`structures_from_text`), compressed or not.

    CIF, POSCAR and extended XYZ are read by name or content; other formats
    pymatgen reads by name (``*.json``, ``*.xsf``, ...) give one structure.
    """
    path = Path(path)
    text, name = read_text_file(path)
    suffix = Path(name).suffix.lower()
    known = suffix in _CIF_SUFFIXES | ASE_SUFFIXES or _POSCAR_NAMES.search(name)
    if known or suffix in ("", ".txt") or path.suffix.lower() in COMPRESSIONS:
        return structures_from_text(text, name)
    try:
        return [settled(Structure.from_file(path))]
    except Exception:
        return structures_from_text(text, name)
