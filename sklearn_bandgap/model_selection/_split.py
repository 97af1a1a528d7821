"""Formula-group labels and the project's seeded train/test split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Composition
from sklearn.model_selection import GroupShuffleSplit

from sklearn_bandgap.exceptions import InvalidStructureError, StructureProblem
from sklearn_bandgap.utils._validation import as_item_list, read_structure

#: Fraction of formula groups held out by :func:`formula_group_split`.
SPLIT_TEST_SIZE = 0.1
#: Seed of the project's benchmark split.
SPLIT_RANDOM_STATE = 0


def formula_groups(items: Sequence[Any]) -> np.ndarray:
    """Reduced formula of each item: group labels for formula-group splits.

    Polymorphs (same reduced formula, different structure) get the same label,
    so ``GroupKFold(...).split(X, y, groups=formula_groups(X))`` never puts two
    polymorphs on both sides of a split.

    Parameters
    ----------
    items : sequence of structures, compositions or formulas
        Anything the estimators take as a structure (pymatgen ``Structure``,
        ``ase.Atoms``, CIF or POSCAR text, a path to a structure file), read
        through the same layer; or a ``Composition``; or a formula string
        (any formula pymatgen reads, e.g. ``"Fe4O6"`` is grouped with
        ``"Fe2O3"``). A string is structure text when it has a line break,
        a path when it names an existing file, a formula otherwise. Containers
        as the estimators take them (list, tuple, Series, 1-D array).

    Returns
    -------
    groups : ndarray of str, shape (n_samples,)
        Reduced formulas, e.g. ``"Fe2O3"``.

    Raises
    ------
    InvalidStructureError
        Listing every item that is neither a structure nor a formula (index
        and reason).

    Examples
    --------
    >>> from sklearn_bandgap.model_selection import formula_groups
    >>> formula_groups(["Fe4O6", "Fe2O3", "NaCl"]).tolist()
    ['Fe2O3', 'Fe2O3', 'NaCl']
    """
    groups: list[str] = []
    problems: list[StructureProblem] = []
    for i, item in enumerate(as_item_list(items, "items")):
        try:
            groups.append(_composition(item).reduced_formula)
        except (TypeError, ValueError, OSError) as exc:
            problems.append(StructureProblem(i, None, f"no formula: {exc}"))
    if problems:
        raise InvalidStructureError(problems)
    return np.array(groups, dtype=object)


def _composition(item: Any) -> Composition:
    """The composition of a structure-like item, a Composition or a formula string."""
    if isinstance(item, Composition):
        return item
    if isinstance(item, str) and "\n" not in item and not Path(item).is_file():
        try:
            return Composition(item)
        except Exception as exc:  # pymatgen raises several kinds for bad formulas
            raise ValueError(
                f"{item!r:.60} is neither a formula, structure text nor an existing file ({exc})"
            ) from None
    return read_structure(item).composition


def formula_group_split(
    groups: Sequence[str] | np.ndarray,
    *,
    test_size: float = SPLIT_TEST_SIZE,
    random_state: int = SPLIT_RANDOM_STATE,
) -> tuple[np.ndarray, np.ndarray]:
    """The project's seeded train/test split by formula group.

    Every benchmark of this project uses it with the defaults: 10 % of the
    reduced formulas (and all their polymorphs) go to the test set.

    Parameters
    ----------
    groups : array-like of str, shape (n_samples,)
        Group labels, typically :func:`formula_groups` of the structures.
    test_size : float, default=0.1
        Fraction of the *groups* held out (so about, not exactly, that
        fraction of the samples).
    random_state : int, default=0
        Seed of :class:`~sklearn.model_selection.GroupShuffleSplit`.

    Returns
    -------
    train_index, test_index : ndarray of int
        Sorted indices of the two sides; no group is on both.

    Examples
    --------
    >>> from sklearn_bandgap.model_selection import formula_group_split
    >>> train, test = formula_group_split(["A", "A", "B", "C"], test_size=0.34)
    >>> sorted(train.tolist() + test.tolist())
    [0, 1, 2, 3]
    """
    groups = np.asarray(groups, dtype=object)
    if groups.ndim != 1 or len(groups) < 2:
        raise ValueError("groups must be a 1-D sequence of at least two labels.")
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=random_state)
    train, test = next(splitter.split(np.zeros(len(groups)), groups=groups))
    return np.sort(train), np.sort(test)
