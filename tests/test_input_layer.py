"""One input layer: every estimator takes the same containers of structures, and the layers hold."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.io.vasp import Poscar
from sklearn.model_selection import KFold

from sklearn_bandgap.baselines import compare, make_dummy, make_rf_magpie
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.translation import IdentityTranslator, RelaxationTranslator
from sklearn_bandgap.utils._validation import as_item_list

PACKAGE = Path(__file__).parents[1] / "sklearn_bandgap"


def _object_array(structures):
    array = np.empty(len(structures), dtype=object)
    array[:] = structures
    return array


CONTAINERS = {
    "list": list,
    "tuple": tuple,
    "series": pd.Series,
    "one-column frame": lambda s: pd.DataFrame({"structure": s}),
    "1-D object array": _object_array,
    "column array": lambda s: pd.DataFrame({"structure": s})[["structure"]].values,
    "poscar text": lambda s: [str(Poscar(x)) for x in s],
    "cif text": lambda s: [x.to(fmt="cif") for x in s],
}


@pytest.fixture(scope="module")
def crystals(mp_sample):
    return mp_sample.data[:12], mp_sample.target[:12, 1]


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_every_estimator_takes_every_container(container, crystals):
    structures, y = crystals
    X = CONTAINERS[container](structures)
    reference = NeighborListFeaturizer().transform(structures)
    lists = NeighborListFeaturizer().transform(X)
    np.testing.assert_allclose(lists.distances, reference.distances, atol=1e-5)
    assert len(IdentityTranslator().fit(X).transform(X)) == 12
    assert make_rf_magpie(n_estimators=5).fit(X, y).predict(X).shape == (12,)
    table = compare({"mean": make_dummy()}, X, y, cv=KFold(2))
    assert table.loc["mean", "n_folds"] == 2


def test_numpy_unpacking_structures_into_sites_is_undone(nacl):
    """np.array(structures, dtype=object) of equal-size structures is a 2-D array of sites."""
    packed = np.array([nacl, nacl.copy()], dtype=object)
    assert packed.shape == (2, 8)
    items = as_item_list(packed)
    assert [s == nacl for s in items] == [True, True]
    lists = NeighborListFeaturizer().transform(packed)
    np.testing.assert_array_equal(lists[0].distances, lists[1].distances)


def test_single_structures_and_wide_frames_are_refused_by_name(nacl):
    with pytest.raises(TypeError, match="one Structure: use \\[it\\]"):
        as_item_list(nacl)
    with pytest.raises(ValueError, match="DataFrame with 2 columns"):
        IdentityTranslator().fit(pd.DataFrame({"a": [nacl], "b": [1]}))
    with pytest.raises(ValueError, match="relaxed holds no structures"):
        RelaxationTranslator().fit([nacl], relaxed=[])


def test_random_state_instances_are_accepted(mp_sample, nrel_sample):
    """A RandomState passed validation and then raised a TypeError in seeding."""
    lists = NeighborListFeaturizer().transform(mp_sample.data[:40])
    small = dict(max_epochs=1, atom_hidden=8, crystal_hidden=8, head_hidden=8)
    model = NeighborLSTMRegressor(**small, random_state=np.random.RandomState(0))
    assert model.fit(lists, mp_sample.target[:40, 0]).predict(lists).shape == (40,)
    a = NeighborLSTMRegressor(**small, random_state=np.random.RandomState(3)).fit(
        lists, mp_sample.target[:40, 0]
    )
    b = NeighborLSTMRegressor(**small, random_state=np.random.RandomState(3)).fit(
        lists, mp_sample.target[:40, 0]
    )
    np.testing.assert_array_equal(a.predict(lists), b.predict(lists))  # same stream, same model
    translator = RelaxationTranslator(
        hidden=8, n_layers=1, max_epochs=1, random_state=np.random.RandomState(0)
    )
    translator.fit(nrel_sample.unrelaxed[:20], relaxed=nrel_sample.relaxed[:20])
    assert len(translator.transform(nrel_sample.unrelaxed[:2])) == 2


# ------------------------------------------------------------------ the layers
def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("sklearn_bandgap")}


def _package_imports(subpackage: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(PACKAGE)): _imports(path)
        for path in (PACKAGE / subpackage).rglob("*.py")
    }


@pytest.mark.parametrize(
    ("subpackage", "forbidden"),
    [
        ("translation", ("sklearn_bandgap.models", "sklearn_bandgap.baselines")),
        ("models", ("sklearn_bandgap.translation", "sklearn_bandgap.baselines")),
        ("featurizers", ("sklearn_bandgap.models", "sklearn_bandgap.translation")),
        (
            "utils",
            (
                "sklearn_bandgap.featurizers",
                "sklearn_bandgap.models",
                "sklearn_bandgap.translation",
                "sklearn_bandgap.baselines",
                "sklearn_bandgap.datasets",
            ),
        ),
        ("_nn", ("sklearn_bandgap.models", "sklearn_bandgap.translation")),
        ("datasets", ("sklearn_bandgap.featurizers", "sklearn_bandgap.models")),
    ],
)
def test_lower_layers_never_import_upper_or_sibling_ones(subpackage, forbidden):
    offending = {
        module: sorted(name for name in names if name.startswith(forbidden))
        for module, names in _package_imports(subpackage).items()
    }
    assert not {module: names for module, names in offending.items() if names}


@pytest.mark.parametrize("net", ["models/_module.py", "translation/_module.py"])
def test_the_torch_nets_import_nothing_from_the_estimators(net):
    allowed = {"sklearn_bandgap._nn._expansion", "sklearn_bandgap.utils._elements"}
    assert _imports(PACKAGE / net) <= allowed
