"""Model files edited by hand or by an attacker: a correct load or a ModelFileError, nothing else.

Each hostile file here is re-signed (its SHA-256 digest recomputed), as
someone editing it on purpose would do, so that only the decoder's own checks
stand between the file and the estimator it builds.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import ModelFileError, load, save
from sklearn_bandgap.io._file import _digest
from sklearn_bandgap.models import NeighborLSTMRegressor

TINY = dict(max_epochs=1, embedding_dim=4, atom_hidden=4, crystal_hidden=4, head_hidden=4)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, analytic_crystals):
    model = make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor(**TINY, random_state=0))
    model.fit(analytic_crystals, np.arange(len(analytic_crystals), dtype=float))
    path = tmp_path_factory.mktemp("hostile") / "model.safetensors"
    save(model, path)
    return path


def _read(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    with safe_open(str(path), framework="numpy") as handle:
        header = dict(handle.metadata())
    return header, load_file(str(path))


def _resigned(path: Path, out: Path, edit: Any) -> Path:
    """A copy of ``path`` whose estimator description went through ``edit``, re-signed."""
    header, tensors = _read(path)
    tree = json.loads(header["estimator"])
    edited = edit(tree)
    header["estimator"] = json.dumps(tree if edited is None else edited)
    texts = {key: header.get(key, "") for key in ("estimator", "versions", "user")}
    header["sha256"] = _digest(texts, tensors)
    save_file(tensors, str(out), metadata=header)
    return out


def _regressor(tree):
    return tree["params"]["steps"][1]["__tuple__"][1]


def _featurizer(tree):
    return tree["params"]["steps"][0]["__tuple__"][1]


def test_the_untouched_file_loads(saved, analytic_crystals):
    assert load(_resigned(saved, saved.with_name("same.safetensors"), lambda t: None)).predict(
        analytic_crystals
    ).shape == (len(analytic_crystals),)


HOSTILE = {
    "a method replaced by a fitted value": lambda t: _regressor(t)["fitted"].update(
        {"predict": 1.0}
    ),
    "the instance dict": lambda t: _regressor(t)["fitted"].update({"__dict__": {"__dict__": {}}}),
    "a private attribute": lambda t: _regressor(t)["fitted"].update({"_secret_": 1}),
    "a parameter set as fitted": lambda t: _regressor(t)["fitted"].update({"lr": 5.0}),
    "a negative neighbour count": lambda t: _featurizer(t)["params"].update({"n_neighbors": -5}),
    "text where a number belongs": lambda t: _featurizer(t)["params"].update(
        {"n_neighbors": "many"}
    ),
    "a Pipeline cache folder": lambda t: t["params"].update({"memory": "/tmp/joblib-cache"}),
    "a top-level list": lambda t: [t],
    "an object scalar": lambda t: _regressor(t)["fitted"].update(
        {"y_mean_": {"__scalar__": "O", "value": 1}}
    ),
    "a huge string dtype": lambda t: _regressor(t)["fitted"].update(
        {"y_mean_": {"__str_array__": ["a"], "dtype": "<U999999999"}}
    ),
    "a missing tensor": lambda t: _regressor(t)["fitted"].update(
        {"y_mean_": {"__array__": "no such tensor"}}
    ),
    "an unknown class": lambda t: t.update({"__estimator__": "os.system"}),
    # sizes that would allocate the machine's memory before any weight is checked
    "a hidden width of 10**9": lambda t: _regressor(t)["params"].update({"atom_hidden": 10**9}),
    "an embedding of 10**6": lambda t: _regressor(t)["params"].update({"embedding_dim": 10**6}),
    "a slightly wider network": lambda t: _regressor(t)["params"].update({"atom_hidden": 8}),
    "no parameters": lambda t: t.pop("params"),
}


#: Edits that the naming rule alone let through: each class declares its fitted
#: attributes with their types (sklearn_bandgap.io._schema). Edit -> the reason.
UNDECLARED_OR_MISTYPED = {
    "an attribute no class declares": (
        lambda t: _regressor(t)["fitted"].update({"bogus_": 1.0}),
        r"bogus_: not a fitted attribute of NeighborLSTMRegressor",
    ),
    "another class's attribute": (
        lambda t: _regressor(t)["fitted"].update({"classes_": [0, 1]}),
        r"classes_: not a fitted attribute",
    ),
    "text where an int belongs": (
        lambda t: _regressor(t)["fitted"].update({"n_neighbors_": "19"}),
        r"n_neighbors_: expected an int, got str",
    ),
    "a number where an array belongs": (
        lambda t: _regressor(t)["fitted"].update({"y_mean_": 1.5}),
        r"y_mean_: expected an array, got float",
    ),
    "a list where an array belongs": (
        lambda t: _regressor(t)["fitted"].update({"elements_seen_": [1, 2]}),
        r"elements_seen_: expected an array, got list",
    ),
    "a fitted model without its network": (
        lambda t: _regressor(t)["fitted"].pop("net_") and None,
        r"without its fitted attribute\(s\) \['net_'\]",
    ),
    "a network where a number belongs": (
        lambda t: _regressor(t)["fitted"].update({"n_outputs_": {"__skorch_net__": []}}),
        r"n_outputs_",
    ),
}


@pytest.mark.parametrize("name", sorted(UNDECLARED_OR_MISTYPED))
def test_only_declared_fitted_attributes_of_their_type_load(saved, tmp_path, name):
    edit, reason = UNDECLARED_OR_MISTYPED[name]
    path = _resigned(saved, tmp_path / "edited.safetensors", edit)
    with pytest.raises(ModelFileError, match=reason):
        load(path)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_edits_are_refused(saved, tmp_path, name):
    path = _resigned(saved, tmp_path / "edited.safetensors", HOSTILE[name])
    with pytest.raises(ModelFileError):
        load(path)


def test_deep_nesting_is_refused(saved, tmp_path):
    header, tensors = _read(saved)
    body = header["estimator"]  # json.dumps would recurse as deep: write it by hand
    nested = "[" * 100_000 + "0" + "]" * 100_000
    header["estimator"] = body[:-1] + ', "deep": ' + nested + "}"
    texts = {key: header.get(key, "") for key in ("estimator", "versions", "user")}
    header["sha256"] = _digest(texts, tensors)
    save_file(tensors, str(tmp_path / "deep.safetensors"), metadata=header)
    with pytest.raises(ModelFileError):
        load(tmp_path / "deep.safetensors")
    shallow_but_long = _resigned(
        saved,
        tmp_path / "nested.safetensors",
        lambda t: _regressor(t)["fitted"].update({"y_mean_": json.loads("[" * 60 + "]" * 60)}),
    )
    with pytest.raises(ModelFileError, match="nested deeper"):
        load(shallow_but_long)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["__estimator__", "__array__", "__tuple__", "__dict__", "__scalar__", "dtype", "x_"]
            )
            | st.text(max_size=6),
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), value=JSON)
def test_fuzzed_files_load_or_raise_model_file_error(saved, tmp_path, data, value):
    """Any value put anywhere in the description: an estimator or ModelFileError, no side effect."""
    header, _ = _read(saved)
    original = json.loads(header["estimator"])
    where = data.draw(st.sampled_from(_paths(original)))

    def edit(tree):
        if not where:
            return copy.deepcopy(value)
        node = tree
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = copy.deepcopy(value)
        return None

    tripwire = tmp_path / "tripwire"
    tripwire.mkdir(exist_ok=True)
    before = sorted(tripwire.iterdir())
    path = _resigned(saved, tmp_path / "fuzzed.safetensors", edit)
    try:
        load(path)
    except ModelFileError:
        pass
    assert sorted(tripwire.iterdir()) == before
