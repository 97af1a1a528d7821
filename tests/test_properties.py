"""Property-based tests (hypothesis) on generated periodic structures.

Random lattices (skewed ones included), 1-40 sites, elements 1-94, random
supercells, rotations, translations and site orders. Properties: the neighbour
lists equal a brute-force search; the pipeline's predictions do not depend on
rotation, translation, site order or supercell (default ``atoms``); no input
raises anything but the package's documented errors; a saved and loaded model
predicts the same. Every shipped model, on generated and on real crystals:
noise of σ = 1e-4 Å on every position moves no prediction by more than 0.01 eV
(band gap) or 0.001 eV/atom (formation energy), and supercells, site order,
rotation, translation and the choice of cell (primitive, conventional, Niggli)
move none by more than 1e-4. The CI profile runs 50 examples per property and
200 for the shipped models' bounds; ``benchmarks/property_tests.py`` runs the
``long`` profile (1,000 per property).
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from pymatgen.core import Lattice, Structure
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.exceptions import InvalidStructureError
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import load, save
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.pretrained import list_pretrained, load_pretrained, model_card
from sklearn_bandgap.utils.estimator_checks import (
    cell_choices,
    perturbed,
    rotated,
    site_permuted,
    translated,
)
from tests.test_featurizer_real_data import reference_by_get_all_neighbors

settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same examples on every CI run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("SKLEARN_BANDGAP_HYPOTHESIS_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("SKLEARN_BANDGAP_HYPOTHESIS_PROFILE", "ci"))

#: What the package documents ``transform`` and ``predict`` may raise on bad input.
DOCUMENTED_ERRORS = (InvalidStructureError, TypeError, ValueError)


@st.composite
def crystals(draw, max_sites: int = 40) -> Structure:
    """An ordered periodic crystal: a random (possibly skewed) cell, 1-40 sites, Z in 1-94."""
    n_sites = draw(st.integers(1, max_sites))
    angles = [draw(st.floats(55.0, 125.0)) for _ in range(3)]
    ratios = [draw(st.floats(0.6, 1.6)) for _ in range(3)]
    shape = Lattice.from_parameters(*ratios, *angles)
    assume(shape.volume > 0.25 * np.prod(ratios))  # not a nearly flat cell
    volume_per_atom = draw(st.floats(8.0, 30.0))
    scale = (n_sites * volume_per_atom / shape.volume) ** (1 / 3)
    lattice = Lattice(shape.matrix * scale)
    species = draw(st.lists(st.integers(1, 94), min_size=n_sites, max_size=n_sites))
    coords = draw(
        st.lists(
            st.tuples(*[st.floats(0.0, 1.0, exclude_max=True)] * 3),
            min_size=n_sites,
            max_size=n_sites,
        )
    )
    structure = Structure(lattice, species, coords, validate_proximity=False)
    if n_sites > 1:
        distances = structure.distance_matrix[np.triu_indices(n_sites, 1)]
        assume(distances.min() > 0.5)  # no coinciding sites (those are tested apart)
    return structure


#: Space groups with the lattice of their crystal system (lengths and angle drawn).
SPACE_GROUPS = {
    "Fm-3m": lambda a, b, c, beta: Lattice.cubic(a),
    "Pm-3m": lambda a, b, c, beta: Lattice.cubic(a),
    "Fd-3m": lambda a, b, c, beta: Lattice.cubic(a),
    "Im-3m": lambda a, b, c, beta: Lattice.cubic(a),
    "P6_3/mmc": lambda a, b, c, beta: Lattice.hexagonal(a, c),
    "R-3m": lambda a, b, c, beta: Lattice.hexagonal(a, c),
    "I4/mmm": lambda a, b, c, beta: Lattice.tetragonal(a, c),
    "P4/mmm": lambda a, b, c, beta: Lattice.tetragonal(a, c),
    "Pnma": lambda a, b, c, beta: Lattice.orthorhombic(a, b, c),
    "P2_1/c": lambda a, b, c, beta: Lattice.monoclinic(a, b, c, beta),
}


@st.composite
def symmetric_crystals(draw, max_sites: int = 48) -> Structure:
    """A crystal of a drawn space group: symmetry-equivalent atoms and equidistant shells.

    Random P1 cells have no ties; real crystals are full of them (equidistant
    neighbours of different elements, equivalent atoms), which is where a
    discontinuous design shows. Sites on special positions (0, 1/4, 1/2, ...)
    are drawn as often as general ones.
    """
    symbol = draw(st.sampled_from(sorted(SPACE_GROUPS)))
    lengths = [draw(st.floats(3.0, 9.0)) for _ in range(3)]
    lattice = SPACE_GROUPS[symbol](*lengths, draw(st.floats(95.0, 115.0)))
    n_species = draw(st.integers(1, 3))
    special = st.sampled_from([0.0, 0.25, 0.5, 1 / 3])
    coordinate = st.one_of(special, st.floats(0.0, 1.0, exclude_max=True))
    species = draw(st.lists(st.integers(1, 83), min_size=n_species, max_size=n_species))
    coords = [[draw(coordinate) for _ in range(3)] for _ in range(n_species)]
    try:
        structure = Structure.from_spacegroup(symbol, lattice, species, coords, tol=1e-3)
    except ValueError:
        assume(False)
    assume(len(structure) <= max_sites)
    if len(structure) > 1:
        distances = structure.distance_matrix[np.triu_indices(len(structure), 1)]
        assume(distances.min() > 0.7)
    return structure


@functools.cache
def fitted_model():
    """A small pipeline fitted on the MP sample, and the same pipeline saved and loaded."""
    data = load_mp_gap_eform(subset="sample200", progress=False)
    model = make_pipeline(
        NeighborListFeaturizer(),
        NeighborLSTMRegressor(
            max_epochs=2, atom_hidden=8, crystal_hidden=16, head_hidden=8, random_state=0
        ),
    ).fit(data.data, data.target)
    path = Path(tempfile.mkdtemp()) / "model.safetensors"
    save(model, path)
    return model, load(path)


def _predict(model, structures):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # generated elements are often unseen in fit
        return model.predict(structures)


@given(crystals())
def test_cell_choices_are_the_same_crystal(structure):
    """Other cells hold the same atoms at the same distances (to spglib's 1e-5 Å).

    A 92° cell must not come back squared: pymatgen's default angle
    tolerance of 5° would make the "conventional cell" another crystal.
    """
    reference = NeighborListFeaturizer().transform([structure])
    for name, cell in cell_choices(structure).items():
        lists = NeighborListFeaturizer().transform([cell])
        per_atom = len(cell) // len(structure)
        assert len(cell) == per_atom * len(structure), name
        rows = np.repeat(np.sort(reference.distances, axis=1), per_atom, axis=0)
        expected = np.sort(rows, axis=0)
        got = np.sort(np.sort(lists.distances, axis=1), axis=0)
        np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=name)


def test_a_skewed_one_atom_cell_keeps_its_angles():
    lattice = Lattice.from_parameters(1.913, 1.920, 3.694, 92.12, 92.11, 90.89)
    structure = Structure(lattice, ["Ra"], [[0.16, 0.59, 0.62]])
    for name, cell in cell_choices(structure).items():
        assert sorted(cell.lattice.angles) == pytest.approx(sorted(lattice.angles), abs=1e-3), name


@given(crystals())
def test_neighbor_lists_equal_a_brute_force_search(structure):
    lists = NeighborListFeaturizer().transform([structure])
    numbers, distances = reference_by_get_all_neighbors(structure)
    np.testing.assert_allclose(lists.distances, distances, atol=1e-4)
    np.testing.assert_array_equal(lists.atomic_numbers, numbers)


@given(
    crystals(max_sites=12),
    st.integers(0, 2**16),
    st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    st.tuples(*[st.floats(-5.0, 5.0)] * 3),
)
def test_predictions_do_not_depend_on_rotation_translation_order_or_supercell(
    structure, seed, repeats, shift
):
    model, _ = fitted_model()
    variants = [
        structure,
        rotated(structure, seed=seed),
        translated(structure, shift),
        site_permuted(structure, seed=seed),
        structure * repeats,
    ]
    y_pred = _predict(model, variants)
    np.testing.assert_allclose(y_pred, y_pred[0], rtol=1e-4, atol=1e-4)


@st.composite
def any_input(draw):
    """A valid crystal, a damaged one, or something that is not a structure at all."""
    kind = draw(
        st.sampled_from(
            ["crystal", "nan", "coinciding", "disordered", "huge", "tiny", "text", "number"]
        )
    )
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "number":
        return draw(st.one_of(st.integers(), st.floats(), st.none()))
    structure = draw(crystals(max_sites=8))
    if kind == "nan":
        coords = structure.frac_coords.copy()
        coords[0, draw(st.integers(0, 2))] = np.nan
        return Structure(structure.lattice, structure.species, coords, validate_proximity=False)
    if kind == "coinciding":
        return Structure(
            structure.lattice,
            [*structure.species, structure.species[0]],
            [*structure.frac_coords, structure.frac_coords[0]],
            validate_proximity=False,
        )
    if kind == "disordered":
        disordered = structure.copy()
        disordered.replace(0, {"Fe": 0.5, "Co": 0.5})
        return disordered
    if kind in ("huge", "tiny"):
        factor = 40.0 if kind == "huge" else 0.01
        return Structure(
            Lattice(structure.lattice.matrix * factor),
            structure.species,
            structure.frac_coords,
            validate_proximity=False,
        )
    return structure


@given(st.lists(any_input(), min_size=0, max_size=4))
def test_no_input_raises_anything_but_the_documented_errors(items):
    model, _ = fitted_model()
    try:
        y_pred = _predict(model, items)
    except DOCUMENTED_ERRORS as error:
        assert str(error)  # every error says what is wrong
    else:
        assert y_pred.shape == (len(items),) and np.isfinite(y_pred).all()


@given(st.lists(crystals(max_sites=20), min_size=1, max_size=3))
def test_a_saved_and_loaded_model_predicts_the_same(structures):
    model, loaded = fitted_model()
    np.testing.assert_array_equal(_predict(loaded, structures), _predict(model, structures))


# ------------------------------------------------- the shipped models' bounds
#: Largest move allowed under noise of 1e-4 Å, per shipped model (its unit).
NOISE_BOUNDS = {
    "band_gap_mp2018": 0.01,
    "band_gap_mp2018_chgnet": 0.01,
    "formation_energy_mp2018": 0.001,
}
#: Largest move allowed under supercells, site order, rotation, translation, cell choice.
EXACT_BOUND = 1e-4
#: The shipped models' bounds run at least 200 examples (the long profile: more).
SHIPPED_EXAMPLES = max(200, settings.default.max_examples)
#: A failing example of a shipped model is reported as found (its formula is in
#: the message); shrinking it through a large model would take minutes.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


@functools.cache
def shipped_model(name):
    return load_pretrained(name)


@functools.cache
def real_crystals():
    return load_mp_gap_eform(subset="sample200", progress=False).data


def _shipped_params(strict: bool):
    """Every shipped model; one shipped before the continuous design is an expected failure.

    Under noise the seed design must fail (``strict``: passing would mean the
    test cannot tell). Under frame and cell changes it is exact on most
    crystals and moves on some (rows merged on a 1e-3 Å grid), so there it may
    pass or fail.
    """
    params = []
    for name in list_pretrained():
        if model_card(name).get("architecture", {}).get("version", 1) >= 2:
            params.append(name)
        else:
            reason = f"{name} was shipped before the continuous design and is not re-shipped yet"
            mark = pytest.mark.xfail(strict=strict, reason=reason)
            params.append(pytest.param(name, marks=mark))
    return params


SHIPPED = _shipped_params(strict=True)
SHIPPED_EXACT = _shipped_params(strict=False)


def test_every_shipped_model_has_its_bounds():
    assert set(list_pretrained()) == set(NOISE_BOUNDS)


def _assert_noise_bound(name, structure, seed):
    noisy = perturbed(structure, 1e-4, seed=seed)
    before, after = _predict(shipped_model(name), [structure, noisy])
    assert abs(after - before) <= NOISE_BOUNDS[name], (name, structure.formula, before, after)


def _assert_exact(name, structure, variants):
    y_pred = _predict(shipped_model(name), [structure, *variants.values()])
    moved = np.abs(y_pred[1:] - y_pred[0])
    assert moved.max() <= EXACT_BOUND, (
        name,
        structure.formula,
        dict(zip(variants, moved, strict=True)),
    )


@pytest.mark.parametrize("name", SHIPPED)
@settings(max_examples=SHIPPED_EXAMPLES, phases=NO_SHRINK)
@given(
    structure=st.one_of(crystals(max_sites=12), symmetric_crystals()),
    seed=st.integers(0, 2**16),
)
def test_shipped_models_barely_move_under_noise_on_generated_crystals(name, structure, seed):
    _assert_noise_bound(name, structure, seed)


@pytest.mark.parametrize("name", SHIPPED)
@settings(max_examples=SHIPPED_EXAMPLES, phases=NO_SHRINK)
@given(index=st.integers(0, 199), seed=st.integers(0, 2**16))
def test_shipped_models_barely_move_under_noise_on_real_crystals(name, index, seed):
    _assert_noise_bound(name, real_crystals()[index], seed)


def _exact_variants(structure, seed, repeats, shift):
    return {
        "rotation": rotated(structure, seed=seed),
        "translation": translated(structure, shift),
        "site order": site_permuted(structure, seed=seed),
        "supercell": structure * repeats,
        **cell_choices(structure),
    }


@pytest.mark.parametrize("name", SHIPPED_EXACT)
@settings(max_examples=SHIPPED_EXAMPLES, phases=NO_SHRINK)
@given(
    structure=st.one_of(crystals(max_sites=10), symmetric_crystals(max_sites=24)),
    seed=st.integers(0, 2**16),
    repeats=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    shift=st.tuples(*[st.floats(-5.0, 5.0)] * 3),
)
def test_shipped_models_are_exact_under_cell_and_frame_on_generated_crystals(
    name, structure, seed, repeats, shift
):
    _assert_exact(name, structure, _exact_variants(structure, seed, repeats, shift))


@pytest.mark.parametrize("name", SHIPPED_EXACT)
@settings(max_examples=SHIPPED_EXAMPLES, phases=NO_SHRINK)
@given(
    index=st.integers(0, 199),
    seed=st.integers(0, 2**16),
    repeats=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
)
def test_shipped_models_are_exact_under_cell_and_frame_on_real_crystals(name, index, seed, repeats):
    structure = real_crystals()[index]
    _assert_exact(name, structure, _exact_variants(structure, seed, repeats, (0.7, -1.3, 2.1)))


def test_the_ci_profile_is_in_use_unless_asked_otherwise():
    if "SKLEARN_BANDGAP_HYPOTHESIS_PROFILE" in os.environ:
        pytest.skip("another profile was asked for")
    assert settings().max_examples == 50
