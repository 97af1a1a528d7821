"""NeighborListFeaturizer as a matminer featurizer and as a scikit-learn transformer."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from conftest import DATA_FREE_CHECKS
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_bandgap.featurizers import NeighborListFeaturizer, NeighborLists


@pytest.mark.parametrize("check", DATA_FREE_CHECKS)
def test_sklearn_data_free_checks(check):
    check("NeighborListFeaturizer", NeighborListFeaturizer())


def test_params_stored_verbatim_and_cloned():
    featurizer = NeighborListFeaturizer(
        12, cutoff=4.5, n_jobs=2, verbose=1, atom_features="chgnet", potential_model="0.2.0"
    )
    assert featurizer.get_params() == {
        "n_neighbors": 12,
        "cutoff": 4.5,
        "n_jobs": 2,
        "verbose": 1,
        "atom_features": "chgnet",
        "potential_model": "0.2.0",
    }
    assert clone(featurizer).get_params() == featurizer.get_params()
    assert featurizer.set_params(n_jobs=1).n_jobs == 1
    featurizer.set_n_jobs(3)  # matminer's spelling
    assert featurizer.get_params()["n_jobs"] == 3


@pytest.mark.parametrize(
    "params",
    [
        {"n_neighbors": 0},
        {"n_neighbors": 2.5},
        {"cutoff": -1.0},
        {"n_jobs": "all"},
        {"atom_features": "mace"},
        {"potential_model": "9.9"},
    ],
)
def test_invalid_parameters_rejected_in_fit_and_transform(params, nacl):
    featurizer = NeighborListFeaturizer(**params)
    with pytest.raises(InvalidParameterError):
        featurizer.fit([nacl])
    with pytest.raises(InvalidParameterError):
        featurizer.transform([nacl])


def test_stateless_fit_returns_self_and_transform_without_fit(nacl):
    featurizer = NeighborListFeaturizer()
    assert featurizer.fit([nacl]) is featurizer
    assert featurizer.__sklearn_tags__().requires_fit is False
    assert isinstance(NeighborListFeaturizer().transform([nacl]), NeighborLists)


def test_pickle_round_trip(analytic_crystals):
    featurizer = NeighborListFeaturizer(n_neighbors=8).fit(analytic_crystals)
    restored = pickle.loads(pickle.dumps(featurizer))
    a, b = featurizer.transform(analytic_crystals), restored.transform(analytic_crystals)
    np.testing.assert_array_equal(a.atomic_numbers, b.atomic_numbers)
    np.testing.assert_array_equal(a.distances, b.distances)
    lists = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(lists.n_atoms, a.n_atoms)


def test_matminer_interface(nacl, cscl):
    featurizer = NeighborListFeaturizer()
    assert featurizer.feature_labels() == ["neighbor_atomic_numbers", "neighbor_distances"]
    assert all(entry.startswith("@article") for entry in featurizer.citations())
    assert featurizer.implementors()
    many = featurizer.featurize_many([nacl, cscl], pbar=False)
    assert [m[0].shape for m in many] == [(8, 20), (2, 20)]


def test_featurize_dataframe_adds_two_columns(nacl, cscl):
    df = pd.DataFrame({"structure": [nacl, cscl], "target": [1.0, 2.0]})
    out = NeighborListFeaturizer().featurize_dataframe(df, "structure", pbar=False)
    assert list(out.columns) == [
        "structure",
        "target",
        "neighbor_atomic_numbers",
        "neighbor_distances",
    ]
    assert out["neighbor_distances"].iloc[1].shape == (2, 20)


def test_featurize_many_refuses_nan_rows(nacl):
    with pytest.raises(ValueError, match="NaN rows"):
        NeighborListFeaturizer().featurize_many([nacl], ignore_errors=True)


def test_accepts_series_array_ase_cif_text_and_path(nacl, tmp_path):
    featurizer = NeighborListFeaturizer()
    expected = featurizer.featurize(nacl)
    path = tmp_path / "nacl.cif"
    nacl.to(filename=str(path))
    inputs = [nacl, nacl.to(fmt="cif"), str(path), path]
    for lists in (
        featurizer.transform(inputs),
        featurizer.transform(pd.Series(inputs)),
        featurizer.transform(np.array(inputs, dtype=object)),
    ):
        for item in lists:
            np.testing.assert_array_equal(item.atomic_numbers, expected[0])
            np.testing.assert_allclose(item.distances, expected[1], rtol=1e-6)
    copper = featurizer.featurize(bulk("Cu", "fcc", a=3.615))
    np.testing.assert_allclose(copper[1][0, 1:13], 3.615 / np.sqrt(2), rtol=1e-9)


def test_n_jobs_two_equals_one(mp_sample):
    structures = mp_sample.data[:120]
    one = NeighborListFeaturizer(n_jobs=1).transform(structures)
    two = NeighborListFeaturizer(n_jobs=2).transform(structures)
    np.testing.assert_array_equal(one.atomic_numbers, two.atomic_numbers)
    np.testing.assert_array_equal(one.distances, two.distances)
    np.testing.assert_array_equal(one.n_atoms, two.n_atoms)


def test_output_splits_like_an_array(mp_sample):
    lists = NeighborListFeaturizer().transform(mp_sample.data)
    y = mp_sample.target[:, 0]
    X_train, X_test, y_train, _y_test = train_test_split(lists, y, test_size=0.25, random_state=0)
    assert isinstance(X_train, NeighborLists) and isinstance(X_test, NeighborLists)
    assert len(X_train) == len(y_train) == 150 and len(X_test) == 50
    assert X_train.n_total_atoms + X_test.n_total_atoms == lists.n_total_atoms


def test_skorch_can_split_and_index_the_output(mp_sample):
    from skorch.dataset import Dataset, ValidSplit

    lists = NeighborListFeaturizer().transform(mp_sample.data)
    y = mp_sample.target[:, 0].astype(np.float32)
    dataset = Dataset(lists, y)
    train, valid = ValidSplit(0.2, random_state=0)(dataset, y)
    assert len(train) == 160 and len(valid) == 40
    item, target = train[0]
    assert item.atomic_numbers.shape[1] == 20 and target == y[train.indices[0]]


@pytest.mark.parametrize("iterate_over_entries", [True, False])
def test_multiple_featurizer_is_told_that_the_output_is_ragged(nacl, cscl, iterate_over_entries):
    """matminer's MultipleFeaturizer would end in a bare numpy shape error.

    Recognised by what matminer asks for (NaN rows), not by its class name or
    call stack: a subclass whose ``fit`` adds a frame is told the same.
    """
    import pandas as pd
    from matminer.featurizers.base import MultipleFeaturizer
    from matminer.featurizers.structure import DensityFeatures

    class Wrapped(MultipleFeaturizer):  # type: ignore[misc]
        def fit(self, X, y=None, **kwargs):  # type: ignore[no-untyped-def]
            return super().fit(X, y, **kwargs)

    for kind in (MultipleFeaturizer, Wrapped):
        combined = kind(
            [DensityFeatures(), NeighborListFeaturizer()],
            iterate_over_entries=iterate_over_entries,
        )
        combined.set_n_jobs(1)  # a local class cannot be pickled to worker processes
        with pytest.raises(ValueError, match=r"output is ragged .* Use it alone"):
            combined.fit_transform([nacl, cscl])
        with pytest.raises(ValueError, match=r"output is ragged .* Use it alone"):
            combined.transform([nacl, cscl])
        frame = combined.featurize_dataframe(pd.DataFrame({"s": [nacl, cscl]}), "s", pbar=False)
        assert frame["neighbor_distances"].iloc[0].shape == (8, 20)  # cells, still fine
        assert len(combined.featurize(nacl)) == len(combined.feature_labels())
