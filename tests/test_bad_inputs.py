"""Bad input: a clear error naming every offending item, never a NaN row."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import DummySpecies, Lattice, Molecule, Structure

from sklearn_bandgap.exceptions import InvalidStructureError
from sklearn_bandgap.featurizers import NeighborListFeaturizer


@pytest.fixture
def disordered():
    return Structure(Lattice.cubic(3.0), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]])


@pytest.fixture
def dummy_element():
    return Structure(Lattice.cubic(3.0), [DummySpecies("X")], [[0, 0, 0]])


@pytest.fixture
def nan_coords():
    return Structure(Lattice.cubic(3.0), ["Na"], [[np.nan, 0, 0]])


@pytest.fixture
def coincident():
    return Structure(
        Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0, 0, 1e-4]], validate_proximity=False
    )


def transform_error(items) -> InvalidStructureError:
    with pytest.raises(InvalidStructureError) as info:
        NeighborListFeaturizer().transform(items)
    return info.value


@pytest.mark.parametrize(
    ("fixture", "match"),
    [
        ("disordered", "disordered"),
        ("dummy_element", "outside the supported elements"),
        ("nan_coords", "non-finite"),
        ("coincident", "coincide"),
    ],
)
def test_bad_structure_named_by_index_and_formula(request, nacl, fixture, match):
    bad = request.getfixturevalue(fixture)
    error = transform_error([nacl, nacl, bad])
    assert error.indices == [2]
    assert f"structure 2 ({bad.composition.reduced_formula})" in str(error)
    assert match in str(error)


def test_every_offending_item_listed_at_once(nacl, disordered, dummy_element):
    error = transform_error([disordered, nacl, dummy_element, 42, nacl])
    assert error.indices == [0, 2, 3]
    assert "structure 3: is a builtins.int" in str(error)


def test_molecule_gets_a_hint():
    molecule = Molecule(["O", "H", "H"], [[0, 0, 0], [0.76, 0.59, 0], [-0.76, 0.59, 0]])
    error = transform_error([molecule])
    assert "get_boxed_structure" in str(error)


def test_unreadable_string():
    error = transform_error(["no-such-file.cif"])
    assert "neither CIF or POSCAR text nor an existing file" in str(error)


def test_single_featurize_error_has_formula_but_no_index(disordered):
    with pytest.raises(InvalidStructureError) as info:
        NeighborListFeaturizer().featurize(disordered)
    assert info.value.indices == []
    assert str(info.value).splitlines()[1].strip().startswith("structure (Fe0.5Co0.5): is disord")


def test_empty_and_non_sequence_inputs(nacl):
    with pytest.raises(ValueError, match="empty"):
        NeighborListFeaturizer().transform([])
    with pytest.raises(TypeError, match=r"got one Structure: use \[it\]"):
        NeighborListFeaturizer().transform(nacl)


def test_error_survives_pickling_between_processes(nacl, disordered):
    # With n_jobs=2 the problems are found in worker processes.
    with pytest.raises(InvalidStructureError) as info:
        NeighborListFeaturizer(n_jobs=2).transform([nacl] * 600 + [disordered])
    error = info.value
    assert error.indices == [600]


@pytest.mark.parametrize("species", [["Na", "Na", "Cl"], ["Na", "Cl", "Cl"], ["Cl", "Na", "Cl"]])
def test_coinciding_sites_are_named_by_their_own_indices(species):
    """Two sites at exactly one point: the message names both (it said 'sites 0 and 0')."""
    structure = Structure(
        Lattice.cubic(4.0),
        species,
        [[0, 0, 0], [0, 0, 0], [0.5, 0.5, 0.5]],
        validate_proximity=False,
    )
    assert "sites 0 and 1 coincide" in str(transform_error([structure]))
