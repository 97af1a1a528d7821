"""The ragged NeighborLists container."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils import _safe_indexing

from sklearn_bandgap.featurizers import NeighborList, NeighborLists


@pytest.fixture
def lists():
    # Three structures with 2, 1 and 3 atoms; row r holds the value r everywhere.
    rows = np.arange(6)[:, None] * np.ones((1, 4))
    return NeighborLists(rows, rows / 10, np.array([2, 1, 3]))


def test_basic_fields(lists):
    assert len(lists) == 3 and lists.shape == (3,)
    assert lists.n_neighbors == 3 and lists.n_total_atoms == 6
    assert lists.atomic_numbers.dtype == np.uint8 and lists.distances.dtype == np.float32
    assert lists.offsets.tolist() == [0, 2, 3, 6]
    assert lists.nbytes < 200


def test_integer_index_gives_one_structure_view(lists):
    item = lists[2]
    assert isinstance(item, NeighborList)
    assert item.atomic_numbers[:, 0].tolist() == [3, 4, 5]
    assert np.shares_memory(item.atomic_numbers, lists.atomic_numbers)
    assert lists[-1].atomic_numbers[:, 0].tolist() == [3, 4, 5]
    with pytest.raises(IndexError):
        lists[3]


@pytest.mark.parametrize(
    "key", [[2, 0, 2], np.array([2, 0, 2]), slice(None, None, -1), np.array([True, False, True])]
)
def test_fancy_indexing(lists, key):
    expected_structures = np.arange(3)[key]
    subset = lists[key]
    assert isinstance(subset, NeighborLists)
    assert subset.n_atoms.tolist() == lists.n_atoms[expected_structures].tolist()
    expected_rows = np.concatenate(
        [lists[int(i)].atomic_numbers[:, 0] for i in expected_structures]
    )
    assert subset.atomic_numbers[:, 0].tolist() == expected_rows.tolist()


def test_sklearn_safe_indexing(lists):
    subset = _safe_indexing(lists, np.array([1, 2]))
    assert isinstance(subset, NeighborLists) and subset.n_atoms.tolist() == [1, 3]


def test_round_trip_through_from_lists(lists):
    rebuilt = NeighborLists.from_lists(list(lists), n_neighbors=3)
    np.testing.assert_array_equal(rebuilt.atomic_numbers, lists.atomic_numbers)
    assert len(NeighborLists.from_lists([], n_neighbors=3)) == 0


def test_inconsistent_arrays_rejected():
    with pytest.raises(ValueError, match="sum to"):
        NeighborLists(np.zeros((3, 2)), np.zeros((3, 2)), [1, 1])
    with pytest.raises(ValueError, match="one shape"):
        NeighborLists(np.zeros((3, 2)), np.zeros((3, 3)), [3])
    with pytest.raises(IndexError):
        NeighborLists(np.zeros((3, 2)), np.zeros((3, 2)), [3])[np.array([0.5])]
