"""Analytic neighbour shells of textbook crystals, and the tie rule."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import A_CSCL, A_CU, A_NACL, A_PO, A_SI
from pymatgen.core import Lattice, Structure

from sklearn_bandgap.featurizers import NeighborListFeaturizer

SQ2, SQ3 = np.sqrt(2), np.sqrt(3)


def shells(structure, n_neighbors=19):
    numbers, distances = NeighborListFeaturizer(n_neighbors).featurize(structure)
    assert numbers.shape == distances.shape == (len(structure), n_neighbors + 1)
    assert (numbers[:, 0] == [site.specie.Z for site in structure]).all()
    assert (distances[:, 0] == 0).all()
    assert (np.diff(distances, axis=1) >= -1e-5).all(), "not sorted by distance"
    return numbers, distances


def assert_shell(numbers, distances, row, cols, z, d):
    assert (numbers[row, cols] == z).all(), numbers[row]
    np.testing.assert_allclose(distances[row, cols], d, atol=1e-6)


def test_rock_salt(nacl):
    numbers, distances = shells(nacl)
    for row, site in enumerate(nacl):
        own, other = (11, 17) if site.specie.symbol == "Na" else (17, 11)
        assert_shell(numbers, distances, row, slice(1, 7), other, A_NACL / 2)
        assert_shell(numbers, distances, row, slice(7, 19), own, A_NACL / SQ2)
        assert_shell(numbers, distances, row, 19, other, SQ3 * A_NACL / 2)


def test_cesium_chloride(cscl):
    numbers, distances = shells(cscl)
    for row, (own, other) in enumerate([(55, 17), (17, 55)]):
        assert_shell(numbers, distances, row, slice(1, 9), other, SQ3 * A_CSCL / 2)
        assert_shell(numbers, distances, row, slice(9, 15), own, A_CSCL)
        assert_shell(numbers, distances, row, slice(15, 20), own, SQ2 * A_CSCL)


def test_diamond_silicon(silicon):
    numbers, distances = shells(silicon)
    assert (numbers == 14).all()
    for row in range(len(silicon)):
        assert_shell(numbers, distances, row, slice(1, 5), 14, SQ3 * A_SI / 4)
        assert_shell(numbers, distances, row, slice(5, 17), 14, A_SI / SQ2)
        assert_shell(numbers, distances, row, slice(17, 20), 14, np.sqrt(11) * A_SI / 4)


def test_fcc_copper_one_atom_cell(copper_primitive):
    numbers, distances = shells(copper_primitive)
    assert_shell(numbers, distances, 0, slice(1, 13), 29, A_CU / SQ2)
    assert_shell(numbers, distances, 0, slice(13, 19), 29, A_CU)
    assert_shell(numbers, distances, 0, 19, 29, A_CU * np.sqrt(1.5))


def test_one_atom_cell_neighbours_are_its_own_images(polonium):
    numbers, distances = shells(polonium)
    assert (numbers == 84).all()
    assert_shell(numbers, distances, 0, slice(1, 7), 84, A_PO)
    assert_shell(numbers, distances, 0, slice(7, 19), 84, SQ2 * A_PO)
    assert_shell(numbers, distances, 0, 19, 84, SQ3 * A_PO)


def test_conventional_and_primitive_cells_agree(copper_primitive):
    conventional = Structure.from_spacegroup("Fm-3m", Lattice.cubic(A_CU), ["Cu"], [[0, 0, 0]])
    prim_numbers, prim_distances = shells(copper_primitive)
    conv_numbers, conv_distances = shells(conventional)
    assert len(conventional) == 4
    for row in range(4):
        np.testing.assert_array_equal(conv_numbers[row], prim_numbers[0])
        np.testing.assert_allclose(conv_distances[row], prim_distances[0], atol=1e-9)


def test_ties_put_the_lighter_element_first():
    # Li at the origin sees 4 O (in-plane diagonals) and 2 Li (its images along c)
    # at exactly 2*sqrt(2) Å: one six-fold tie holding two elements.
    lattice = Lattice.tetragonal(4.0, 2 * SQ2)
    structure = Structure(lattice, ["O", "Li"], [[0.5, 0.5, 0], [0, 0, 0]])
    numbers, distances = NeighborListFeaturizer(n_neighbors=3).featurize(structure)
    li_row = 1
    assert numbers[li_row].tolist() == [3, 3, 3, 8]  # the last place goes to the lighter Li
    np.testing.assert_allclose(distances[li_row, 1:], 2 * SQ2)
    numbers, _ = NeighborListFeaturizer(n_neighbors=6).featurize(structure)
    assert numbers[li_row].tolist() == [3, 3, 3, 8, 8, 8, 8]


@pytest.mark.parametrize("cutoff", [0.5, 2.0, 30.0])
def test_cutoff_changes_nothing_but_speed(nacl, cutoff):
    auto = NeighborListFeaturizer().featurize(nacl)
    fixed = NeighborListFeaturizer(cutoff=cutoff).featurize(nacl)
    np.testing.assert_array_equal(auto[0], fixed[0])
    np.testing.assert_allclose(auto[1], fixed[1], atol=1e-12)


def test_sparse_structure_grows_the_radius():
    # Two atoms in a 40 Å box: every neighbour is more than 20 Å away.
    structure = Structure(Lattice.cubic(40.0), ["H", "He"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    numbers, distances = NeighborListFeaturizer(cutoff=1.0).featurize(structure)
    np.testing.assert_allclose(distances[0, 1:9], 20 * SQ3)
    assert (numbers[0, 1:9] == 2).all()
