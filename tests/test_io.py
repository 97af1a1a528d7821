"""Safe persistence: round trips in a fresh process, and refusal of bad files."""

from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from skorch.callbacks import EpochTimer

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import FORMAT_VERSION, ModelFileError, load, read_metadata, save
from sklearn_bandgap.io._file import _digest
from sklearn_bandgap.models import ConformalRegressor, NeighborLSTMRegressor, SeedEnsembleRegressor
from sklearn_bandgap.translation import (
    IdentityTranslator,
    IsotropicVolumeTranslator,
    PotentialRelaxer,
    RelaxationTranslator,
    SeedEnsembleTranslator,
)

LSTM = {"max_epochs": 2, "atom_hidden": 8, "crystal_hidden": 8, "head_hidden": 8}
TRANSLATOR = {"hidden": 8, "n_layers": 1, "max_epochs": 2, "random_state": 0}


def _as_arrays(output):
    """Predictions, or the lattices and coordinates of translated structures, as arrays."""
    if isinstance(output, np.ndarray):
        return {"y": output}
    if hasattr(output, "distances"):  # NeighborLists
        return {"numbers": output.atomic_numbers, "distances": output.distances}
    return {
        "lattices": np.stack([s.lattice.matrix for s in output]),
        "coords": np.concatenate([s.cart_coords for s in output]),
        "numbers": np.concatenate([s.atomic_numbers for s in output]),
    }


def _models(mp, nrel):
    """Every supported estimator type, fitted on the samples; with its input and method."""
    X, y = mp.data[:60], mp.target[:60]
    unrelaxed, relaxed = nrel.unrelaxed[:40], nrel.relaxed[:40]
    lists = NeighborListFeaturizer().transform(X)
    members = SeedEnsembleRegressor(
        NeighborLSTMRegressor(**LSTM, nonnegative=[0], output_column=0), random_states=[0, 1]
    )
    translator = RelaxationTranslator(**TRANSLATOR).fit(unrelaxed, relaxed=relaxed)
    ensemble_pipeline = make_pipeline(NeighborListFeaturizer(), members).fit(X[:40], y[:40])
    return {
        "featurizer": (NeighborListFeaturizer(n_neighbors=7), X[:5], "transform"),
        "regressor_1d": (
            NeighborLSTMRegressor(**LSTM, random_state=0, nonnegative=True).fit(lists, y[:, 0]),
            lists,
            "predict",
        ),
        "regressor_2d": (
            NeighborLSTMRegressor(**LSTM, random_state=1, atoms="site").fit(lists, y),
            lists,
            "predict",
        ),
        "pipeline_seed_ensemble": (
            make_pipeline(NeighborListFeaturizer(), members).fit(X, y),
            X,
            "predict",
        ),
        "conformal_prefit": (
            ConformalRegressor(ensemble_pipeline, prefit=True, lower_bound=0.0).fit(
                X[40:], y[40:, 0]
            ),
            X,
            "predict",
        ),
        "relaxation_translator": (translator, unrelaxed[:10], "transform"),
        "seed_ensemble_translator": (
            SeedEnsembleTranslator(RelaxationTranslator(**TRANSLATOR), random_states=[0, 2]).fit(
                unrelaxed, relaxed=relaxed
            ),
            unrelaxed[:10],
            "transform",
        ),
        "identity_translator": (
            IdentityTranslator().fit(unrelaxed, relaxed=relaxed),
            unrelaxed[:5],
            "transform",
        ),
        "isotropic_translator": (
            IsotropicVolumeTranslator(handle_unknown="keep_volume").fit(unrelaxed, relaxed=relaxed),
            unrelaxed[:10],
            "transform",
        ),
        "potential_relaxer": (
            PotentialRelaxer(steps=3).fit(unrelaxed[:2]),
            unrelaxed[:2],
            "transform",
        ),
        "screening_pipeline": (
            make_pipeline(
                FrozenEstimator(translator),
                NeighborListFeaturizer(),
                NeighborLSTMRegressor(**LSTM, random_state=0),
            ).fit(unrelaxed, np.arange(40.0)),
            unrelaxed[:10],
            "predict",
        ),
    }


@pytest.fixture(scope="module")
def saved(mp_sample, nrel_sample, tmp_path_factory):
    """Each model saved, its output in this process and in a fresh Python process."""
    folder = tmp_path_factory.mktemp("models")
    models = _models(mp_sample, nrel_sample)
    here = {}
    for name, (model, X, method) in models.items():
        save(model, folder / f"{name}.safetensors", metadata={"name": name})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            here[name] = _as_arrays(getattr(model, method)(X))
        joblib.dump((X, method), folder / f"{name}.input.joblib")  # test input, not a model
    script = "\n".join(
        [
            "import warnings, joblib, numpy as np",
            "from pathlib import Path",
            "warnings.simplefilter('ignore')",
            "from sklearn_bandgap.io import load",
            inspect.getsource(_as_arrays),
            f"folder = Path({str(folder)!r})",
            f"for name in {list(models)!r}:",
            "    X, method = joblib.load(folder / f'{name}.input.joblib')",
            "    model = load(folder / f'{name}.safetensors')",
            "    np.savez(folder / f'{name}.fresh.npz', **_as_arrays(getattr(model, method)(X)))",
        ]
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    return folder, models, here


CASES = [
    "featurizer",
    "regressor_1d",
    "regressor_2d",
    "pipeline_seed_ensemble",
    "relaxation_translator",
    "seed_ensemble_translator",
    "identity_translator",
    "isotropic_translator",
    "potential_relaxer",
    "screening_pipeline",
]


@pytest.mark.parametrize("name", CASES)
def test_round_trip_in_a_fresh_process_is_bit_identical(saved, name):
    folder, _, here = saved
    fresh = np.load(folder / f"{name}.fresh.npz")
    assert sorted(fresh.files) == sorted(here[name])
    for key, value in here[name].items():
        assert fresh[key].dtype == value.dtype
        np.testing.assert_array_equal(fresh[key], value)  # exact, not approximate


@pytest.mark.parametrize("name", CASES)
def test_loaded_estimator_has_the_same_parameters_and_metadata(saved, name):
    folder, models, _ = saved
    model = models[name][0]
    loaded = load(folder / f"{name}.safetensors")
    assert type(loaded) is type(model)
    assert repr(loaded.get_params(deep=True)) == repr(model.get_params(deep=True))
    info = read_metadata(folder / f"{name}.safetensors")
    assert info["metadata"] == {"name": name}
    assert info["estimator"] == type(model).__name__
    assert set(info["versions"]) >= {"sklearn_bandgap", "torch", "scikit-learn"}


def test_fitted_state_survives(saved):
    folder, models, _ = saved
    original = models["regressor_2d"][0]
    loaded = load(folder / "regressor_2d.safetensors")
    for attr in ("y_mean_", "y_scale_", "elements_seen_", "nonnegative_columns_"):
        np.testing.assert_array_equal(getattr(loaded, attr), getattr(original, attr))
    assert (loaded.n_outputs_, loaded.y_ndim_) == (original.n_outputs_, original.y_ndim_)
    assert [row["valid_loss"] for row in loaded.net_.history_] == [
        row["valid_loss"] for row in original.net_.history_
    ]
    iso = load(folder / "isotropic_translator.safetensors")
    assert iso.element_volumes_ == models["isotropic_translator"][0].element_volumes_


def test_load_never_unpickles(saved, monkeypatch):
    folder, _, _ = saved

    def refuse(*args, **kwargs):
        raise AssertionError("load must not unpickle")

    import torch

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(joblib, "load", refuse)
    for name in ("pipeline_seed_ensemble", "seed_ensemble_translator"):
        load(folder / f"{name}.safetensors")


def test_unfitted_estimators_round_trip(tmp_path):
    model = make_pipeline(
        NeighborListFeaturizer(n_neighbors=11),
        SeedEnsembleRegressor(NeighborLSTMRegressor(lr=1e-3), random_states=(3, 4)),
    )
    loaded = load(save(model, tmp_path / "unfitted.safetensors"))
    assert repr(loaded.get_params()) == repr(model.get_params())
    assert isinstance(loaded.steps[1][1].random_states, tuple)  # tuples stay tuples
    clone(loaded)


def test_pickle_and_joblib_keep_working_on_a_loaded_model(saved, tmp_path):
    folder, models, here = saved
    loaded = load(folder / "pipeline_seed_ensemble.safetensors")
    X = models["pipeline_seed_ensemble"][1]
    again = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(again.predict(X), here["pipeline_seed_ensemble"]["y"])
    joblib.dump(loaded, tmp_path / "m.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "m.joblib").predict(X), here["pipeline_seed_ensemble"]["y"]
    )


# ------------------------------------------------------------------ refusals
def _rewrite(path, target, *, header=None, tensors=None, keep_digest=True):
    """Copy a model file with changed header fields or tensors."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        metadata = dict(handle.metadata())
    arrays = load_file(str(path))
    metadata.update(header or {})
    arrays.update(tensors or {})
    if not keep_digest:
        texts = {k: metadata[k] for k in ("estimator", "versions", "user")}
        metadata["sha256"] = _digest(texts, arrays)
    save_file(arrays, str(target), metadata=metadata)
    return target


def test_a_flipped_weight_byte_is_refused(saved, tmp_path):
    folder, _, _ = saved
    data = bytearray((folder / "regressor_1d.safetensors").read_bytes())
    data[-5] ^= 0x01  # inside the last tensor's bytes
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"flipped\.safetensors: .*SHA-256 digest"):
        load(bad)


def test_an_altered_parameter_is_refused(saved, tmp_path):
    folder, _, _ = saved
    path = folder / "regressor_1d.safetensors"
    tree = json.loads(_header(path)["estimator"])
    tree["params"]["nonnegative"] = False
    bad = _rewrite(path, tmp_path / "altered.safetensors", header={"estimator": json.dumps(tree)})
    with pytest.raises(ModelFileError, match=r"altered\.safetensors: .*digest"):
        load(bad)


def _header(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return dict(handle.metadata())


@pytest.mark.parametrize("keep", [0.5, 0.999, 8])
def test_a_truncated_file_is_refused(saved, tmp_path, keep):
    folder, _, _ = saved
    data = (folder / "regressor_1d.safetensors").read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[: int(keep * len(data)) if keep < 1 else keep])
    with pytest.raises(ModelFileError, match=r"truncated\.safetensors: "):
        load(bad)


def test_an_unknown_estimator_type_is_refused_even_with_a_valid_digest(saved, tmp_path):
    folder, _, _ = saved
    path = folder / "featurizer.safetensors"
    tree = {"__estimator__": "RandomForestRegressor", "params": {}, "fitted": {}}
    bad = _rewrite(
        path,
        tmp_path / "forest.safetensors",
        header={"estimator": json.dumps(tree)},
        keep_digest=False,
    )
    with pytest.raises(ModelFileError, match="unknown estimator type 'RandomForestRegressor'"):
        load(bad)


def test_a_parameter_this_version_lacks_is_refused(saved, tmp_path):
    folder, _, _ = saved
    path = folder / "featurizer.safetensors"
    tree = json.loads(_header(path)["estimator"])
    tree["params"]["radius_of_doom"] = 3
    bad = _rewrite(
        path,
        tmp_path / "future.safetensors",
        header={"estimator": json.dumps(tree)},
        keep_digest=False,
    )
    with pytest.raises(ModelFileError, match=r"no parameter\(s\) \['radius_of_doom'\]"):
        load(bad)


def test_weights_of_the_wrong_shape_are_refused(saved, tmp_path):
    folder, _, _ = saved
    path = folder / "regressor_1d.safetensors"
    key = next(k for k in load_file(str(path)) if k.endswith("embedding.weight"))
    bad = _rewrite(
        path,
        tmp_path / "shape.safetensors",
        tensors={key: np.zeros((3, 3), np.float32)},
        keep_digest=False,
    )
    with pytest.raises(ModelFileError, match="weights do not fit the network"):
        load(bad)


def test_another_file_format_version_is_refused(saved, tmp_path):
    folder, _, _ = saved
    bad = _rewrite(
        folder / "featurizer.safetensors",
        tmp_path / "v99.safetensors",
        header={"format_version": "99"},
    )
    with pytest.raises(ModelFileError, match=f"file format 99 .* reads format {FORMAT_VERSION}"):
        load(bad)


def test_other_files_are_refused(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, str(plain))
    with pytest.raises(ModelFileError, match=r"not one written by sklearn_bandgap\.io\.save"):
        load(plain)
    pickled = tmp_path / "model.joblib"
    joblib.dump(NeighborListFeaturizer(), pickled)
    with pytest.raises(ModelFileError, match=r"model\.joblib: not a readable safetensors file"):
        load(pickled)
    with pytest.raises(ModelFileError, match="no such file"):
        load(tmp_path / "missing.safetensors")


def test_what_cannot_be_saved_is_named(tmp_path, mp_sample):
    with pytest.raises(TypeError, match="RandomForestRegressor cannot be saved; supported"):
        save(make_pipeline(NeighborListFeaturizer(), RandomForestRegressor()), tmp_path / "a")
    with pytest.raises(TypeError, match=r"estimator\.callbacks: .*drop_callbacks=True"):
        save(NeighborLSTMRegressor(callbacks=[EpochTimer()]), tmp_path / "b")
    with pytest.raises(TypeError, match=r"estimator\.memory: .*cannot be saved"):
        save(make_pipeline(NeighborListFeaturizer(), memory=joblib.Memory(None)), tmp_path / "c")
    assert not list(tmp_path.iterdir())  # nothing half-written


def _seed_design_file(mp_sample, tmp_path):
    """A file as written before the continuous design (no version, no ``neighbors``)."""
    lists = NeighborListFeaturizer().transform(mp_sample.data[:40])
    y = mp_sample.target[:40, 0]
    model = NeighborLSTMRegressor(**LSTM, random_state=0, neighbors="sequence", atoms="distinct")
    model.fit(lists, y)
    path = save(model, tmp_path / "new.safetensors")
    tree = json.loads(_header(path)["estimator"])
    assert tree.pop("architecture_version") == 2
    del tree["params"]["neighbors"]
    old = _rewrite(
        path,
        tmp_path / "seed_design.safetensors",
        header={"estimator": json.dumps(tree)},
        keep_digest=False,
    )
    return model, lists, old, tree


def test_drop_callbacks_stores_none_for_every_member_and_leaves_the_model_alone(
    tmp_path, mp_sample
):
    lists = NeighborListFeaturizer().transform(mp_sample.data[:30])
    y = mp_sample.target[:30, 0]
    timer = EpochTimer()
    model = SeedEnsembleRegressor(
        NeighborLSTMRegressor(**LSTM, callbacks=[timer]), random_states=[0, 1]
    ).fit(lists, y)
    with pytest.raises(TypeError, match=r"estimator\.estimator\.callbacks"):
        save(model, tmp_path / "refused.safetensors")
    path = save(model, tmp_path / "model.safetensors", drop_callbacks=True)
    loaded = load(path)
    assert loaded.estimator.callbacks is None
    assert all(member.callbacks is None for member in loaded.estimators_)
    assert model.estimator.callbacks == [timer]  # the estimator saved is not changed
    assert all(member.callbacks is not None for member in model.estimators_)
    np.testing.assert_array_equal(loaded.predict(lists), model.predict(lists))


def test_a_file_of_the_seed_design_loads_as_the_seed_design(mp_sample, tmp_path):
    model, lists, old, _ = _seed_design_file(mp_sample, tmp_path)
    loaded = load(old)
    assert loaded.neighbors == "sequence" and loaded.atoms == "distinct"  # not today's defaults
    np.testing.assert_array_equal(loaded.predict(lists), model.predict(lists))


def test_a_file_of_a_newer_design_is_refused(mp_sample, tmp_path):
    _, _, old, tree = _seed_design_file(mp_sample, tmp_path)
    tree["architecture_version"] = 99
    bad = _rewrite(
        old,
        tmp_path / "future.safetensors",
        header={"estimator": json.dumps(tree)},
        keep_digest=False,
    )
    with pytest.raises(ModelFileError, match=r"network design version 99.*upgrade"):
        load(bad)


def _fitted_nodes(node, name):
    """Every fitted estimator node of class ``name`` in a file's tree."""
    if isinstance(node, dict):
        if node.get("__estimator__") == name and node.get("fitted"):
            yield node
        for value in node.values():
            yield from _fitted_nodes(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from _fitted_nodes(value, name)


def test_the_shipped_files_of_the_seed_design_would_load_as_it(tmp_path):
    """Today's files say their design; the two released before it carry none."""
    from sklearn_bandgap.pretrained._registry import MODELS_DIR

    for path in sorted(MODELS_DIR.glob("*.safetensors")):
        tree = json.loads(_header(path)["estimator"])
        members = list(_fitted_nodes(tree, "NeighborLSTMRegressor"))
        assert members
        for member in members:
            if "architecture_version" not in member:
                assert "neighbors" not in member["params"]  # loads with neighbors="sequence"
            else:
                assert member["params"]["neighbors"] == "shells"


def test_a_prefit_model_is_written_once(mp_sample, tmp_path):
    """ConformalRegressor(prefit=True): estimator_ is its estimator, stored once, loaded as one."""
    X, y = mp_sample.data[:60], mp_sample.target[:60, 0]
    pipeline = make_pipeline(
        NeighborListFeaturizer(), NeighborLSTMRegressor(**LSTM, random_state=0)
    ).fit(X[:40], y[:40])
    conformal = ConformalRegressor(pipeline, prefit=True).fit(X[40:], y[40:])
    alone = save(pipeline, tmp_path / "alone.safetensors").stat().st_size
    wrapped = save(conformal, tmp_path / "wrapped.safetensors").stat().st_size
    assert wrapped < alone + 4096  # the weights once, not twice
    loaded = load(tmp_path / "wrapped.safetensors")
    assert loaded.estimator_ is loaded.estimator
    np.testing.assert_array_equal(loaded.predict(X[40:]), conformal.predict(X[40:]))
