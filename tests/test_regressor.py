"""NeighborLSTMRegressor and its torch module."""

from __future__ import annotations

import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from conftest import DATA_FREE_CHECKS
from sklearn.base import clone
from sklearn.ensemble import VotingRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback

from sklearn_bandgap._nn._expansion import gaussian_expansion
from sklearn_bandgap._nn._training import validation_policy
from sklearn_bandgap.featurizers import NeighborListFeaturizer, NeighborLists
from sklearn_bandgap.model_selection import formula_groups
from sklearn_bandgap.models import (
    NeighborLSTM,
    NeighborLSTMRegressor,
    canonical_rows,
    collate_neighbor_lists,
    composition_keys,
    distinct_environments,
    neighbor_envelope,
)
from sklearn_bandgap.models._base import ModelInput
from sklearn_bandgap.models._collate import NoisyDistanceCollate
from sklearn_bandgap.utils.estimator_checks import check_structure_estimator

FAST = dict(
    max_epochs=2, random_state=0, embedding_dim=8, atom_hidden=8, crystal_hidden=8, head_hidden=8
)


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data)


@pytest.fixture(scope="module")
def gap(mp_sample):
    return mp_sample.target[:, 0]


# ------------------------------------------------------------------- the module
DESIGNS = [
    ("shells", "pooled"),
    ("shells", "distinct"),
    ("sequence", "pooled"),
    ("sequence", "distinct"),
    ("sequence", "site"),
]


def _module_for(regressor: NeighborLSTMRegressor, n_outputs: int = 1) -> NeighborLSTM:
    kwargs = regressor._module_kwargs(n_outputs)
    kwargs.pop("module")
    return NeighborLSTM(**{k.removeprefix("module__"): v for k, v in kwargs.items()}).eval()


@pytest.mark.parametrize(("neighbors", "atoms"), DESIGNS)
def test_crystal_alone_equals_crystal_in_a_batch_with_a_much_larger_one(lists, neighbors, atoms):
    torch.manual_seed(0)
    regressor = NeighborLSTMRegressor(neighbors=neighbors, atoms=atoms, attention_pooling=True)
    module = _module_for(regressor)
    small, large = int(np.argmin(lists.n_atoms)), int(np.argmax(lists.n_atoms))
    data = regressor._model_input(lists[[small, large]])
    alone, _ = collate_neighbor_lists([(data[0], 0.0)])
    together, _ = collate_neighbor_lists([(data[0], 0.0), (data[1], 0.0)])
    assert together["atomic_numbers"].shape[1] > alone["atomic_numbers"].shape[1]  # padded
    with torch.no_grad():
        out_alone = module(**alone)
        out_together = module(**together)
    torch.testing.assert_close(out_alone[0], out_together[0], rtol=1e-5, atol=1e-6)


def test_module_output_shape_and_padding_index():
    module = NeighborLSTM(n_outputs=2, with_shares=True)
    batch = [
        (
            (
                np.full((3, 5), 8, np.uint8),
                np.ones((3, 5), np.float32),
                np.ones(3, np.float32) / 3,
                None,
            ),
            [0.0, 1.0],
        ),
        (
            (
                np.full((1, 5), 26, np.uint8),
                np.ones((1, 5), np.float32),
                np.ones(1, np.float32),
                None,
            ),
            [1.0, 2.0],
        ),
    ]
    X, y = collate_neighbor_lists(batch)
    assert module(**X).shape == (2, 2) and y.shape == (2, 2)
    assert torch.all(module.embedding.weight[0] == 0)


def test_gaussian_expansion_peaks_at_its_centres():
    expanded = gaussian_expansion(torch.tensor([0.0, 4.0, 8.0, 30.0]), 5)  # centres 0, 2, .., 8
    assert expanded.shape == (4, 5)
    assert expanded[0, 0] == expanded[1, 2] == expanded[2, 4] == 1.0
    assert expanded[1, 1] == pytest.approx(np.exp(-1.0))  # one width away
    assert expanded[3].max() < 1e-30  # far beyond the last centre


def test_the_envelope_is_one_inside_zero_at_the_last_neighbour_and_smooth():
    d = torch.tensor([[1.0, 2.0, 3.0, 3.9, 4.0]])
    w = neighbor_envelope(d)
    assert w[0, 0] == w[0, 1] == w[0, 2] == 1.0  # up to 0.75 x the last distance
    assert 0.0 < w[0, 3] < 1.0 and w[0, 4] == 0.0
    # a neighbour a hair inside the edge weighs almost nothing: no jump when it leaves
    assert neighbor_envelope(torch.tensor([[1.0, 4.0 - 1e-4, 4.0]]))[0, 1] < 1e-6
    gentle = neighbor_envelope(d, start=0.0)  # a cosine over the whole range
    assert gentle[0, 4] == 0.0 and torch.all(gentle[0, :4] < 1.0)
    torch.testing.assert_close(gentle[0, 1], torch.tensor(0.5))  # halfway: cos(pi/2)


def test_shell_and_sequence_inputs_have_their_sizes_and_validation():
    shells = NeighborLSTM(embedding_dim=8, distance_expansion=16, with_shares=True)
    assert shells.atom_lstm.input_size == 8 + 1  # a shell's sum of embeddings and its occupancy
    sequence = NeighborLSTM(
        embedding_dim=8, distance_expansion=16, neighbors="sequence", crystal="lstm"
    )
    assert sequence.atom_lstm.input_size == 8 + 16
    with pytest.raises(ValueError, match="at least 2 shells"):
        NeighborLSTM(distance_expansion=0, with_shares=True)
    with pytest.raises(ValueError, match="0 or"):
        NeighborLSTM(distance_expansion=1, neighbors="sequence", crystal="lstm")
    with pytest.raises(ValueError, match="with_shares"):
        NeighborLSTM(with_shares=False)


def test_equidistant_neighbours_in_either_order_give_the_same_atom_with_shells_only():
    """Noise that flips the order of a tie of two elements: the seed's design jumps."""
    torch.manual_seed(0)
    numbers = torch.tensor([[[8, 11, 17, 11, 17]]])
    swapped = torch.tensor([[[8, 17, 11, 17, 11]]])
    distances = torch.tensor([[[0.0, 2.0, 2.0, 3.0, 3.0]]])
    inputs = dict(distances=distances, n_atoms=torch.tensor([1]), shares=torch.ones(1, 1))
    with torch.no_grad():
        for design, moves in [
            ({}, False),
            ({"interaction_layers": 1}, False),
            ({"neighbors": "sequence", "crystal": "lstm"}, True),
        ]:
            torch.manual_seed(0)
            module = NeighborLSTM(**design, with_shares=True).eval()
            a = module(atomic_numbers=numbers, **inputs)
            b = module(atomic_numbers=swapped, **inputs)
            assert bool((a - b).abs().max() > 1e-6) is moves, design


def test_pooling_over_merged_rows_weighs_them_by_their_shares():
    torch.manual_seed(0)
    module = NeighborLSTM(atom_hidden=4, crystal_hidden=4, with_shares=True)
    a, b = torch.randn(4), torch.randn(4)
    every_atom, _ = module._pool(
        torch.stack([a, b, b]), torch.ones(1, 3, dtype=torch.bool), torch.full((3,), 1 / 3)
    )
    merged, _ = module._pool(
        torch.stack([a, b]), torch.ones(1, 2, dtype=torch.bool), torch.tensor([1 / 3, 2 / 3])
    )
    torch.testing.assert_close(merged, every_atom)
    unweighted, _ = module._pool(
        torch.stack([a, b]), torch.ones(1, 2, dtype=torch.bool), torch.tensor([0.5, 0.5])
    )
    assert not torch.allclose(every_atom, unweighted)  # the shares count, not just the rows


def test_attention_over_merged_rows_weighs_them_by_their_shares():
    torch.manual_seed(0)
    module = NeighborLSTM(atom_hidden=4, attention_pooling=True, with_shares=True, crystal="lstm")
    a, b = torch.randn(4), torch.randn(4)
    scores = module.attention(torch.stack([a, b])).squeeze(1)
    weights = module._softmax_rows(
        scores, torch.ones(1, 2, dtype=torch.bool), torch.tensor([1 / 3, 2 / 3])
    )
    every = module._softmax_rows(
        module.attention(torch.stack([a, b, b])).squeeze(1),
        torch.ones(1, 3, dtype=torch.bool),
        None,
    )
    torch.testing.assert_close(weights, torch.stack([every[0], every[1] + every[2]]))


def test_atoms_that_see_their_crystal_stay_symmetric_and_exact_under_split_rows():
    """A row split into copies with divided shares (a supercell, or atoms noise separates)."""
    torch.manual_seed(0)
    module = NeighborLSTM(with_shares=True, interaction_layers=2).eval()
    numbers = torch.randint(1, 60, (1, 3, 20))
    distances = torch.sort(torch.rand(1, 3, 20) * 5 + 1, dim=-1).values
    shares = torch.tensor([[0.5, 0.25, 0.25]])
    order = [1, 0, 2, 0]  # row 0 twice, at half its share each, and another order
    split = dict(
        atomic_numbers=numbers[:, order],
        distances=distances[:, order],
        n_atoms=torch.tensor([4]),
        shares=torch.full((1, 4), 0.25),
    )
    with torch.no_grad():
        whole = module(numbers, distances, torch.tensor([3]), shares)
        torch.testing.assert_close(module(**split), whole, rtol=1e-5, atol=1e-6)
        padded = module(
            torch.cat([torch.cat([numbers, numbers[:, :1] * 0], 1), split["atomic_numbers"]]),
            torch.cat([torch.cat([distances, distances[:, :1]], 1), split["distances"]]),
            torch.tensor([3, 4]),
            torch.cat([torch.cat([shares, torch.zeros(1, 1)], 1), split["shares"]]),
        )
        torch.testing.assert_close(padded, torch.cat([whole, whole]), rtol=1e-5, atol=1e-6)
        plain = NeighborLSTM(with_shares=True).eval()
        assert len(plain.interactions) == 0
    with pytest.raises(ValueError, match="crystal='pooled'"):
        NeighborLSTM(crystal="lstm", interaction_layers=1)


def test_interaction_layers_need_pooled_atoms(lists, gap):
    with pytest.raises(ValueError, match="interaction_layers=1 needs atoms='pooled'"):
        NeighborLSTMRegressor(atoms="distinct", interaction_layers=1).fit(lists, gap)


def test_distinct_environments_merge_equivalent_atoms(lists, mp_sample):
    distinct, shares = distinct_environments(lists)
    assert distinct.n_total_atoms < lists.n_total_atoms
    per_structure = np.add.reduceat(shares, distinct.offsets[:-1])
    np.testing.assert_allclose(per_structure, 1.0, rtol=1e-6)
    supercell = NeighborListFeaturizer().transform([s * (2, 1, 1) for s in mp_sample.data[:10]])
    super_distinct, super_shares = distinct_environments(supercell)
    first = distinct[:10]
    np.testing.assert_array_equal(super_distinct.atomic_numbers, first.atomic_numbers)
    np.testing.assert_allclose(super_shares, shares[: first.n_total_atoms], rtol=1e-6)


def test_environments_match_a_per_structure_reference(lists):
    # distinct_environments and canonical_rows sort all structures at once on
    # packed byte keys; this is the plain per-structure definition.
    numbers, distances, counts, shares, sorted_numbers, sorted_distances = [], [], [], [], [], []
    for item in lists:
        key = np.hstack([item.atomic_numbers, np.round(item.distances / 1e-3)]).astype(float)
        _, first, multiplicity = np.unique(key, axis=0, return_index=True, return_counts=True)
        numbers.append(item.atomic_numbers[first])
        distances.append(item.distances[first])
        counts.append(len(first))
        shares.append(multiplicity / len(key))
        order = np.lexsort(key.T[::-1])
        sorted_numbers.append(item.atomic_numbers[order])
        sorted_distances.append(item.distances[order])
    distinct, got_shares = distinct_environments(lists)
    np.testing.assert_array_equal(distinct.atomic_numbers, np.concatenate(numbers))
    np.testing.assert_array_equal(distinct.distances, np.concatenate(distances))
    np.testing.assert_array_equal(distinct.n_atoms, counts)
    np.testing.assert_allclose(got_shares, np.concatenate(shares), rtol=1e-6)
    canonical = canonical_rows(lists)
    np.testing.assert_array_equal(canonical.atomic_numbers, np.concatenate(sorted_numbers))
    np.testing.assert_array_equal(canonical.distances, np.concatenate(sorted_distances))


def test_composition_keys_are_reduced_formulas(lists, mp_sample):
    keys = composition_keys(lists)
    groups = formula_groups(mp_sample.data)
    # one key per reduced formula and vice versa
    assert len(set(zip(keys, groups, strict=True))) == len(set(keys)) == len(set(groups))


def test_the_validation_groups_are_the_crystals_reduced_formulas(lists, gap, mp_sample):
    model = NeighborLSTMRegressor(**FAST, message_layers=1)
    whole = model._model_input(lists).groups()
    np.testing.assert_array_equal(whole, composition_keys(lists))
    # the merged rows count each environment once: their key misreads some crystals
    merged = model._model_input(lists, merged_groups=True).groups()
    assert (merged != whole).any()
    model.fit(lists, gap)
    assert model.validation_split_version_ == 2
    targets = model._encode_targets(gap, len(lists))
    train, valid = model.net_.get_split_datasets(model._model_input(lists), targets)
    formulas = np.asarray(formula_groups(mp_sample.data), dtype=object)
    assert len(valid.indices) > 0
    assert not set(formulas[valid.indices]) & set(formulas[train.indices])


# ------------------------------------------------------------------ the estimator
@pytest.mark.parametrize("check", DATA_FREE_CHECKS)
def test_sklearn_data_free_checks(check):
    check("NeighborLSTMRegressor", NeighborLSTMRegressor())


def test_the_net_learns(lists, gap):
    model = NeighborLSTMRegressor(
        max_epochs=25, lr=5e-3, loss="mse", validation_fraction=0.0, random_state=0
    ).fit(lists, gap)
    losses = model.net_.history_[:, "train_loss"]
    assert losses[0] > 2 * losses[-1], losses


def test_early_stopping_restores_the_best_epoch(lists, gap):
    model = NeighborLSTMRegressor(max_epochs=30, patience=3, lr=5e-2, random_state=0)
    model.fit(lists, gap)
    history = model.net_.history_
    assert len(history) < 30  # stopped early
    assert "valid_loss" in history[-1]


@pytest.mark.parametrize("attention_pooling", [False, True])
def test_same_random_state_same_predictions_and_verbose_zero_is_silent(
    lists, gap, capsys, attention_pooling
):
    options = {**FAST, "attention_pooling": attention_pooling}
    a = NeighborLSTMRegressor(**options).fit(lists, gap).predict(lists)
    b = NeighborLSTMRegressor(**options).fit(lists, gap).predict(lists)
    np.testing.assert_array_equal(a, b)
    assert capsys.readouterr().out == ""


def test_noisy_training_batches_move_only_neighbour_distances_and_keep_them_sorted(lists):
    batch = [(item, 0.0) for item in ModelInput(lists[:8], None)]
    clean, _ = collate_neighbor_lists(batch)
    noisy, _ = NoisyDistanceCollate(0.05, seed=0)(batch)
    again, _ = NoisyDistanceCollate(0.05, seed=0)(batch)
    torch.testing.assert_close(noisy["distances"], again["distances"])  # seeded
    assert torch.all(noisy["distances"][..., 0] == clean["distances"][..., 0])  # centre: 0
    assert torch.all(noisy["atomic_numbers"][..., 0] == clean["atomic_numbers"][..., 0])
    neighbours = noisy["distances"][..., 1:]
    assert torch.all(neighbours[..., 1:] >= neighbours[..., :-1])  # nearest first again
    moved = (neighbours - clean["distances"][..., 1:]).abs()
    assert 0.0 < float(moved.max()) < 0.5
    # every row still lists the same neighbours (as a multiset of elements)
    same = torch.sort(noisy["atomic_numbers"], dim=-1).values
    torch.testing.assert_close(same, torch.sort(clean["atomic_numbers"], dim=-1).values)


def test_distance_noise_trains_repeatably_and_never_touches_prediction(lists, gap):
    model = NeighborLSTMRegressor(**FAST, distance_noise=0.01).fit(lists, gap)
    assert isinstance(model.net_.iterator_train__collate_fn, NoisyDistanceCollate)
    first = model.predict(lists)
    np.testing.assert_array_equal(model.predict(lists), first)
    again = NeighborLSTMRegressor(**FAST, distance_noise=0.01).fit(lists, gap).predict(lists)
    np.testing.assert_array_equal(again, first)
    plain = NeighborLSTMRegressor(**FAST).fit(lists, gap).predict(lists)
    assert not np.array_equal(plain, first)  # the noise did reach training (all else equal)


def test_verbose_prints_the_epoch_table(lists, gap, capsys):
    NeighborLSTMRegressor(**{**FAST, "verbose": 1}).fit(lists, gap)
    assert "train_loss" in capsys.readouterr().out


def test_multi_output_and_nonnegative(lists, mp_sample):
    both = mp_sample.target
    model = NeighborLSTMRegressor(**FAST).fit(lists, both)
    assert model.predict(lists).shape == (200, 2) and model.n_outputs_ == 2
    clipped = NeighborLSTMRegressor(**FAST, nonnegative=True).fit(lists, both[:, 1])
    assert (clipped.predict(lists) >= 0).all()  # formation energies are negative


def test_nonnegative_clips_the_named_columns_only(lists, mp_sample):
    eform = mp_sample.target[:, 1]
    y = np.column_stack([eform, eform])  # both columns mostly negative
    raw = NeighborLSTMRegressor(**FAST).fit(lists, y).predict(lists)
    model = NeighborLSTMRegressor(**FAST, nonnegative=[0]).fit(lists, y)
    pred = model.predict(lists)
    assert model.nonnegative_columns_.tolist() == [0]
    np.testing.assert_allclose(pred[:, 0], np.maximum(raw[:, 0], 0.0))
    np.testing.assert_allclose(pred[:, 1], raw[:, 1])
    assert (pred[:, 1] < 0).any()


def test_output_column_predicts_one_column_of_a_multi_task_model(lists, mp_sample):
    both = mp_sample.target
    full = NeighborLSTMRegressor(**FAST, nonnegative=[0]).fit(lists, both).predict(lists)
    model = NeighborLSTMRegressor(**FAST, nonnegative=[0], output_column=0).fit(lists, both)
    pred = model.predict(lists)
    assert pred.shape == (200,)
    np.testing.assert_array_equal(pred, full[:, 0])  # the same training, one column out
    # scores against the 1-D band gap, as compare() and cross-validation do
    assert model.score(lists, both[:, 0]) == pytest.approx(r2_score(both[:, 0], full[:, 0]))
    with pytest.raises(ValueError, match=r"output_column=2, but y has 2 column"):
        NeighborLSTMRegressor(**FAST, output_column=2).fit(lists, both)


@pytest.mark.parametrize(
    ("nonnegative", "message"),
    [([2], r"columns \[2\], but y has 2 column"), ([0.5], "sequence of column indices")],
)
def test_nonnegative_columns_are_checked(lists, mp_sample, nonnegative, message):
    model = NeighborLSTMRegressor(**FAST, nonnegative=nonnegative)
    with pytest.raises(ValueError, match=message):
        model.fit(lists, mp_sample.target)


def test_pipeline_cross_val_with_formula_groups_and_grid_search(mp_sample, gap):
    pipeline = make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor(**FAST))
    groups = formula_groups(mp_sample.data)
    scores = cross_val_score(
        pipeline,
        mp_sample.data,
        gap,
        cv=GroupKFold(n_splits=2),
        groups=groups,
        scoring="neg_mean_absolute_error",
    )
    assert scores.shape == (2,) and np.isfinite(scores).all()
    search = GridSearchCV(
        pipeline, {"neighborlstmregressor__lr": [1e-3, 1e-2]}, cv=GroupKFold(n_splits=2)
    )
    search.fit(mp_sample.data, gap, groups=groups)
    assert search.best_params_["neighborlstmregressor__lr"] in (1e-3, 1e-2)


def test_voting_regressor_over_seeds_predicts_the_mean_of_its_members(mp_sample, gap):
    # The seed ensemble of benchmarks/ensemble_mp.py, as a user writes it.
    members = [(f"seed{s}", NeighborLSTMRegressor(**{**FAST, "random_state": s})) for s in (0, 1)]
    pipeline = make_pipeline(NeighborListFeaturizer(), VotingRegressor(members))
    pipeline.fit(mp_sample.data[:80], gap[:80])
    lists = pipeline[0].transform(mp_sample.data[80:120])
    fitted = pipeline[-1].named_estimators_
    per_member = [fitted[name].predict(lists) for name, _ in members]
    assert not np.allclose(per_member[0], per_member[1])  # the seeds really differ
    np.testing.assert_allclose(
        pipeline.predict(mp_sample.data[80:120]), np.mean(per_member, axis=0), rtol=1e-6
    )


def test_pipeline_memory_caches_the_featurization(mp_sample, gap, tmp_path, monkeypatch):
    """A 4 x 2 grid search featurizes 3 training inputs (2 folds and the refit), each once.

    Counted: the featurizer's ``fit``, which the pipeline calls (through
    ``fit_transform``) only when its cache misses; scoring transforms the test
    folds, which no cache covers.
    """
    calls = []
    fit = NeighborListFeaturizer.fit

    def counted(self, X=None, y=None, **params):
        calls.append(len(X))
        return fit(self, X, y, **params)

    monkeypatch.setattr(NeighborListFeaturizer, "fit", counted)
    pipeline = Pipeline(
        [("features", NeighborListFeaturizer()), ("lstm", NeighborLSTMRegressor(**FAST))],
        memory=str(tmp_path),
    )
    X, y = mp_sample.data[:60], gap[:60]
    search = GridSearchCV(pipeline, {"lstm__lr": [1e-3, 2e-3, 3e-3, 5e-3]}, cv=KFold(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joblib: "Persisting input arguments took ..."
        search.fit(X, y)
    assert sorted(calls) == [30, 30, 60]
    assert any(tmp_path.rglob("*.pkl"))
    search.fit(X, y)  # everything is cached now
    assert len(calls) == 3


def test_clone_pickle_and_joblib_round_trips(lists, gap, tmp_path):
    model = NeighborLSTMRegressor(**FAST).fit(lists, gap)
    expected = model.predict(lists)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(lists), expected)
    joblib.dump(model, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict(lists), expected)
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(clone(model), "net_")


@pytest.mark.parametrize("design", [{}, {"interaction_layers": 1}])
def test_structure_estimator_checks(mp_sample, gap, design):
    check_structure_estimator(
        make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor(**FAST, **design)),
        mp_sample.data[:40],
        gap[:40],
    )


def test_larger_structure_than_any_in_training(mp_sample, gap, lists):
    model = NeighborLSTMRegressor(**FAST, atoms="site").fit(lists, gap)
    big = mp_sample.data[int(np.argmax(lists.n_atoms))] * (3, 3, 3)
    big_lists = NeighborListFeaturizer().transform([big])
    assert big_lists.n_atoms[0] > lists.n_atoms.max()
    assert np.isfinite(model.predict(big_lists)).all()


def test_bad_inputs(lists, gap, mp_sample):
    model = NeighborLSTMRegressor(**FAST)
    with pytest.raises(TypeError, match="make_pipeline"):
        model.fit(mp_sample.data, gap)
    bad = gap.copy()
    bad[[3, 17]] = [np.nan, np.inf]
    with pytest.raises(ValueError, match=r"indices \[3, 17\]"):
        model.fit(lists, bad)
    with pytest.raises(ValueError, match="200 structures but y has 199"):
        model.fit(lists, gap[:-1])
    with pytest.raises(ValueError, match=r"y must hold numbers; .*entry 1: 'metal'"):
        model.fit(lists[:3], ["0.5", "metal", 1.0])
    with pytest.raises(ValueError, match="no structures"):
        model.fit(lists[[]], gap[:0])
    with pytest.raises(InvalidParameterError):
        NeighborLSTMRegressor(atoms="random").fit(lists, gap)
    with pytest.raises(InvalidParameterError, match="distance_expansion"):
        NeighborLSTMRegressor(distance_expansion=1).fit(lists, gap)
    with pytest.raises(ValueError, match="empty"):
        make_pipeline(NeighborListFeaturizer(), model).fit([], [])


def test_model_input_indexes_like_neighbor_lists(lists):
    data = ModelInput(lists, None)
    numbers, _, shares, features, sites = data[5]
    assert isinstance(lists, NeighborLists) and shares is None and features is None
    assert sites is None  # only models with message layers read them
    np.testing.assert_array_equal(
        ModelInput(lists, None, with_sites=True)[5][4], lists[5].neighbor_sites
    )
    np.testing.assert_array_equal(numbers, lists[5].atomic_numbers)


# ------------------------------------------------------------ random state
def test_fit_leaves_torch_global_generator_alone(lists, gap):
    import torch

    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    NeighborLSTMRegressor(**FAST).fit(lists, gap)
    assert torch.equal(torch.random.get_rng_state(), before)
    dropout = NeighborLSTMRegressor(**{**FAST, "dropout": 0.3}).fit(lists, gap)
    assert torch.equal(torch.random.get_rng_state(), before)
    again = NeighborLSTMRegressor(**{**FAST, "dropout": 0.3}).fit(lists, gap)
    np.testing.assert_array_equal(dropout.predict(lists), again.predict(lists))


def test_fits_in_concurrent_threads_equal_fits_one_after_another(lists, gap):
    from concurrent.futures import ThreadPoolExecutor

    seeds = [0, 1, 2, 3]

    def fit(seed):
        model = NeighborLSTMRegressor(**{**FAST, "random_state": seed, "max_epochs": 3})
        return model.fit(lists, gap).predict(lists)

    alone = [fit(seed) for seed in seeds]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(fit, seeds))
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert not np.allclose(alone[0], alone[1])  # the seeds do differ


def test_a_collapsed_fit_on_a_mostly_zero_target_warns_with_the_options(mp_sample):
    """L1 on 96 % zeros learns the median: every prediction 0. Said once, after fit."""
    from sklearn_bandgap.exceptions import ConstantPredictionWarning

    lists = NeighborListFeaturizer().transform(mp_sample.data)
    gap = mp_sample.target[:, 0]
    target = np.zeros(len(gap))
    top = np.argsort(-gap)[:8]
    target[top] = gap[top]
    model = NeighborLSTMRegressor(
        max_epochs=20, atom_hidden=8, crystal_hidden=16, head_hidden=16, random_state=0
    )
    with pytest.warns(ConstantPredictionWarning, match=r"96% of the targets are 0 .*loss='mse'"):
        model.fit(lists, target)
    assert np.ptp(model.predict(lists)) < 0.01


# ------------------------------------------------------------- weight averaging
class _FirstStepWeights(Callback):
    """Records the module's weights after the first training step."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.state_ = None

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training and self.state_ is None:
            self.state_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


def test_a_weight_average_of_a_single_step_is_the_raw_model(lists, gap):
    # span below one batch: decay 0, the average is the last weights exactly
    options = {**FAST, "max_epochs": 3, "validation_fraction": 0.0}
    raw = NeighborLSTMRegressor(**options).fit(lists, gap)
    averaged = NeighborLSTMRegressor(**options, ema_epochs=1e-6).fit(lists, gap)
    np.testing.assert_array_equal(raw.predict(lists), averaged.predict(lists))


def test_a_very_long_weight_average_keeps_the_first_steps_weights(lists, gap):
    # torch's AveragedModel starts from the weights after the first step
    initial = _FirstStepWeights()
    model = NeighborLSTMRegressor(
        **{**FAST, "max_epochs": 3, "lr": 5e-2},
        validation_fraction=0.0,
        ema_epochs=1e9,
        callbacks=[initial],
    ).fit(lists, gap)
    trained = NeighborLSTMRegressor(
        **{**FAST, "max_epochs": 3, "lr": 5e-2}, validation_fraction=0.0
    ).fit(lists, gap)
    fitted = model.net_.module_.state_dict()
    moved = max(float((fitted[k] - v).abs().max()) for k, v in initial.state_.items())
    raw_moved = max(
        float((trained.net_.module_.state_dict()[k] - v).abs().max())
        for k, v in initial.state_.items()
    )
    assert moved < 1e-6 < 1e-2 < raw_moved, (moved, raw_moved)


def test_the_weight_average_is_validated_and_kept_at_its_best_epoch(lists, gap):
    model = NeighborLSTMRegressor(
        **{**FAST, "max_epochs": 12, "lr": 2e-2}, patience=4, ema_epochs=2.0
    ).fit(lists, gap)
    net = model.net_
    history = net.history_
    targets = model._encode_targets(gap, len(lists))
    _, valid = net.get_split_datasets(model._model_input(lists), targets)
    net.module_.eval()
    losses, sizes = [], []
    with torch.no_grad():
        for batch in net.get_iterator(valid, training=False):
            inputs, truth = batch
            losses.append(float(net.get_loss(net.infer(inputs), truth, training=False)))
            sizes.append(len(truth))
    refit_loss = float(np.average(losses, weights=sizes))
    best = float(np.min(history[:, "valid_loss"]))
    # the fitted weights are the best epoch's average, not the raw weights of the last epoch
    assert refit_loss == pytest.approx(best, rel=1e-5)
    assert "weight_average" in dict(net.callbacks_)
    pickle.loads(pickle.dumps(model))  # the callback keeps no copy of the module
    assert dict(net.callbacks_)["weight_average"].average_ is None


class _LearningRates(Callback):
    """Record the optimizer's learning rate at the start of every epoch."""

    def initialize(self):
        self.rates_ = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.rates_.append(net.optimizer_.param_groups[0]["lr"])


@pytest.mark.parametrize("validation_fraction", [0.0, 0.2])
def test_the_cosine_schedule_anneals_from_lr_to_zero_over_max_epochs(
    lists, gap, validation_fraction
):
    rates = _LearningRates()
    epochs, lr = 6, 1e-2
    NeighborLSTMRegressor(
        **{**FAST, "max_epochs": epochs, "lr": lr},
        lr_schedule="cosine",
        validation_fraction=validation_fraction,
        patience=100,
        callbacks=[rates],
    ).fit(lists, gap)
    expected = [lr * (1 + np.cos(np.pi * k / epochs)) / 2 for k in range(epochs)]
    np.testing.assert_allclose(rates.rates_, expected, rtol=1e-9)


def test_the_plateau_schedule_stays_the_default():
    _, callbacks = validation_policy(0.1, 15, seed=0)
    policy = dict(callbacks)["lr_scheduler"]
    assert policy.policy is torch.optim.lr_scheduler.ReduceLROnPlateau
    assert (policy.monitor, policy.kwargs) == ("valid_loss", {"factor": 0.5, "patience": 5})
    assert validation_policy(0.0, 15, seed=0) == (None, [])
    assert NeighborLSTMRegressor().lr_schedule == "plateau"


def test_an_unknown_schedule_is_refused_by_name(lists, gap):
    with pytest.raises(ValueError, match="lr_schedule"):
        NeighborLSTMRegressor(**FAST, lr_schedule="one-cycle").fit(lists, gap)
    with pytest.raises(ValueError, match="needs max_epochs"):
        validation_policy(0.1, 15, seed=0, lr_schedule="cosine")
