"""Reading CIF and POSCAR: the fast CIF path equals pymatgen's, POSCAR under any name."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar

from sklearn_bandgap.datasets import find_data_file
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.utils._cif import _gemmi_p1, read_cif
from sklearn_bandgap.utils._structure_files import read_structure_file, structure_from_text
from sklearn_bandgap.utils._validation import PeriodicArrays, cif_arrays, read_periodic_arrays


def _sites(structure):
    """Species and fractional coordinates, sorted: the structure up to site order."""
    rows = np.column_stack([structure.atomic_numbers, structure.frac_coords])
    return rows[np.lexsort(rows.T[::-1])]


def _pymatgen(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_str(text, fmt="cif")


@pytest.fixture(scope="module")
def sample_cifs():
    path = find_data_file("mp_gap_eform/mp_gap_eform_sample200.csv.gz")
    return pd.read_csv(path)["cif"].tolist()


def test_fast_path_equals_pymatgen_on_the_sample(sample_cifs):
    for text in sample_cifs:
        fast = _gemmi_p1(text)
        assert fast is not None  # the MP CIFs are plain P1
        reference = _pymatgen(text)
        np.testing.assert_array_equal(fast.lattice.matrix, reference.lattice.matrix)
        np.testing.assert_array_equal(_sites(fast), _sites(reference))


def test_coordinates_near_thirds_are_rounded_as_pymatgen_does():
    text = str(
        CifWriter(
            Structure(
                Lattice.hexagonal(3.2, 5.2), ["Zn", "O"], [[0, 0, 0], [0.33333, 0.66667, 0.5]]
            )
        )
    )
    fast, reference = _gemmi_p1(text), _pymatgen(text)
    np.testing.assert_array_equal(_sites(fast), _sites(reference))
    assert fast.frac_coords[1, 0] == 1 / 3


def test_symmetric_and_disordered_cifs_go_to_pymatgen(sample_cifs):
    structure = _pymatgen(sample_cifs[5])
    symmetric = str(CifWriter(structure, symprec=0.01))
    assert "_symmetry_equiv_pos_as_xyz" in symmetric and _gemmi_p1(symmetric) is None
    reference = _pymatgen(symmetric)
    np.testing.assert_array_equal(_sites(read_cif(symmetric)), _sites(reference))
    disordered = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]])
    assert _gemmi_p1(str(CifWriter(disordered))) is None
    assert not read_cif(str(CifWriter(disordered))).is_ordered
    with pytest.raises(ValueError):
        read_cif("data_nothing\n_cell_length_a 3\n")


def test_neighbor_lists_do_not_depend_on_the_reader(sample_cifs):
    fast = [read_cif(text) for text in sample_cifs[:50]]
    reference = [_pymatgen(text) for text in sample_cifs[:50]]
    a = NeighborListFeaturizer().transform(fast)
    b = NeighborListFeaturizer().transform(reference)
    for i in range(50):
        order_a = np.lexsort(np.column_stack([a[i].atomic_numbers, a[i].distances]).T[::-1])
        order_b = np.lexsort(np.column_stack([b[i].atomic_numbers, b[i].distances]).T[::-1])
        np.testing.assert_array_equal(a[i].distances[order_a], b[i].distances[order_b])


def test_cif_arrays_are_those_of_the_read_structure(sample_cifs):
    for text in sample_cifs:
        fast = cif_arrays(text)
        assert fast is not None and fast.structure is None
        reference = read_periodic_arrays(read_cif(text), 0)
        assert isinstance(reference, PeriodicArrays)
        for name in ("lattice", "cart_coords", "atomic_numbers"):
            np.testing.assert_array_equal(getattr(fast, name), getattr(reference, name))
        assert fast.formula == reference.formula
        assert read_periodic_arrays(fast, 0) is fast  # checked once, read as is


def test_featurizer_reads_cif_arrays_as_it_reads_structures(sample_cifs):
    arrays = [cif_arrays(text) for text in sample_cifs[:40]]
    structures = [read_cif(text) for text in sample_cifs[:40]]
    a = NeighborListFeaturizer().transform(arrays)
    b = NeighborListFeaturizer().transform(structures)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.atomic_numbers, y.atomic_numbers)
        np.testing.assert_array_equal(x.distances, y.distances)


def test_cif_arrays_leave_other_cifs_to_the_structure_path(sample_cifs):
    symmetric = str(CifWriter(_pymatgen(sample_cifs[5]), symprec=0.01))
    assert cif_arrays(symmetric) is None
    disordered = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]])
    assert cif_arrays(str(CifWriter(disordered))) is None
    flat = sample_cifs[0].replace("_cell_length_c", "_cell_length_c 0.0 #", 1)
    assert cif_arrays(flat) is None  # a bad cell: the structure path names the problem
    assert cif_arrays("not a cif") is None


@pytest.mark.parametrize("name", ["POSCAR", "CONTCAR", "ZnO.vasp", "my_crystal", "weird.dat"])
def test_poscar_is_read_under_any_file_name(tmp_path, name, nacl):
    path = tmp_path / name
    Poscar(nacl).write_file(str(path))
    structure = read_structure_file(path)
    assert structure.composition.reduced_formula == "NaCl" and len(structure) == 8
    np.testing.assert_allclose(structure.lattice.abc, nacl.lattice.abc)


def test_cif_under_another_name_and_text_of_both_kinds(tmp_path, nacl):
    path = tmp_path / "rocksalt.txt"
    path.write_text(str(CifWriter(nacl)))
    assert read_structure_file(path).composition.reduced_formula == "NaCl"
    assert structure_from_text(str(Poscar(nacl))).composition.reduced_formula == "NaCl"
    with pytest.raises(ValueError, match=r"neither CIF .* nor POSCAR"):
        structure_from_text("hello\nworld\n")


def test_featurizer_takes_poscar_text_and_files(tmp_path, nacl):
    path = tmp_path / "CONTCAR_relaxed"
    Poscar(nacl).write_file(str(path))
    lists = NeighborListFeaturizer().transform([str(Poscar(nacl)), str(path), nacl])
    np.testing.assert_array_equal(lists[0].distances, lists[2].distances)
    np.testing.assert_array_equal(lists[1].distances, lists[2].distances)


def test_read_and_loaded_structures_hash_the_same_after_printing(sample_cifs, nacl, mp_sample):
    """joblib.Memory hashes a call's arguments before it and prints them after it."""
    import joblib

    structures = [
        read_cif(sample_cifs[0]),
        structure_from_text(str(Poscar(nacl))),
        mp_sample.data[0],
    ]
    for structure in structures:
        before = joblib.hash(structure)
        repr(structure)
        assert joblib.hash(structure) == before
