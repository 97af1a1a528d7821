"""What the command line is given: files, folders, glob patterns and tables, read lazily.

:func:`iter_items` turns the command's inputs into a stream of :class:`Item`
(one per structure, with the id it gets in the output), never holding more
than one table chunk in memory; :func:`parse_item` reads one item into a
pymatgen ``Structure``. Anything that cannot be read becomes an item with an
``error``, so that it is reported by name and the others go on.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

#: Names of structure files picked up inside folders (explicitly named files
#: may have any name).
STRUCTURE_FILE = re.compile(
    r"(\.(cif|mcif|vasp|poscar|extxyz|xyz)(\.(gz|bz2|xz))?$)|(^(POSCAR|CONTCAR))", re.IGNORECASE
)
_TABLE = re.compile(r"\.(csv|json)(\.gz)?$", re.IGNORECASE)
_STRUCTURE_COLUMNS = ("structure", "cif", "poscar", "structures", "path", "file")
_ID_COLUMNS = ("id", "material_id", "name", "structure_id")
_TABLE_CHUNK = 2048


@dataclass(frozen=True)
class Item:
    """One structure to read: a path, CIF/POSCAR text, a Structure dict or a Structure."""

    id: str
    source: Any = None
    kind: str = "path"  # "path", "text", "dict", "structure", "upload" (name, bytes)
    base: str = ""  # folder of the table, for relative paths
    error: str | None = None


def _has_magic(text: str) -> bool:
    return glob.has_magic(text)


def _folder_item(path: str, name: str, skipped: list[str] | None) -> Iterator[Item]:
    if STRUCTURE_FILE.search(name):
        yield Item(path, path)
    elif skipped is not None and not name.startswith("."):
        skipped.append(path)


def _iter_folder(folder: Path, recursive: bool, skipped: list[str] | None) -> Iterator[Item]:
    """The structure files of a folder by name; others counted in ``skipped``.

    Symbolic links to folders are not followed (no loops); a broken or
    looping link to a file becomes an item with its error.
    """
    if recursive:
        for root, dirs, files in os.walk(folder, onerror=None):
            dirs.sort()
            for name in sorted(files):
                yield from _folder_item(str(Path(root) / name), name, skipped)
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        yield Item(str(folder), error=f"cannot list this folder ({exc.strerror})")
        return
    for entry in entries:
        path = str(Path(folder) / entry.name)
        try:
            is_file = entry.is_file()
        except OSError as exc:  # e.g. a symbolic link that loops
            if STRUCTURE_FILE.search(entry.name):
                yield Item(path, error=f"a symbolic link that cannot be followed ({exc.strerror})")
            continue
        if is_file:
            yield from _folder_item(path, entry.name, skipped)
        elif entry.is_symlink() and STRUCTURE_FILE.search(entry.name):
            yield Item(path, error="a broken symbolic link")


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    """The column asked for (which must exist), else the first candidate present, else None."""
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"no column {wanted!r}; columns: {columns}")
        return wanted
    lower = {c.lower(): c for c in columns}
    return next((lower[name] for name in candidates if name in lower), None)


def table_item(row_id: str, value: Any, base: str) -> Item:
    if isinstance(value, dict):
        return Item(row_id, value, "dict")
    if not isinstance(value, str) or not value.strip():
        return Item(row_id, error=f"the structure cell is empty or not text ({value!r:.40})")
    text = value.strip()
    if text.startswith("{"):
        try:
            return Item(row_id, json.loads(text), "dict")
        except ValueError:
            return Item(row_id, error="the structure cell starts with '{' but is not JSON")
    if "\n" in value:
        return Item(row_id, value, "text")
    return Item(row_id, text, "path", base=base)


def _read_json(path: Path) -> Any:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def _is_structure_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and ("lattice" in obj and "sites" in obj)


def _iter_table(path: Path, structure_column: str | None, id_column: str | None) -> Iterator[Item]:
    import pandas as pd

    base = str(path.parent)
    if re.search(r"\.json(\.gz)?$", path.name, re.IGNORECASE):
        content = _read_json(path)
        if _is_structure_dict(content):  # one pymatgen Structure as JSON
            yield Item(str(path), content, "dict")
            return
        frames: Iterable[pd.DataFrame] = [pd.DataFrame(content)]
    else:
        frames = pd.read_csv(path, chunksize=_TABLE_CHUNK, dtype=str, keep_default_na=False)
    position = 0
    column = ids = None
    for frame in frames:
        if column is None:
            columns = [str(c) for c in frame.columns]
            column = _pick(columns, structure_column, _STRUCTURE_COLUMNS)
            if column is None:
                raise ValueError(
                    f"no structure column among {columns}; name it with --structure-column"
                )
            ids = _pick(columns, id_column, _ID_COLUMNS)
        values = frame[column].tolist()
        names = frame[ids].astype(str).tolist() if ids is not None else None
        for offset, value in enumerate(values):
            row = position + offset
            row_id = names[offset] if names is not None else f"{path}:{row}"
            yield table_item(row_id, value, base)
        position += len(values)


def iter_items(
    inputs: list[str],
    *,
    structure_column: str | None = None,
    id_column: str | None = None,
    recursive: bool = False,
    skipped: list[str] | None = None,
    stdin: TextIO | None = None,
) -> Iterator[Item]:
    """Every structure named by the command's inputs, in order, lazily.

    Parameters
    ----------
    inputs : list of str
        Files (any name), folders (their structure files, see
        :data:`STRUCTURE_FILE`), glob patterns (expanded here if the shell did
        not), and CSV/JSON tables (``*.csv``, ``*.json``, optionally gzipped).
    structure_column, id_column : str, default=None
        Columns of tables; by default the first of ``structure``, ``cif``,
        ``poscar``, ... and of ``id``, ``material_id``, ``name``.
    recursive : bool, default=False
        Look into sub-folders of folders (and ``**`` in patterns). Links to
        folders are not followed, files reached twice are read once.
    skipped : list of str, default=None
        Collects the files inside folders that are not structure files by name
        (hidden files aside), so that the caller can report them.
    stdin : file-like, default=None
        Where the input ``-`` reads one structure text from (default
        ``sys.stdin``).

    Yields
    ------
    item : Item
        With ``error`` set for inputs that cannot be used (a missing file, a
        pattern matching nothing, a table without a structure column).
    """
    seen: set[str] = set()
    for text in inputs:
        if text == "-":
            source = (stdin or sys.stdin).read()
            yield Item("-", source, "text") if source.strip() else Item("-", error="empty input")
            continue
        path = Path(text)
        if not path.exists() and _has_magic(text):
            matches = sorted(glob.glob(text, recursive=recursive))
            if not matches:
                yield Item(text, error="no file matches this pattern")
            for match in matches:
                real = os.path.realpath(match)
                if real in seen:  # ** through a link back up the tree
                    continue
                seen.add(real)
                yield from iter_items(
                    [match],
                    structure_column=structure_column,
                    id_column=id_column,
                    recursive=recursive,
                    skipped=skipped,
                )
            continue
        if path.is_dir():
            yield from _iter_folder(path, recursive, skipped)
        elif not path.is_file():
            reason = "no such file or folder"
            if path.is_symlink():
                reason = "a broken or looping symbolic link"
            yield Item(text, error=reason)
        elif _TABLE.search(path.name):
            try:
                yield from _iter_table(path, structure_column, id_column)
            except Exception as exc:  # an unreadable table is one bad input
                yield Item(text, error=f"cannot read this table: {exc}")
        else:
            yield Item(text, text)


def parse_item(item: Item, *, arrays: bool = False) -> list[tuple[str, Any]]:
    """Read one item into ``(id, Structure)`` pairs: one per structure it holds.

    A file or text with several structures (CIF data blocks, extended-XYZ
    frames) gives ids ``<id>#1``, ``<id>#2``, ...; a block that cannot be read
    comes as ``(id, ValueError)``, so that it is reported on its own row.
    Raises with the reason if the item cannot be read at all.

    With ``arrays=True``, a plain P1 CIF (the files DFT codes and the
    Materials Project write) comes as the checked
    :class:`~sklearn_bandgap.utils._validation.PeriodicArrays` the featurizer
    reads, identical to those of its structure, without building the
    structure (for models that start with a
    :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`).
    """
    from pymatgen.core import Structure

    from sklearn_bandgap.utils._structure_files import (
        decode_text,
        is_cif_name,
        is_other_format_name,
        read_structures_file,
        read_text_file,
        structures_from_text,
    )
    from sklearn_bandgap.utils._validation import cif_arrays

    if item.error is not None:
        raise ValueError(item.error)
    if item.kind == "structure":
        structures: list[Any] = [item.source]
    elif item.kind == "dict":
        structures = [Structure.from_dict(item.source)]
    elif item.kind == "text":
        fast = cif_arrays(item.source) if arrays else None
        structures = [fast] if fast is not None else structures_from_text(item.source)
    elif item.kind == "upload":  # a file's name and bytes; never a path on this machine
        text, name = decode_text(item.source[1], item.source[0])
        fast = cif_arrays(text) if arrays and not is_other_format_name(name) else None
        structures = [fast] if fast is not None else structures_from_text(text, name)
    else:
        path = Path(item.source)
        if item.base and not path.is_absolute():
            path = Path(item.base) / path
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        if arrays and is_cif_name(path):  # read once, by gemmi or else by pymatgen
            text, name = read_text_file(path)
            fast = cif_arrays(text)
            structures = [fast] if fast is not None else structures_from_text(text, name)
        else:
            structures = read_structures_file(path)
    if not structures:
        raise ValueError("holds no structure")
    if len(structures) == 1:
        return [(item.id, structures[0])]
    return [(f"{item.id}#{k}", s) for k, s in enumerate(structures, start=1)]
