"""Checks for estimators whose input is a sequence of crystal structures.

scikit-learn's common checks feed 2-D arrays and skip estimators that take other
input, so this module is the second tier (as ``imblearn.utils.estimator_checks``
is for samplers): fit returns self, no input is mutated, clone and pickle round
trips agree, ``n_jobs`` does not change results, the output is invariant to
translation, rotation, site order, supercell and the choice of cell (file
cell, primitive, conventional, Niggli), and a predictor's output is continuous
in the positions (noise of 1e-4 Å moves no prediction by more than a bound).

Outputs are compared per structure through a *signature*: for a transformer
returning per-atom neighbour lists (items with ``atomic_numbers`` and
``distances`` arrays, as :class:`~sklearn_bandgap.featurizers.NeighborLists`),
the sorted set of distinct per-atom rows (site order and supercell size drop
out); for anything else, the output row itself. The lists are recognised by
those two arrays, not by their class, so this module stays below the
featurizers it checks.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pymatgen.core import Lattice, Structure
from scipy.spatial.transform import Rotation
from sklearn.base import clone

__all__ = [
    "cell_choices",
    "check_cell_choice_invariance",
    "check_continuity",
    "check_fit_returns_self",
    "check_input_not_mutated",
    "check_invariances",
    "check_n_jobs_invariance",
    "check_pickle_clone_round_trip",
    "check_structure_estimator",
    "perturbed",
    "rotated",
    "rounded",
    "site_permuted",
    "translated",
]


def _output(estimator: Any, X: Sequence[Structure]) -> Any:
    if hasattr(estimator, "predict"):
        return estimator.predict(X)
    return estimator.transform(X)


def _is_per_atom_lists(output: Any) -> bool:
    """Whether ``output`` is a sequence of per-atom neighbour lists (duck-typed)."""
    try:
        first = output[0]
    except (TypeError, IndexError, KeyError):
        return False
    return hasattr(first, "atomic_numbers") and hasattr(first, "distances")


def _signatures(output: Any, decimals: int = 4) -> list[np.ndarray]:
    if _is_per_atom_lists(output):
        return [
            np.unique(np.hstack([item.atomic_numbers, np.round(item.distances, decimals)]), axis=0)
            for item in output
        ]
    return [np.round(np.atleast_1d(np.asarray(row, dtype=float)), decimals) for row in output]


def _assert_same(a: Any, b: Any, what: str, decimals: int = 4) -> None:
    sig_a, sig_b = _signatures(a, decimals), _signatures(b, decimals)
    assert len(sig_a) == len(sig_b), f"{what}: {len(sig_a)} outputs vs {len(sig_b)}"
    for i, (x, y) in enumerate(zip(sig_a, sig_b, strict=True)):
        assert x.shape == y.shape and np.allclose(x, y, atol=10.0**-decimals), (
            f"{what}: output of structure {i} differs"
        )


def translated(structure: Structure, vector: Sequence[float] = (0.31, -1.7, 2.9)) -> Structure:
    """A copy with every site moved by a Cartesian ``vector`` (Å), wrapped into the cell."""
    moved = structure.copy()
    moved.translate_sites(list(range(len(moved))), vector, frac_coords=False, to_unit_cell=True)
    return moved


def rotated(structure: Structure, seed: int = 0) -> Structure:
    """A copy rigidly rotated by a random proper rotation (lattice and sites together)."""
    rotation = Rotation.random(random_state=seed).as_matrix()
    return Structure(
        Lattice(structure.lattice.matrix @ rotation.T),
        structure.species,
        structure.frac_coords,
    )


def site_permuted(structure: Structure, seed: int = 0) -> Structure:
    """A copy with the sites in a random order."""
    order = np.random.default_rng(seed).permutation(len(structure))
    return Structure.from_sites([structure[int(i)] for i in order])


def perturbed(structure: Structure, sigma: float, seed: int = 0) -> Structure:
    """A copy with Gaussian noise of ``sigma`` Å added to every Cartesian coordinate.

    Noise of 1e-4 Å is below what a DFT code, a relaxation or a CIF reader
    would call a different structure: a physical model must barely move.
    """
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=(len(structure), 3))
    return Structure(
        structure.lattice,
        structure.species,
        structure.cart_coords + noise,
        coords_are_cartesian=True,
        validate_proximity=False,
    )


def rounded(structure: Structure, decimals: int) -> Structure:
    """A copy with the fractional coordinates rounded to ``decimals`` (as a CIF might print)."""
    return Structure(
        structure.lattice,
        structure.species,
        np.round(structure.frac_coords, decimals),
        validate_proximity=False,
    )


def cell_choices(structure: Structure, symprec: float = 1e-5) -> dict[str, Structure]:
    """The same crystal in other cells: primitive and conventional standard, and Niggli.

    Parameters
    ----------
    structure : Structure
        An ordered crystal.
    symprec : float, default=1e-5
        Symmetry tolerance of spglib (Å) for the standard cells, which spglib
        also symmetrizes: atoms move by up to about this much, so the cells
        are the same crystal to this tolerance. The lattice angles are held
        to the same distance tolerance (``angle_tolerance=-1``), not to
        pymatgen's default of 5°, which would square a 92° cell. Where
        spglib finds no cell, only the Niggli cell is returned.

    Returns
    -------
    cells : dict of str to Structure
        ``"niggli"`` always; ``"primitive"`` and ``"conventional"`` when found.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    cells = {"niggli": structure.get_reduced_structure("niggli")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib's OLD_ERROR_HANDLING
        try:
            analyzer = SpacegroupAnalyzer(structure, symprec=symprec, angle_tolerance=-1)
            cells["primitive"] = analyzer.get_primitive_standard_structure()
            cells["conventional"] = analyzer.get_conventional_standard_structure()
        except Exception:  # spglib finds no cell: symmetrized cells do not apply
            pass
    return cells


def check_fit_returns_self(estimator: Any, X: Sequence[Structure], y: Any = None) -> None:
    """``fit`` returns the estimator itself."""
    est = clone(estimator)
    assert est.fit(X, y) is est, "fit must return self"


def check_input_not_mutated(estimator: Any, X: Sequence[Structure], y: Any = None) -> None:
    """Neither ``fit`` nor ``predict``/``transform`` changes the input structures or ``y``."""
    before = [s.as_dict() for s in X]
    y_before = None if y is None else np.array(y, copy=True)
    est = clone(estimator).fit(X, y)
    _output(est, X)
    assert [s.as_dict() for s in X] == before, "input structures were modified"
    if y_before is not None:
        assert np.array_equal(np.asarray(y), y_before), "y was modified"


def check_pickle_clone_round_trip(estimator: Any, X: Sequence[Structure], y: Any = None) -> None:
    """A pickled fitted estimator, and a clone refitted, give the same output."""
    est = clone(estimator).fit(X, y)
    expected = _output(est, X)
    _assert_same(expected, _output(pickle.loads(pickle.dumps(est)), X), "pickle round trip")
    _assert_same(expected, _output(clone(estimator).fit(X, y), X), "clone refit")


def check_n_jobs_invariance(estimator: Any, X: Sequence[Structure], y: Any = None) -> None:
    """``n_jobs=1`` and ``n_jobs=2`` give the same output."""
    one = _output(clone(estimator).set_params(n_jobs=1).fit(X, y), X)
    two = _output(clone(estimator).set_params(n_jobs=2).fit(X, y), X)
    _assert_same(one, two, "n_jobs=1 vs n_jobs=2", decimals=6)


def check_invariances(
    estimator: Any,
    X: Sequence[Structure],
    y: Any = None,
    *,
    supercell: Sequence[int] = (2, 1, 2),
) -> None:
    """Output invariant to translation, rotation, site order and supercell."""
    est = clone(estimator).fit(X, y)
    reference = _output(est, X)
    transforms: dict[str, Callable[[Structure], Structure]] = {
        "translation": translated,
        "rotation": rotated,
        "site order": site_permuted,
        "supercell": lambda s: s * supercell,
    }
    for name, transform in transforms.items():
        _assert_same(reference, _output(est, [transform(s) for s in X]), name)


def check_cell_choice_invariance(
    estimator: Any, X: Sequence[Structure], y: Any = None, *, atol: float = 1e-4
) -> None:
    """Output the same (within ``atol``) in the file's, primitive, conventional and Niggli cells.

    The standard cells come from spglib with a tolerance of 1e-5 Å, so the
    structures compared may differ by symmetrization at that level: the bound
    also rests on continuity.
    """
    est = clone(estimator).fit(X, y)
    reference = _signatures(_output(est, X))
    for i, structure in enumerate(X):
        for name, cell in cell_choices(structure).items():
            other = _signatures(_output(est, [cell]))[0]
            assert other.shape == reference[i].shape and np.allclose(
                other, reference[i], atol=atol
            ), f"{name} cell: output of structure {i} differs"


def check_continuity(
    estimator: Any,
    X: Sequence[Structure],
    y: Any = None,
    *,
    sigma: float = 1e-4,
    bound: float = 0.01,
    seed: int = 0,
) -> None:
    """Noise of ``sigma`` Å on every position moves no prediction by more than ``bound``."""
    est = clone(estimator).fit(X, y)
    reference = np.asarray(est.predict(X), dtype=float)
    moved = np.asarray(est.predict([perturbed(s, sigma, seed + i) for i, s in enumerate(X)]))
    worst = float(np.max(np.abs(moved - reference)))
    assert worst <= bound, f"noise of {sigma} Å moved a prediction by {worst:.3g} > {bound}"


def check_structure_estimator(estimator: Any, X: Sequence[Structure], y: Any = None) -> None:
    """Run every check of this module on ``estimator`` with data ``X`` (and ``y``)."""
    check_fit_returns_self(estimator, X, y)
    check_input_not_mutated(estimator, X, y)
    check_pickle_clone_round_trip(estimator, X, y)
    if "n_jobs" in estimator.get_params():
        check_n_jobs_invariance(estimator, X, y)
    check_invariances(estimator, X, y)
    if hasattr(estimator, "predict"):
        # A predictor must be continuous and, through it, exact under cell choice.
        # A transformer's discrete output (neighbour lists, ties ordered by element)
        # is not compared: spglib's standard cells move atoms by ~1e-6 Å, which can
        # reorder a tie or cross a rounding line of the comparison.
        check_cell_choice_invariance(estimator, X, y)
        check_continuity(estimator, X, y)
