"""Messages between neighbouring atoms: neighbour sites, their merging, the layer, the estimator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.featurizers import NeighborListFeaturizer, NeighborLists
from sklearn_bandgap.featurizers._search import nearest_neighbors, nearest_neighbors_batch
from sklearn_bandgap.io import load, save
from sklearn_bandgap.models import (
    NeighborLSTM,
    NeighborLSTMRegressor,
    canonical_rows,
    collate_neighbor_lists,
    distinct_environments,
)
from sklearn_bandgap.models._base import ModelInput
from sklearn_bandgap.models._collate import NoisyDistanceCollate
from sklearn_bandgap.utils.estimator_checks import check_structure_estimator

FAST = dict(
    max_epochs=2, random_state=0, embedding_dim=8, atom_hidden=8, crystal_hidden=8, head_hidden=8
)
#: Enough training that the predictions spread (a constant model is trivially continuous).
TRAINED = dict(FAST, max_epochs=15, lr=1e-2, batch_size=16, loss="mse", validation_fraction=0.0)


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data)


@pytest.fixture(scope="module")
def gap(mp_sample):
    return mp_sample.target[:, 0]


def _arrays(structure):
    return (
        structure.lattice.matrix,
        np.ascontiguousarray(structure.cart_coords),
        np.array(structure.atomic_numbers),
    )


def _neighbor_centres(lists: NeighborLists) -> np.ndarray:
    """The centre atomic number of the row each neighbour points at."""
    start = np.repeat(lists.offsets[:-1], lists.n_atoms)[:, None]
    return lists.atomic_numbers[lists.neighbor_sites + start, 0]


# ------------------------------------------------------------------ the search
def test_each_neighbour_is_an_image_of_its_site_at_its_distance(mp_sample):
    for structure in mp_sample.data[:12]:
        numbers, distances, sites = nearest_neighbors(*_arrays(structure), 19, return_sites=True)
        np.testing.assert_array_equal(sites[:, 0], np.arange(len(structure)))
        np.testing.assert_array_equal(numbers, np.array(structure.atomic_numbers)[sites])
        for i in range(len(structure)):
            around = structure.get_sites_in_sphere(structure[i].coords, distances[i, -1] + 1e-3)
            images = {(n.index, round(n.nn_distance, 4)) for n in around}
            for j in range(1, 20):
                assert (int(sites[i, j]), round(float(distances[i, j]), 4)) in images


def test_the_batch_search_gives_the_sites_of_the_single_search(mp_sample):
    systems = [_arrays(s) for s in mp_sample.data[:30]]
    batch = nearest_neighbors_batch(systems, 19, return_sites=True)
    for system, found in zip(systems, batch, strict=True):
        single = nearest_neighbors(*system, 19, return_sites=True)
        np.testing.assert_array_equal(found[0], single[0])
        # within a tie of one element the order is arbitrary, and so is which
        # tied site the last place keeps: compare the rest as multisets
        for a, b, d in zip(found[2], single[2], single[1], strict=True):
            inner = d < d[-1] - 1e-4
            assert sorted(a[inner]) == sorted(b[inner])
    assert all(len(r) == 2 for r in nearest_neighbors_batch(systems[:3], 19))


# --------------------------------------------------------------- NeighborLists
def test_lists_carry_sites_through_indexing_and_stacking(lists):
    assert lists.neighbor_sites is not None and lists.neighbor_sites.dtype == np.int32
    picked = lists[[7, 2, 7]]
    np.testing.assert_array_equal(picked[0].neighbor_sites, lists[7].neighbor_sites)
    np.testing.assert_array_equal(picked[1].neighbor_sites, lists[2].neighbor_sites)
    stacked = NeighborLists.from_lists(list(lists[:5]), lists.n_neighbors)
    np.testing.assert_array_equal(stacked.neighbor_sites, lists[:5].neighbor_sites)
    np.testing.assert_array_equal(_neighbor_centres(lists), lists.atomic_numbers)
    without = NeighborLists(lists.atomic_numbers, lists.distances, lists.n_atoms)
    assert without.neighbor_sites is None and without.nbytes < lists.nbytes


def test_attaching_atom_features_keeps_the_sites(lists):
    features = np.ones((lists.n_total_atoms, 3), dtype=np.float32)
    featured = lists.with_atom_features(features)
    np.testing.assert_array_equal(featured.neighbor_sites, lists.neighbor_sites)
    np.testing.assert_array_equal(featured.atom_features, features)
    plain = featured.with_atom_features(None)
    assert plain.atom_features is None
    np.testing.assert_array_equal(plain.neighbor_sites, lists.neighbor_sites)


def test_sites_outside_their_structure_are_refused_by_structure_and_row(lists):
    sites = lists.neighbor_sites.copy()
    row = int(lists.offsets[4]) + 1
    sites[row, 3] = lists.n_atoms[4]  # one past the structure's last row
    with pytest.raises(ValueError, match=r"structure 4 point outside its \d+ rows \(row 1"):
        NeighborLists(lists.atomic_numbers, lists.distances, lists.n_atoms, neighbor_sites=sites)
    with pytest.raises(ValueError, match="shape"):
        NeighborLists(
            lists.atomic_numbers, lists.distances, lists.n_atoms, neighbor_sites=sites[:, :3]
        )


# ------------------------------------------------------------- merging rows
@pytest.mark.parametrize("depth", [0, 1, 2])
def test_merged_rows_point_at_merged_rows_of_the_right_element(lists, depth):
    distinct, shares = distinct_environments(lists, exact=True, depth=depth)
    np.testing.assert_array_equal(_neighbor_centres(distinct), distinct.atomic_numbers)
    np.testing.assert_allclose(np.add.reduceat(shares, distinct.offsets[:-1]), 1.0, rtol=1e-6)
    plain, _ = distinct_environments(lists, exact=True)
    assert plain.n_total_atoms <= distinct.n_total_atoms < lists.n_total_atoms
    canonical = canonical_rows(lists)
    np.testing.assert_array_equal(_neighbor_centres(canonical), canonical.atomic_numbers)


def test_rows_merged_to_a_depth_have_neighbours_merged_alike():
    # Four atoms on a ring, A-B-A-C: both A atoms see one B and one C (identical
    # lists); at depth 1 they stay merged only while their neighbours are alike.
    numbers = np.array([[11, 12, 13], [12, 11, 11], [11, 12, 13], [13, 11, 11]])
    distances = np.array([[0, 2.0, 2.0], [0, 2.0, 2.0], [0, 2.0, 2.0], [0, 2.0, 2.0]])
    sites = np.array([[0, 1, 3], [1, 0, 2], [2, 1, 3], [3, 2, 0]])
    ring = NeighborLists(numbers, distances, [4], neighbor_sites=sites)
    merged, shares = distinct_environments(ring, exact=True, depth=1)
    assert merged.n_total_atoms == 3  # the two A atoms: same list, same neighbours
    np.testing.assert_allclose(np.sort(shares), [0.25, 0.25, 0.5])
    # rewire atom 2's B neighbour to a fifth atom, a B with another environment
    numbers5 = np.vstack([numbers, [12, 11, 13]])
    sites5 = np.vstack([[[0, 1, 3], [1, 0, 2], [2, 4, 3], [3, 2, 0]], [[4, 2, 3]]])
    distances5 = np.vstack([distances, [0, 2.0, 2.0]])
    lopsided = NeighborLists(numbers5, distances5, [5], neighbor_sites=sites5)
    assert distinct_environments(lopsided, exact=True)[0].n_total_atoms == 4  # A atoms merged
    assert distinct_environments(lopsided, exact=True, depth=1)[0].n_total_atoms == 5
    with pytest.raises(ValueError, match="neighbor_sites"):
        distinct_environments(NeighborLists(numbers, distances, [4]), exact=True, depth=1)


# ------------------------------------------------------------------ the layer
def _module_inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    numbers = torch.randint(1, 60, (1, 3, 20), generator=generator)
    numbers[..., 0] = torch.tensor([8, 26, 14])
    distances = torch.sort(torch.rand(1, 3, 20, generator=generator) * 5 + 1, dim=-1).values
    distances[..., 0] = 0.0
    sites = torch.randint(0, 3, (1, 3, 20), generator=generator)
    sites[..., 0] = torch.arange(3)
    shares = torch.tensor([[0.5, 0.25, 0.25]])
    return dict(
        atomic_numbers=numbers,
        distances=distances,
        n_atoms=torch.tensor([3]),
        shares=shares,
        neighbor_sites=sites,
    )


def test_messages_read_the_neighbours_rows_but_not_the_last_listed_one():
    torch.manual_seed(0)
    module = NeighborLSTM(with_shares=True, message_layers=2).eval()
    inputs = _module_inputs()
    with torch.no_grad():
        base = module(**inputs)
        last = {**inputs, "neighbor_sites": inputs["neighbor_sites"].clone()}
        last["neighbor_sites"][0, :, -1] = (last["neighbor_sites"][0, :, -1] + 1) % 3
        torch.testing.assert_close(module(**last), base)  # the edge neighbour weighs 0
        inner = {**inputs, "neighbor_sites": inputs["neighbor_sites"].clone()}
        inner["neighbor_sites"][0, 0, 1] = (inner["neighbor_sites"][0, 0, 1] + 1) % 3
        assert float((module(**inner) - base).abs().max()) > 1e-6  # an inner one counts
        swapped = {k: v.clone() for k, v in inputs.items()}
        swapped["distances"][0, 1, 2] = swapped["distances"][0, 1, 1]  # a tie, then swap it
        tied = module(**swapped)
        for key in ("atomic_numbers", "neighbor_sites"):
            swapped[key][0, 1, [1, 2]] = swapped[key][0, 1, [2, 1]]
        torch.testing.assert_close(module(**swapped), tied)
        with pytest.raises(ValueError, match="neighbor_sites"):
            module(**{k: v for k, v in inputs.items() if k != "neighbor_sites"})
    with pytest.raises(ValueError, match="crystal='pooled'"):
        NeighborLSTM(crystal="lstm", message_layers=1)


def test_messages_are_exact_when_a_row_is_split_into_copies():
    """A supercell, or equivalent atoms that noise separates: shares divided, sites rewired."""
    torch.manual_seed(0)
    module = NeighborLSTM(with_shares=True, message_layers=2).eval()
    inputs = _module_inputs()
    # row 0 (share 0.5) becomes rows 0 and 3, with 0.25 each, pointed at alternately
    sites = inputs["neighbor_sites"].clone()
    split_sites = torch.cat([sites, sites[:, :1]], dim=1)
    split_sites[0, 3, 0] = 3
    pointing_at_0 = split_sites[0, :, 1:] == 0
    split_sites[0, :, 1:][pointing_at_0 & (torch.arange(19) % 2 == 1)] = 3
    split = dict(
        atomic_numbers=torch.cat([inputs["atomic_numbers"], inputs["atomic_numbers"][:, :1]], 1),
        distances=torch.cat([inputs["distances"], inputs["distances"][:, :1]], 1),
        n_atoms=torch.tensor([4]),
        shares=torch.full((1, 4), 0.25),
        neighbor_sites=split_sites,
    )
    with torch.no_grad():
        torch.testing.assert_close(module(**split), module(**inputs), rtol=1e-5, atol=1e-6)


def test_noisy_batches_move_the_sites_with_their_neighbours(lists):
    distinct, shares = distinct_environments(lists[:8], exact=True, depth=1)
    batch = [(item, 0.0) for item in ModelInput(distinct, shares, with_sites=True)]
    clean, _ = collate_neighbor_lists(batch)
    noisy, _ = NoisyDistanceCollate(0.05, seed=0)(batch)
    pairs = (clean["atomic_numbers"] * 1000 + clean["neighbor_sites"]).sort(dim=-1).values
    moved = (noisy["atomic_numbers"] * 1000 + noisy["neighbor_sites"]).sort(dim=-1).values
    torch.testing.assert_close(moved, pairs)  # the same (element, site) pairs per row
    assert bool((noisy["neighbor_sites"] != clean["neighbor_sites"]).any())


# -------------------------------------------------------------- the estimator
def test_message_layers_need_sites_and_pooled_atoms(lists, gap):
    bare = NeighborLists(lists.atomic_numbers, lists.distances, lists.n_atoms)
    with pytest.raises(ValueError, match=r"message_layers=1 .* NeighborListFeaturizer"):
        NeighborLSTMRegressor(**FAST, message_layers=1).fit(bare, gap)
    with pytest.raises(ValueError, match="message_layers=1 needs atoms='pooled'"):
        NeighborLSTMRegressor(**FAST, message_layers=1, atoms="distinct").fit(lists, gap)
    model = NeighborLSTMRegressor(**FAST, message_layers=1).fit(lists, gap)
    assert len(model.net_.module_.messages) == 1
    with pytest.raises(ValueError, match="no neighbor_sites"):
        model.predict(bare)


def test_messages_change_the_model_and_survive_saving(lists, gap, tmp_path):
    plain = NeighborLSTMRegressor(**TRAINED).fit(lists, gap).predict(lists)
    model = NeighborLSTMRegressor(**TRAINED, message_layers=1).fit(lists, gap)
    predicted = model.predict(lists)
    assert predicted.std() > 0.3 and np.abs(predicted - plain).max() > 0.05
    save(model, tmp_path / "messages")
    loaded = load(tmp_path / "messages")
    assert loaded.message_layers == 1
    np.testing.assert_allclose(loaded.predict(lists), predicted, rtol=1e-6, atol=1e-6)


def test_messages_are_continuous_and_exact_under_cell_choice(mp_sample, gap):
    model = make_pipeline(
        NeighborListFeaturizer(), NeighborLSTMRegressor(**TRAINED, message_layers=2)
    )
    predicted = model.fit(mp_sample.data[:60], gap[:60]).predict(mp_sample.data[:60])
    assert predicted.std() > 0.3  # not a constant, which any check would pass
    check_structure_estimator(model, mp_sample.data[:40], gap[:40])


def test_messages_computed_in_blocks_of_rows_equal_the_whole_batch(monkeypatch):
    """The layer works through blocks of rows (speed); every row's message is unchanged,
    forwards and backwards, whatever the block size."""
    import sklearn_bandgap.models._module as module_code

    torch.manual_seed(0)
    layer = module_code.NeighborMessages(16)
    rows = torch.randn(50, 16, requires_grad=True)
    neighbor_rows = torch.randint(0, 50, (50, 6))
    distances = torch.rand(50, 6).sort(dim=1).values * 3 + 1.5
    weights = module_code.neighbor_envelope(distances)
    expansion = module_code.gaussian_expansion(distances, module_code.MESSAGE_GAUSSIANS)
    results = []
    for block in (1000, 7, 1):
        monkeypatch.setattr(module_code, "MESSAGE_BLOCK_ROWS", block)
        out = layer(rows, neighbor_rows, weights, expansion)
        (gradient,) = torch.autograd.grad(out.square().sum(), rows)
        results.append((out.detach(), gradient))
    for out, gradient in results[1:]:
        torch.testing.assert_close(out, results[0][0], rtol=0, atol=1e-6)
        torch.testing.assert_close(gradient, results[0][1], rtol=0, atol=1e-5)
    assert layer(rows[:0], neighbor_rows[:0], weights[:0], expansion[:0]).shape == (0, 16)
