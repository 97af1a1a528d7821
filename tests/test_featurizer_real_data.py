"""The featurizer on real Materials Project structures: exactness and invariances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sklearn_bandgap.featurizers import TIE_TOLERANCE, NeighborListFeaturizer
from sklearn_bandgap.utils.estimator_checks import (
    check_structure_estimator,
    rotated,
    site_permuted,
    translated,
)

K = 19


def apply_tie_rule(candidates, k):
    """Reference order: by distance, chained ties (TIE_TOLERANCE) by atomic number."""
    candidates = sorted(candidates)
    groups, current = [], [candidates[0]]
    for prev, cand in itertools.pairwise(candidates):
        if cand[0] - prev[0] > TIE_TOLERANCE:
            groups.append(current)
            current = []
        current.append(cand)
    groups.append(current)
    ordered = [c for group in groups for c in sorted(group, key=lambda c: c[1])]
    return ordered[: k + 1], groups


def reference_by_get_all_neighbors(structure, k=K):
    """Brute force with pymatgen's Structure.get_all_neighbors, radius grown until complete."""
    radius = 6.0
    while True:
        all_neighbors = structure.get_all_neighbors(radius)
        if min(len(n) for n in all_neighbors) >= k + 1:
            rows, complete = [], True
            for site, neighbors in zip(structure, all_neighbors, strict=True):
                cands = [(0.0, site.specie.Z)] + [(n.nn_distance, n.specie.Z) for n in neighbors]
                kept, _ = apply_tie_rule(cands, k)
                complete &= kept[-1][0] + 2 * TIE_TOLERANCE < radius
                rows.append(kept)
            if complete:
                return np.array([[z for _, z in r] for r in rows]), np.array(
                    [[d for d, _ in r] for r in rows]
                )
        radius *= 1.5


def reference_by_explicit_images(structure, k=K, n_images=3):
    """Brute force with every image in [-n, n]^3 enumerated by hand (no pymatgen search)."""
    lattice = structure.lattice.matrix
    frac = structure.frac_coords
    z = np.array(structure.atomic_numbers)
    shifts = np.array(list(itertools.product(range(-n_images, n_images + 1), repeat=3)))
    images = (frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3) @ lattice
    image_z = np.tile(z, len(shifts))
    numbers, distances = [], []
    for centre in frac @ lattice:
        d = np.linalg.norm(images - centre, axis=1)
        kept, _groups = apply_tie_rule(list(zip(d.tolist(), image_z.tolist(), strict=True)), k)
        numbers.append([zz for _, zz in kept])
        distances.append([dd for dd, _ in kept])
    return np.array(numbers), np.array(distances)


def small_cell_fraction_ok(structure, n_images=3):
    # The explicit enumeration is complete only if 3 images reach past the 20th neighbour.
    spacing = 1 / np.linalg.norm(np.linalg.inv(structure.lattice.matrix), axis=0)
    return (n_images * spacing).min() > 12.0


def test_matches_get_all_neighbors_on_mp_sample(mp_sample):
    featurizer = NeighborListFeaturizer()
    for i, structure in enumerate(mp_sample.data):
        numbers, distances = featurizer.featurize(structure)
        ref_numbers, ref_distances = reference_by_get_all_neighbors(structure)
        np.testing.assert_allclose(distances, ref_distances, atol=1e-6, err_msg=f"structure {i}")
        np.testing.assert_array_equal(numbers, ref_numbers, err_msg=f"structure {i}")


def test_matches_explicit_image_enumeration(mp_sample):
    featurizer = NeighborListFeaturizer()
    checked = 0
    for structure in mp_sample.data[:80]:
        if not small_cell_fraction_ok(structure):
            continue
        numbers, distances = featurizer.featurize(structure)
        ref_numbers, ref_distances = reference_by_explicit_images(structure)
        np.testing.assert_allclose(distances, ref_distances, atol=1e-6)
        np.testing.assert_array_equal(numbers, ref_numbers)
        checked += 1
    assert checked >= 20


def test_transform_equals_featurize(mp_sample):
    structures = mp_sample.data[:25]
    featurizer = NeighborListFeaturizer()
    lists = featurizer.transform(structures)
    assert len(lists) == 25 and lists.n_total_atoms == sum(len(s) for s in structures)
    for structure, item in zip(structures, lists, strict=True):
        numbers, distances = featurizer.featurize(structure)
        np.testing.assert_array_equal(item.atomic_numbers, numbers)
        np.testing.assert_allclose(item.distances, distances, rtol=1e-6)  # float32 storage


@pytest.mark.parametrize("transform", [translated, rotated], ids=["translation", "rotation"])
def test_rows_invariant_under_rigid_motion(mp_sample, transform):
    featurizer = NeighborListFeaturizer()
    for structure in mp_sample.data[:30]:
        numbers, distances = featurizer.featurize(structure)
        moved_numbers, moved_distances = featurizer.featurize(transform(structure))
        np.testing.assert_array_equal(moved_numbers, numbers)
        np.testing.assert_allclose(moved_distances, distances, atol=1e-6)


def test_rows_permute_with_sites(mp_sample):
    featurizer = NeighborListFeaturizer()
    for seed, structure in enumerate(mp_sample.data[:30]):
        order = np.random.default_rng(seed).permutation(len(structure))
        permuted = site_permuted(structure, seed=seed)
        numbers, distances = featurizer.featurize(structure)
        perm_numbers, perm_distances = featurizer.featurize(permuted)
        np.testing.assert_array_equal(perm_numbers, numbers[order])
        np.testing.assert_allclose(perm_distances, distances[order], atol=1e-9)


def test_supercell_repeats_each_atom_row(mp_sample):
    featurizer = NeighborListFeaturizer()
    for structure in mp_sample.data[:20]:
        numbers, distances = featurizer.featurize(structure)
        super_numbers, super_distances = featurizer.featurize(structure * (2, 1, 3))
        # pymatgen lists the 6 images of each original site consecutively.
        np.testing.assert_array_equal(super_numbers, np.repeat(numbers, 6, axis=0))
        np.testing.assert_allclose(super_distances, np.repeat(distances, 6, axis=0), atol=1e-6)


def test_structure_estimator_checks(mp_sample):
    check_structure_estimator(NeighborListFeaturizer(), mp_sample.data[:24])
