"""The input layer every estimator of the package stands on.

Structures: :func:`as_item_list` accepts the containers users hold them in
(list, tuple, pandas Series, a one-column DataFrame, numpy object arrays),
:func:`read_structure` converts one item (pymatgen ``Structure``/``IStructure``,
``ase.Atoms``, CIF or POSCAR text, a path to a CIF or POSCAR file under any name
or to any file pymatgen reads), :func:`read_periodic_arrays` also validates it
as an ordered periodic crystal, and :func:`check_structures` /
:func:`read_structures` do it for a whole input, raising one
:class:`~sklearn_bandgap.exceptions.InvalidStructureError` that lists every bad
item by index and formula. Targets: :func:`check_target`.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pymatgen.core import Element, IMolecule, IStructure, PeriodicSite, Structure

from sklearn_bandgap.exceptions import InvalidStructureError, OutOfDomainWarning, StructureProblem
from sklearn_bandgap.utils._cif import gemmi_p1_parts
from sklearn_bandgap.utils._elements import MAX_ATOMIC_NUMBER
from sklearn_bandgap.utils._formulas import formula_of_numbers, reduced_formula
from sklearn_bandgap.utils._structure_files import read_structure_file, structure_from_text

R = TypeVar("R")

#: Atomic number of each element symbol the package reads.
_ATOMIC_NUMBERS = {Element.from_Z(z).symbol: z for z in range(1, MAX_ATOMIC_NUMBER + 1)}

_ORDER_IT = (
    "only ordered structures are supported (e.g. order it with pymatgen's "
    "OrderDisorderedStructureTransformation)."
)


@dataclass(frozen=True)
class PeriodicArrays:
    """The arrays the neighbour search needs, read once from a structure.

    Attributes
    ----------
    lattice : ndarray of shape (3, 3)
        Lattice vectors as rows, in Å.
    cart_coords : ndarray of shape (n_atoms, 3)
        Cartesian coordinates in Å.
    atomic_numbers : ndarray of shape (n_atoms,)
        Atomic number of each site.
    structure : IStructure or None
        The structure they were read from (None once detached).
    formula_text : str or None
        The reduced formula, when already known.
    """

    lattice: np.ndarray
    cart_coords: np.ndarray
    atomic_numbers: np.ndarray
    structure: IStructure | None
    formula_text: str | None = None

    @property
    def formula(self) -> str | None:
        """Reduced formula, for error messages (computed on demand: it is slow)."""
        if self.formula_text is None and self.structure is not None:
            return reduced_formula(self.structure)
        return self.formula_text

    def detached(self) -> PeriodicArrays:
        """A copy without the structure (cheap to send to another process)."""
        return replace(self, structure=None, formula_text=self.formula)


def read_structure(obj: Any) -> IStructure:
    """Convert one supported input to a pymatgen structure.

    Accepted: ``Structure``/``IStructure``; ``ase.Atoms`` with periodic
    boundaries on all three axes (through pymatgen's ``AseAtomsAdaptor``); CIF
    or POSCAR text; a path (``str`` or ``os.PathLike``) to a CIF or POSCAR
    file under any name, or to any other file pymatgen reads.

    Raises
    ------
    TypeError
        For an object of another type, including a non-periodic ``Molecule``.
    ValueError
        For a string that is neither CIF or POSCAR text nor an existing file.
    """
    if isinstance(obj, IStructure):
        return obj
    if isinstance(obj, IMolecule):
        raise TypeError(
            "is a non-periodic Molecule: neighbour lists with periodic images need a "
            "crystal. Place it in a box first, e.g. molecule.get_boxed_structure(a, b, c)."
        )
    ase = sys.modules.get("ase")  # an ase.Atoms can only exist if ase is imported
    if ase is not None and isinstance(obj, ase.Atoms):
        if not all(obj.pbc):
            raise TypeError(f"is an ase.Atoms with pbc={list(obj.pbc)}: all three must be True.")
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(obj)
    if isinstance(obj, str) and "\n" in obj:
        return structure_from_text(obj)
    if isinstance(obj, str | os.PathLike):
        path = Path(obj)
        if not path.is_file():
            raise ValueError(
                f"is a string but neither CIF or POSCAR text nor an existing file: {obj!r:.80}"
            )
        return read_structure_file(path)
    raise TypeError(
        f"is a {type(obj).__module__}.{type(obj).__qualname__}, not a pymatgen Structure, "
        "ase.Atoms, CIF or POSCAR text, or structure file path."
    )


def read_periodic_arrays(obj: Any, index: int | None) -> PeriodicArrays | StructureProblem:
    """Convert and validate one input; return its arrays or the problem found.

    Checks: convertible (see :func:`read_structure`), at least one site, fully
    ordered (no partial occupancy), atomic numbers in 1..118, periodic on all
    axes, finite lattice and coordinates, a non-degenerate cell.
    """
    if isinstance(obj, PeriodicArrays):  # read and checked already
        return obj
    try:
        structure = read_structure(obj)
    except Exception as exc:  # conversion failures become reports, not crashes
        return StructureProblem(index, None, str(exc))

    def problem(reason: str) -> StructureProblem:
        return StructureProblem(index, reduced_formula(structure), reason)

    if len(structure) == 0:
        return problem("has no sites.")
    # One pass over the sites: ordered (one species, full occupancy) and Z in range.
    atomic_numbers = []
    for site, composition in enumerate(structure.species_and_occu):
        if len(composition) != 1:
            return problem(f"is disordered: site {site} is {composition}; " + _ORDER_IT)
        ((species, occupancy),) = composition.items()
        if abs(occupancy - 1.0) > 1e-8:
            return problem(f"is disordered: site {site} has occupancy {occupancy}; " + _ORDER_IT)
        z = species.Z
        if not 1 <= z <= MAX_ATOMIC_NUMBER:
            return problem(
                f"site {site} holds {species} (Z={z}), outside the supported elements "
                f"Z=1..{MAX_ATOMIC_NUMBER}."
            )
        atomic_numbers.append(z)
    lattice_obj = structure.lattice
    if not all(lattice_obj.pbc):
        return problem(f"is not periodic on all axes (pbc={lattice_obj.pbc}).")
    lattice = np.ascontiguousarray(lattice_obj.matrix, dtype=np.float64)
    cart_coords = np.ascontiguousarray(structure.frac_coords @ lattice, dtype=np.float64)
    if not (np.isfinite(lattice).all() and np.isfinite(cart_coords).all()):
        return problem("has non-finite (NaN or infinite) lattice or coordinates.")
    if abs(float(np.linalg.det(lattice))) < 1e-6:
        return problem("has a degenerate lattice (cell volume about 0 Å^3).")
    return PeriodicArrays(lattice, cart_coords, np.array(atomic_numbers, dtype=np.int64), structure)


def cif_arrays(text: str) -> PeriodicArrays | None:
    """The checked arrays of a plain P1 CIF, without building a pymatgen structure; or None.

    For the CIFs :func:`~sklearn_bandgap.utils._cif.read_cif` reads through
    gemmi (one block, P1, every site one element fully occupied), the arrays
    are those :func:`read_periodic_arrays` gives for the structure ``read_cif``
    returns, bit for bit, and the reduced formula is pymatgen's; building the
    structure and walking its sites would cost about four times the reading.
    None means "read it as a structure" (anything else, or a cell that fails a
    check: the structure path then names the problem).
    """
    parts = gemmi_p1_parts(text)
    if parts is None:
        return None
    lattice_obj, species, fractions = parts
    numbers = np.array([_ATOMIC_NUMBERS[symbol] for symbol in species], dtype=np.int64)
    lattice = np.ascontiguousarray(lattice_obj.matrix, dtype=np.float64)
    cart_coords = np.ascontiguousarray(fractions @ lattice, dtype=np.float64)
    finite = np.isfinite(lattice).all() and np.isfinite(cart_coords).all()
    if not finite or abs(float(np.linalg.det(lattice))) < 1e-6:
        return None
    return PeriodicArrays(lattice, cart_coords, numbers, None, formula_of_numbers(numbers))


def as_item_list(X: Any, name: str = "X") -> list[Any]:
    """The items of the accepted containers of structures, as a list; else a clear error.

    Accepted: list, tuple, pandas Series, a DataFrame of one column, a 1-D
    numpy array (or an ``(n, 1)`` one), and the 2-D object array numpy makes of
    structures of equal size (``np.array(structures, dtype=object)`` unpacks
    each into its sites; they are put back together).
    """
    import pandas as pd

    if isinstance(X, IStructure | str | os.PathLike):
        raise TypeError(
            f"{name} must be a sequence of structures; got one {type(X).__name__}: use [it]."
        )
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"{name} is a DataFrame with {X.shape[1]} columns; pass the one column that "
                "holds the structures, e.g. df['structure']."
            )
        X = X.iloc[:, 0]
    if isinstance(X, pd.Series):
        return X.tolist()
    if isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:  # df[["structure"]].values
            return X[:, 0].tolist()
        if X.ndim == 2 and X.dtype == object and X.size and isinstance(X.flat[0], PeriodicSite):
            return [Structure.from_sites(list(row)) for row in X]
        if X.ndim != 1:
            raise ValueError(f"{name} must be a 1-D sequence of structures, got shape {X.shape}.")
        return X.tolist()
    if isinstance(X, list | tuple):
        return list(X)
    raise TypeError(
        f"{name} must be a sequence (list, tuple, 1-D array, Series) of structures, got a "
        f"{type(X).__module__}.{type(X).__qualname__}."
    )


def _read_all(X: Any, name: str, read: Callable[[Any, int], R | StructureProblem]) -> list[R]:
    items = as_item_list(X, name)
    if not items:
        raise ValueError(f"{name} holds no structures.")
    results: list[R] = []
    problems: list[StructureProblem] = []
    for index, item in enumerate(items):
        result = read(item, index)
        if isinstance(result, StructureProblem):
            problems.append(result)
        else:
            results.append(result)
    if problems:
        raise InvalidStructureError(problems)
    return results


def check_structures(X: Any, *, name: str = "X") -> list[PeriodicArrays]:
    """Read and validate every structure of ``X`` (ordered periodic crystals).

    Parameters
    ----------
    X : sequence of structures
        See :func:`as_item_list` and :func:`read_structure`.
    name : str, default="X"
        How the error messages call it.

    Returns
    -------
    arrays : list of PeriodicArrays
        One per item, each with its ``structure``.

    Raises
    ------
    InvalidStructureError
        Listing every item that cannot be read or is not a valid crystal.
    TypeError, ValueError
        If ``X`` is not a sequence of structures, or is empty.
    """
    return _read_all(X, name, read_periodic_arrays)


def read_structures(X: Any, *, name: str = "X") -> list[IStructure]:
    """Convert every item of ``X`` to a pymatgen structure, without validating it.

    For estimators that take what pymatgen can hold (matminer featurizers read
    disordered structures too). Errors as :func:`check_structures`.
    """

    def convert(item: Any, index: int) -> IStructure | StructureProblem:
        try:
            return read_structure(item)
        except (TypeError, ValueError, OSError) as exc:
            return StructureProblem(index, None, str(exc))

    return _read_all(X, name, convert)


def _first_non_number(y: Any) -> tuple[int, Any] | None:
    for index, value in enumerate(np.asarray(y, dtype=object).ravel()):
        try:
            float(value)
        except (TypeError, ValueError):
            return index, value
    return None


def check_target(
    y: Any,
    n_samples: int,
    *,
    multi_output: bool = True,
    name: str = "y",
    allow_missing: bool = False,
    missing_hint: str = "",
) -> np.ndarray:
    """``y`` as finite float64 of ``n_samples`` rows, or a clear error naming it.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets.
    n_samples : int
        Rows ``y`` must have (the number of structures).
    multi_output : bool, default=True
        Accept a 2-D ``y``; if False, a 2-D ``y`` of more than one column is
        refused (a single score over columns of different units means nothing).
    name : str, default="y"
        How the error messages call it.
    allow_missing : bool, default=False
        Accept NaN as "not measured" (infinite values are still refused), as
        long as every row and every column keeps at least one number.
    missing_hint : str, default=""
        Appended to the error about NaN values (how the caller could accept them).

    Returns
    -------
    y : ndarray of float64
        1-D or 2-D as given.

    Raises
    ------
    ValueError
        If ``y`` holds something that is not a number (the first such entry is
        named), has the wrong shape or length, or holds NaN or infinite values
        (their rows are named).
    """
    try:
        array = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        bad = _first_non_number(y)
        where = f" (entry {bad[0]}: {bad[1]!r})" if bad is not None else ""
        raise ValueError(f"{name} must hold numbers; it holds something else{where}.") from exc
    if array.ndim == 0 or array.ndim > 2 or (array.ndim == 2 and array.shape[1] == 0):
        raise ValueError(f"{name} must be 1-D or 2-D with at least one column, got {array.shape}.")
    if array.ndim == 2 and array.shape[1] > 1 and not multi_output:
        raise ValueError(
            f"{name} has {array.shape[1]} columns, but only one target is scored at a time "
            "(one MAE over columns of different units, such as eV and eV/atom, would mean "
            "nothing): pass one column."
        )
    if len(array) != n_samples:
        raise ValueError(f"X has {n_samples} structures but {name} has {len(array)} rows.")
    if allow_missing:
        _check_missing(array, name)
        return array
    finite = np.isfinite(array) if array.ndim == 1 else np.isfinite(array).all(axis=1)
    bad_rows = np.flatnonzero(~finite)
    if bad_rows.size:
        raise ValueError(
            f"{name} has non-finite values (NaN or infinite) in {bad_rows.size} rows, e.g. at "
            f"indices {bad_rows[:10].tolist()}."
            + (f" {missing_hint}" if missing_hint and np.isnan(array).any() else "")
        )
    return array


def _check_missing(array: np.ndarray, name: str) -> None:
    """Refuse infinite values, rows without any number and columns without any number."""
    table = array.reshape(len(array), -1)
    infinite = np.flatnonzero(np.isinf(table).any(axis=1))
    if infinite.size:
        raise ValueError(
            f"{name} has infinite values in {infinite.size} rows, e.g. at indices "
            f"{infinite[:10].tolist()} (NaN marks a missing target; infinity is not one)."
        )
    present = ~np.isnan(table)
    empty_rows = np.flatnonzero(~present.any(axis=1))
    if empty_rows.size:
        raise ValueError(
            f"{name} has no target at all in {empty_rows.size} rows, e.g. at indices "
            f"{empty_rows[:10].tolist()}: leave them out (nothing can be learnt from them)."
        )
    empty_columns = np.flatnonzero(~present.any(axis=0))
    if empty_columns.size:
        raise ValueError(
            f"{name} column(s) {empty_columns.tolist()} hold no number at all: leave them out."
        )


def warn_out_of_domain(
    problems: Sequence[StructureProblem], n_structures: int, what: str, *, stacklevel: int = 3
) -> None:
    """One :class:`~sklearn_bandgap.exceptions.OutOfDomainWarning` for a batch.

    Its message counts the ``problems`` and names the first three (``"<count>
    of <n> structures <what>: ..."``); its ``problems`` attribute holds them all.
    Nothing happens when there are none.
    """
    if not problems:
        return
    first = "; ".join(str(problem) for problem in problems[:3])
    more = "; ..." if len(problems) > 3 else ""
    warnings.warn(
        OutOfDomainWarning(
            f"{len(problems)} of {n_structures} structures {what}: {first}{more}", problems
        ),
        stacklevel=stacklevel + 1,
    )
