"""The shipped models: present, documented, loadable, and ordinary sklearn estimators."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from sklearn_bandgap.baselines import compare, make_dummy
from sklearn_bandgap.io import read_metadata
from sklearn_bandgap.model_selection import formula_groups
from sklearn_bandgap.pretrained import (
    DEFAULT_MODEL,
    list_pretrained,
    load_pretrained,
    model_card,
    pretrained_path,
)
from sklearn_bandgap.pretrained._recipes import RECIPES

NAMES = ["band_gap_mp2018", "band_gap_mp2018_chgnet", "formation_energy_mp2018"]
COLUMN = {"band_gap_mp2018": 0, "band_gap_mp2018_chgnet": 0, "formation_energy_mp2018": 1}
BAND_GAP = ("band_gap_mp2018", "band_gap_mp2018_chgnet")


def test_the_models_ship():
    assert list_pretrained() == NAMES and DEFAULT_MODEL in NAMES
    with pytest.raises(ValueError, match="No pretrained model named 'gap'; shipped: band_gap"):
        load_pretrained("gap")


@pytest.mark.parametrize("name", NAMES)
def test_card_describes_the_model_and_its_file(name):
    card = model_card(name)
    path = pretrained_path(name)
    assert card["name"] == name
    assert card["file"]["bytes"] == path.stat().st_size <= 8 * 1024 * 1024
    assert card["file"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["data"]["licence"].startswith("CC BY 4.0")
    assert card["split"] == {
        "kind": "GroupShuffleSplit on reduced formulas",
        "test_size": 0.1,
        "seed": 0,
        "n_train": 29811,
        "n_test": 3333,
    }
    assert "never saw the test split" in card["trained_on"]
    assert card["training"]["command"].startswith("python benchmarks/train_pretrained.py")
    assert {"sklearn_bandgap", "torch", "scikit-learn"} <= set(card["versions"])
    pooled = card["recipe"].get("pooled_members", [])
    assert len(card["members"]) == len(card["recipe"]["random_states"]) + sum(
        len(part["random_states"]) for part in pooled
    )
    test = card["test"]
    if name in BAND_GAP:
        assert {"all", "gap_positive", "roc_auc"} <= set(test)
    else:
        assert test["n"] == 3333
    assert read_metadata(path)["metadata"]["outputs"] == card["outputs"]
    if name == "band_gap_mp2018_chgnet":  # the card says what CHGNet saw
        assert "MPtrj" in card["note"] and card["recipe"]["featurizer_params"] == {
            "atom_features": "chgnet"
        }
    recipe = RECIPES[name]
    # the file is the recipe's: its columns, seeds and settings (an edited recipe needs a re-export)
    assert card["recipe"]["columns"] == list(recipe.columns)
    assert card["recipe"]["random_states"] == list(recipe.random_states)
    assert card["recipe"]["regressor_params"] == recipe.regressor_params
    if recipe.teacher is not None:  # distilled: the card names the teacher and what it saw
        assert card["recipe"]["teacher"]["model"] == recipe.teacher
        assert card["recipe"]["teacher"]["weight"] == recipe.teacher_weight
        assert card["recipe"]["teacher"].get("members") == recipe.teacher_members
        assert "MPtrj" in card["note"]
    else:
        assert "teacher" not in card["recipe"]
    # pooled members of other recipes: named, and what their teachers saw said
    assert [(p["recipe"], p["members"], tuple(p["random_states"])) for p in pooled] == [
        (name, folder, seeds) for name, folder, seeds in recipe.pooled_members
    ]
    if any(RECIPES[p["recipe"]].teacher is not None for p in pooled):
        assert "MPtrj" in card["note"]


@pytest.mark.parametrize("name", NAMES)
def test_shipped_models_predict_the_sample(name, mp_sample):
    model = load_pretrained(name)
    assert isinstance(model, Pipeline)
    y_pred = model.predict(mp_sample.data)
    assert y_pred.shape == (200,) and np.isfinite(y_pred).all()
    y_true = mp_sample.target[:, COLUMN[name]]
    if name in BAND_GAP:
        assert (y_pred >= 0).all()
    # a trained model, far better than predicting the mean (the sample overlaps training)
    assert np.mean(np.abs(y_pred - y_true)) < 0.5 * np.mean(np.abs(y_true - y_true.mean()))


def test_a_shipped_model_in_compare_and_cross_val_predict(mp_sample):
    X, y = mp_sample.data[:60], mp_sample.target[:60, 1]
    groups = formula_groups(X)
    frozen = FrozenEstimator(load_pretrained("formation_energy_mp2018"))
    table = compare(
        {"shipped": frozen, "mean": make_dummy()}, X, y, cv=GroupKFold(3), groups=groups
    )
    assert table.loc["shipped", "mae_mean"] < table.loc["mean", "mae_mean"]
    # unfrozen, a clone's conformal step has no fitted model: prefit=True says so; with
    # prefit=False each fold refits the recipe (here cut to 2 epochs) and re-conformalizes
    model = load_pretrained("formation_energy_mp2018")
    with pytest.raises(ValueError, match="prefit=True needs a fitted estimator"):
        cross_val_predict(model, X, y, cv=GroupKFold(2), groups=groups)
    # the band-gap members pooled in need band gaps and Fermi levels too: left out here
    model.set_params(
        conformalregressor__prefit=False,
        conformalregressor__estimator__formation_energy_mp2018__estimator__max_epochs=2,
        conformalregressor__estimator__band_gap_mp2018="drop",
    )
    X, y = mp_sample.data, mp_sample.target[:, 1]
    y_cv = cross_val_predict(model, X, y, cv=GroupKFold(2), groups=formula_groups(X))
    assert y_cv.shape == (200,) and np.isfinite(y_cv).all()


def test_a_shipped_file_that_differs_from_its_card_is_refused(tmp_path, monkeypatch, capsys):
    import json
    import shutil
    from pathlib import Path

    from sklearn_bandgap.cli import main
    from sklearn_bandgap.io import ModelFileError
    from sklearn_bandgap.pretrained import _registry

    for path in _registry.MODELS_DIR.iterdir():
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(_registry, "MODELS_DIR", tmp_path)
    load_pretrained("band_gap_mp2018")  # the copies match their cards
    card = tmp_path / "band_gap_mp2018.json"
    content = json.loads(card.read_text())
    content["file"]["sha256"] = "0" * 64  # as if the weights had been swapped
    card.write_text(json.dumps(content))
    with pytest.raises(ModelFileError, match="not the one its model card records"):
        load_pretrained("band_gap_mp2018")
    cif = Path(_registry.__file__).parent / "examples" / "Si_diamond.cif"
    assert main(["predict", str(cif)]) == 2
    assert "model card" in capsys.readouterr().err
