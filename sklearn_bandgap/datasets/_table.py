"""Your own data: a table of structures and target columns, read as the shipped sets are."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure
from sklearn.utils import Bunch

from sklearn_bandgap.utils._validation import read_structures

#: Column names taken as the structure column when none is named (any case).
STRUCTURE_COLUMNS = ("structure", "cif", "poscar")


def load_table(
    path: str | os.PathLike[str],
    *,
    target: str | Sequence[str],
    structure_column: str | None = None,
    group_column: str | None = None,
    allow_missing: bool = False,
) -> Bunch:
    """Read a table of crystals and their properties (your own data set).

    Parameters
    ----------
    path : str or path-like
        A CSV or JSON table (records or columns), optionally compressed
        (``.gz``, ``.bz2``, ``.xz``, ``.zip``: pandas reads them).
    target : str or sequence of str
        The column(s) to learn, the headline one first.
    structure_column : str, default=None
        The column holding each crystal: CIF or POSCAR text, a path to a
        structure file (relative to the table's folder, or absolute), or a
        pymatgen ``Structure`` as a dict or JSON text. Default: the first of
        ``structure``, ``cif``, ``poscar`` present (any case).
    group_column : str, default=None
        Labels of the groups that must stay on one side of every split;
        default the reduced formula of each structure (polymorphs together).
    allow_missing : bool, default=False
        Read an empty target cell as NaN, a value that was not measured (for
        ``NeighborLSTMRegressor(missing_targets="ignore")``). Text that is not
        a number is refused either way, and so is a row without any target.

    Returns
    -------
    data : Bunch
        ``data`` (list of Structure), ``target`` (ndarray of shape (n,) for
        one target, (n, n_targets) for several), ``target_names``, ``groups``
        (ndarray of str) and ``structure_column``.

    Raises
    ------
    ValueError
        For a missing column (naming the columns there are) or targets that
        are not finite numbers (naming the rows).
    InvalidStructureError
        Listing every row whose structure cannot be read (row and reason).

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from pymatgen.core import Lattice, Structure
    >>> from sklearn_bandgap.datasets import load_table
    >>> nacl = Structure.from_spacegroup(
    ...     "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ... )
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
    >>> pd.DataFrame({"cif": [nacl.to(fmt="cif")], "gap": [5.0]}).to_csv(path, index=False)
    >>> table = load_table(path, target="gap")
    >>> table.target_names, table.target.tolist(), table.groups.tolist()
    (['gap'], [5.0], ['NaCl'])
    """
    from sklearn_bandgap.model_selection import formula_groups

    path = Path(path)
    frame = _read_frame(path)
    columns = [str(c) for c in frame.columns]
    names = [target] if isinstance(target, str) else list(target)
    if not names:
        raise ValueError("target: name at least one column.")
    for name in [*names, *([group_column] if group_column else [])]:
        if name not in columns:
            raise ValueError(f"{path}: no column {name!r}; columns: {columns}")
    column = _structure_column(columns, structure_column, path)
    y = np.column_stack([_numbers(frame[name], name, path, allow_missing) for name in names])
    if allow_missing:
        empty = np.flatnonzero(np.isnan(y).all(axis=1))
        if empty.size:
            raise ValueError(
                f"{path}: no target value at all in {empty.size} row(s), e.g. rows "
                f"{empty[:10].tolist()}: leave them out"
            )
    items = [_item(value, path.parent, row) for row, value in enumerate(frame[column])]
    structures = read_structures(items, name=f"{path} column {column!r}")
    groups = (
        frame[group_column].astype(str).to_numpy(dtype=object)
        if group_column
        else formula_groups(structures)
    )
    return Bunch(
        data=structures,
        target=y[:, 0] if len(names) == 1 else y,
        target_names=names,
        groups=groups,
        structure_column=column,
    )


def _read_frame(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if re.search(r"\.json(\.\w+)?$", path.name, re.IGNORECASE):
        return pd.read_json(path)
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _structure_column(columns: list[str], wanted: str | None, path: Path) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"{path}: no column {wanted!r}; columns: {columns}")
        return wanted
    lower = {c.lower(): c for c in columns}
    for name in STRUCTURE_COLUMNS:
        if name in lower:
            return lower[name]
    raise ValueError(
        f"{path}: no structure column among {columns}; name it (structure_column, or "
        "--structure-column on the command line)"
    )


def _numbers(values: Any, name: str, path: Path, allow_missing: bool = False) -> np.ndarray:
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    blank = values.isna().to_numpy()
    bad = np.flatnonzero(~np.isfinite(numbers) & ~(blank & allow_missing))
    if bad.size:
        shown = ", ".join(
            f"{row} (empty)" if blank[row] else f"{row} ({values.iloc[row]!r:.20})"
            for row in bad[:10]
        )
        hint = (
            "; an empty cell is a missing value only with allow_missing=True "
            "(--missing-targets ignore)"
            if blank[bad].any() and not allow_missing
            else ""
        )
        raise ValueError(
            f"{path}: column {name!r} is not a finite number in {bad.size} row(s): {shown}"
            + (" ..." if bad.size > 10 else "")
            + hint
        )
    if allow_missing and blank.all():
        raise ValueError(f"{path}: column {name!r} is empty in every row")
    return numbers


def _item(value: Any, folder: Path, row: int) -> Any:
    """A structure cell as the input layer reads it (dicts become Structures)."""
    if isinstance(value, dict):
        return Structure.from_dict(value)
    if not isinstance(value, str):
        return value  # the input layer names what it is
    text = value.strip()
    if text.startswith("{"):
        try:
            return Structure.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError):
            return value  # the input layer says it is neither text nor a file
    if "\n" in value:
        return value
    relative = folder / text
    return str(relative) if relative.is_file() else text
