"""CHGNet's per-atom features: computed, carried by NeighborLists, read by the model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.exceptions import InvalidStructureError
from sklearn_bandgap.featurizers import (
    NeighborListFeaturizer,
    NeighborLists,
    chgnet_domain_problems,
)
from sklearn_bandgap.io import load, save
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.models._environments import canonical_rows, distinct_environments
from sklearn_bandgap.utils.estimator_checks import (
    cell_choices,
    perturbed,
    rotated,
    site_permuted,
    translated,
)

pytest.importorskip("chgnet")

CHGNET = NeighborListFeaturizer(atom_features="chgnet")


def rock_salt() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


@pytest.fixture(scope="module")
def sample():
    data = load_mp_gap_eform(subset="sample200", progress=False)
    return data.data[:60], data.target[:60]


@pytest.fixture(scope="module")
def fitted(sample):
    structures, y = sample
    model = NeighborLSTMRegressor(max_epochs=2, batch_size=16, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(CHGNET.transform(structures[:50]), y[:50])
    return model


def test_lists_carry_atom_features_through_indexing_and_stacking():
    rows = np.arange(6)[:, None] * np.ones((1, 4))
    features = np.arange(12).reshape(6, 2)
    lists = NeighborLists(rows, rows / 10, [2, 1, 3], features)
    assert lists.n_atom_features == 2 and "n_atom_features=2" in repr(lists)
    picked = lists[[2, 0]]
    assert picked.atom_features is not None
    assert picked.atom_features[:, 0].tolist() == [6, 8, 10, 0, 2]
    assert lists[1].atom_features.tolist() == [[4, 5]]
    stacked = NeighborLists.from_lists(list(lists), n_neighbors=3)
    np.testing.assert_array_equal(stacked.atom_features, lists.atom_features)
    plain = NeighborLists(rows[:2], rows[:2] / 10, [2])
    assert plain.n_atom_features == 0 and plain[0].atom_features is None
    with pytest.raises(ValueError, match="some lists carry atom_features"):
        NeighborLists.from_lists([lists[0], plain[0]], n_neighbors=3)
    with pytest.raises(ValueError, match="one row per atom"):
        NeighborLists(rows, rows, [6], features[:5])


def test_merged_environments_get_the_mean_feature_vector():
    rows = np.array([[11, 17], [11, 17], [17, 11]]) * np.ones((1, 1))
    distances = np.array([[0, 2.8], [0, 2.8], [0, 2.8]])
    features = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    distinct, shares = distinct_environments(
        NeighborLists(rows, distances, [3], features), exact=True
    )
    assert shares.tolist() == pytest.approx([2 / 3, 1 / 3])
    np.testing.assert_allclose(distinct.atom_features, [[2.0, 1.0], [5.0, 5.0]])
    ordered = canonical_rows(NeighborLists(rows[::-1], distances, [3], features))
    np.testing.assert_array_equal(ordered.atom_features, features[[1, 2, 0]])


def test_chgnet_features_are_per_atom_invariant_and_continuous():
    nacl = rock_salt()
    lists = CHGNET.transform([nacl, nacl * (2, 1, 1), rotated(nacl), perturbed(nacl, 1e-4)])
    assert lists.n_atom_features == 64 and lists.atom_features.dtype == np.float32
    base = lists[0].atom_features
    assert np.abs(base).max() > 0.1  # not an empty vector
    # the 8 sodium atoms are equivalent, and so are the 8 chlorine atoms
    np.testing.assert_allclose(base[:4], base[[0] * 4], atol=1e-4)
    assert np.abs(base[0] - base[4]).max() > 0.1  # Na and Cl differ
    for other in (lists[1].atom_features[::2], lists[2].atom_features):
        np.testing.assert_allclose(np.sort(other, axis=0), np.sort(base, axis=0), atol=1e-4)
    moved = np.abs(lists[3].atom_features - base).max()
    assert 0 < moved < 0.01


def test_chgnet_features_refuse_elements_it_does_not_know():
    americium = Structure(Lattice.cubic(3.5), ["Am"], [[0, 0, 0]])
    with pytest.raises(InvalidStructureError, match=r"structure 1 \(Am\).*Z=95.*Pu"):
        CHGNET.transform([rock_salt(), americium])
    # the neighbour lists alone take it
    assert len(NeighborListFeaturizer().transform([americium])) == 1
    # checked beforehand on a whole table, by row, without CHGNet: the same reason
    californium = Structure(Lattice.cubic(4.0), ["Cf", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    problems = chgnet_domain_problems([rock_salt(), americium, rock_salt(), californium])
    assert [(p.index, p.formula) for p in problems] == [(1, "Am"), (3, "CfO")]
    assert "Z=98; CHGNet's atom features know elements up to Z=94 (Pu)" in str(problems[1])
    assert chgnet_domain_problems([rock_salt()]) == []


def test_a_model_reads_atom_features_and_round_trips(fitted, sample, tmp_path):
    structures, _ = sample
    lists = CHGNET.transform(structures[50:])
    assert fitted.n_atom_features_ == 64
    predicted = fitted.predict(lists)
    assert predicted.shape == (10,) and np.isfinite(predicted).all()
    path = tmp_path / "model.safetensors"
    save(fitted, path)
    np.testing.assert_array_equal(load(path).predict(lists), predicted)
    # the features change the prediction: the model reads them
    shuffled = NeighborLists(
        lists.atomic_numbers, lists.distances, lists.n_atoms, lists.atom_features[::-1]
    )
    assert np.abs(fitted.predict(shuffled) - predicted).max() > 1e-4


def test_a_model_refuses_lists_without_the_features_it_was_fitted_on(fitted, sample):
    structures, y = sample
    plain = NeighborListFeaturizer().transform(structures[50:])
    with pytest.raises(ValueError, match=r"featurize with NeighborListFeaturizer\(atom_features="):
        fitted.predict(plain)
    other = NeighborLSTMRegressor(max_epochs=1, random_state=0).fit(plain, y[50:])
    with pytest.raises(ValueError, match="without atom features"):
        other.predict(CHGNET.transform(structures[50:52]))


def test_atom_features_need_pooled_atoms(sample):
    structures, y = sample
    lists = CHGNET.transform(structures[:8])
    with pytest.raises(ValueError, match="atoms='pooled'"):
        NeighborLSTMRegressor(atoms="distinct", max_epochs=1).fit(lists, y[:8])


def test_a_model_with_atom_features_is_continuous_and_exact_under_cell_choice(fitted, sample):
    structures, _ = sample
    crystal = structures[52]
    variants = [
        crystal,
        perturbed(crystal, 1e-4, seed=1),
        crystal * (1, 2, 1),
        site_permuted(crystal),
        rotated(crystal),
        translated(crystal),
        *cell_choices(crystal).values(),
    ]
    predicted = fitted.predict(CHGNET.transform(variants))
    assert abs(predicted[1] - predicted[0]) < 0.01
    np.testing.assert_allclose(predicted[2:], predicted[0], atol=1e-4)


def test_predict_command_gives_a_bare_atom_feature_model_its_featurizer(fitted, sample, tmp_path):
    from sklearn_bandgap.cli import main

    structures, _ = sample
    path = tmp_path / "bare.safetensors"
    save(fitted, path)
    cif = tmp_path / "one.cif"
    cif.write_text(structures[55].to(fmt="cif"))
    out = tmp_path / "out.csv"
    assert main(["predict", str(cif), "--model", str(path), "-o", str(out)]) == 0
    rows = out.read_text().splitlines()
    expected = fitted.predict(CHGNET.transform([structures[55]]))[0]
    assert float(rows[1].split(",")[2]) == pytest.approx(expected, abs=1e-4)


def test_an_atom_without_neighbours_within_chgnet_cutoff_is_the_limit_of_one_moving_away():
    def pair(c: float) -> Structure:  # two B atoms c/2 apart along z, 7 Å in x and y
        return Structure(Lattice.orthorhombic(7, 7, c), ["B", "B"], [[0, 0, 0], [0, 0, 0.5]])

    lone = Structure(Lattice.orthorhombic(7, 7, 9), ["B"], [[0, 0, 0]])
    lists = CHGNET.transform([lone, pair(15.0), pair(11.98), pair(11.96)])
    features = [lists[i].atom_features[0] for i in range(4)]
    np.testing.assert_array_equal(features[0], features[1])  # both atoms isolated
    assert np.abs(features[2] - features[1]).max() < 1e-4  # a neighbour at 5.99 Å
    assert 0 < np.abs(features[3] - features[1]).max() < 1e-3  # at 5.98 Å


class _CutOff(Exception):
    """Stands for a run stopped from outside (a time limit)."""


def test_the_feature_cache_is_built_in_chunks_and_resumes_after_a_cut(
    sample, tmp_path, monkeypatch
):
    from sklearn_bandgap.featurizers import _potential_features as module
    from sklearn_bandgap.utils._validation import check_structures

    structures = sample[0][:5]
    source = tmp_path / "structures.json"
    source.write_text("the data file: its content is the cache key")
    cache_dir = tmp_path / "cache"
    real = module.chgnet_atom_features
    calls: list[list[int]] = []

    def recorded(chunk, *, cut_at=None, **kwargs):
        calls.append(list(kwargs["indices"]))
        if len(calls) == cut_at:
            raise _CutOff
        return real(chunk, **kwargs)

    def cached():
        return module.cached_chgnet_atom_features(
            source, structures, cache_dir=cache_dir, chunk_size=2
        )

    monkeypatch.setattr(
        module, "chgnet_atom_features", lambda chunk, **kw: recorded(chunk, cut_at=2, **kw)
    )
    with pytest.raises(_CutOff):
        cached()
    assert calls == [[0, 1], [2, 3]]
    calls.clear()
    monkeypatch.setattr(module, "chgnet_atom_features", recorded)
    features = cached()
    assert calls == [[2, 3], [4]]  # the first chunk came from its cache
    expected = np.concatenate(real(check_structures(structures)))
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)
    chunk_files = [p.name for p in cache_dir.iterdir() if "-rows" in p.name]
    assert all(name.endswith(".lock") for name in chunk_files), chunk_files
    calls.clear()
    np.testing.assert_array_equal(cached(), features)  # the whole, from its cache
    assert calls == []


def test_the_feature_cache_names_unknown_elements_before_computing(sample, tmp_path, monkeypatch):
    from sklearn_bandgap.featurizers import _potential_features as module

    americium = Structure(Lattice.cubic(3.5), ["Am"], [[0, 0, 0]])
    structures = [*sample[0][:4], americium]
    source = tmp_path / "structures.json"
    source.write_text("another data file")
    calls = []
    monkeypatch.setattr(module, "chgnet_atom_features", lambda *a, **k: calls.append(1))
    with pytest.raises(InvalidStructureError, match=r"structure 4 \(Am\).*Z=95"):
        module.cached_chgnet_atom_features(
            source, structures, cache_dir=tmp_path / "cache", chunk_size=2
        )
    assert calls == []


def test_chgnet_features_in_two_processes_equal_those_of_one(sample, monkeypatch):
    from sklearn_bandgap.featurizers import _potential_features as module

    monkeypatch.setattr(module, "CHGNET_PARALLEL_CHUNK", 3)  # 10 structures: 4 tasks
    structures = sample[0][:10]
    one = CHGNET.transform(structures)
    two = NeighborListFeaturizer(atom_features="chgnet", n_jobs=2).transform(structures)
    np.testing.assert_array_equal(two.n_atoms, one.n_atoms)
    np.testing.assert_allclose(two.atom_features, one.atom_features, rtol=1e-5, atol=1e-5)


def test_every_structure_chgnet_fails_on_is_named_across_tasks(sample, monkeypatch):
    from sklearn_bandgap.featurizers import _potential_features as module
    from sklearn_bandgap.utils._validation import check_structures

    monkeypatch.setattr(module, "CHGNET_PARALLEL_CHUNK", 2)
    items = check_structures(sample[0][:6])
    bad = {1, 4}  # in the first and the third task
    real = module._predict

    def failing(potential, batch, batch_size):
        if any(item is items[i] for i in bad for item in batch):
            raise RuntimeError("graph could not be built")
        return real(potential, batch, batch_size)

    monkeypatch.setattr(module, "_predict", failing)
    with pytest.raises(InvalidStructureError) as raised:
        module.chgnet_atom_features(items)
    problems = raised.value.problems
    assert [p.index for p in problems] == [1, 4]
    assert [p.formula for p in problems] == [items[1].formula, items[4].formula]
    assert all("CHGNet failed: graph could not be built" in p.reason for p in problems)


def test_the_feature_cache_is_built_by_two_processes_chunk_by_chunk(sample, tmp_path, monkeypatch):
    from sklearn_bandgap.featurizers import _potential_features as module

    structures = sample[0][:5]
    source = tmp_path / "structures.json"
    source.write_text("a third data file")
    cache_dir = tmp_path / "cache"
    features = module.cached_chgnet_atom_features(
        source, structures, cache_dir=cache_dir, chunk_size=2, n_jobs=2
    )
    expected = CHGNET.transform(structures).atom_features
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)
    # the whole is cached now: a call that could not compute reads it
    monkeypatch.setattr(module, "chgnet_atom_features", lambda *a, **k: pytest.fail("computed"))
    again = module.cached_chgnet_atom_features(source, structures, cache_dir=cache_dir)
    np.testing.assert_array_equal(again, features)
