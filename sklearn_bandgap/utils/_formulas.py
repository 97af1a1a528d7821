"""Reduced formulas for messages and output rows, without pymatgen's warnings."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def reduced_formula(structure: Any) -> str | None:
    """The reduced formula of a structure, or None if it has none (a broken input)."""
    try:
        with warnings.catch_warnings():  # pymatgen: "No Pauling electronegativity for Ar"
            warnings.simplefilter("ignore")
            return str(structure.composition.reduced_formula)
    except Exception:
        return None


def formula_of_numbers(atomic_numbers: np.ndarray) -> str:
    """The reduced formula of a set of atoms given by atomic number."""
    from pymatgen.core import Composition, Element

    elements, counts = np.unique(atomic_numbers, return_counts=True)
    amounts = {Element.from_Z(int(z)): int(c) for z, c in zip(elements, counts, strict=True)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(Composition(amounts).reduced_formula)
