"""Where the shipped models live, and how they are listed and loaded."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

#: Folder of the shipped ``<name>.safetensors`` files and ``<name>.json`` cards.
MODELS_DIR = Path(__file__).parent / "models"
#: The model ``sklearn-bandgap predict`` uses unless told otherwise.
DEFAULT_MODEL = "band_gap_mp2018"


def list_pretrained() -> list[str]:
    """Names of the shipped pretrained models.

    Returns
    -------
    names : list of str
        Sorted; each is accepted by :func:`load_pretrained` and
        :func:`model_card`.
    """
    return sorted(
        path.stem
        for path in MODELS_DIR.glob("*.safetensors")
        if path.with_suffix(".json").is_file()
    )


def pretrained_path(name: str) -> Path:
    """The ``.safetensors`` file of a shipped model.

    Parameters
    ----------
    name : str
        One of :func:`list_pretrained`.

    Returns
    -------
    path : Path

    Raises
    ------
    ValueError
        If there is no shipped model of that name (the message lists them).
    """
    names = list_pretrained()
    if name not in names:
        shipped = ", ".join(names) if names else "none (the package was built without them)"
        raise ValueError(f"No pretrained model named {name!r}; shipped: {shipped}.")
    return MODELS_DIR / f"{name}.safetensors"


def model_card(name: str) -> dict[str, Any]:
    """The model card of a shipped model.

    Parameters
    ----------
    name : str
        One of :func:`list_pretrained`.

    Returns
    -------
    card : dict
        ``name``, ``description``, ``outputs`` (column names and units),
        ``data`` (set, licence, source), ``split`` (the project's formula-group
        split), ``test`` (figures on its test part, which the shipped model
        never saw), ``recipe`` (estimator settings and seeds), ``training``
        (command, date, machine, time), ``versions`` and ``file`` (size, SHA-256).
    """
    card: dict[str, Any] = json.loads(pretrained_path(name).with_suffix(".json").read_text())
    return card


def verify_shipped_file(path: str | os.PathLike[str]) -> None:
    """Check a shipped model file against the SHA-256 its card records.

    Files outside the shipped models' folder are not checked (a user's own
    model has no card). The digest inside a model file detects accidents; the
    card's digest, shipped beside it, detects a file edited or swapped after
    it was shipped.

    Raises
    ------
    sklearn_bandgap.io.ModelFileError
        If the file's SHA-256 differs from its card's.
    """
    from sklearn_bandgap.io import ModelFileError

    path = Path(path)
    card_path = path.with_suffix(".json")
    if path.resolve().parent != MODELS_DIR.resolve() or not card_path.is_file():
        return
    expected = json.loads(card_path.read_text()).get("file", {}).get("sha256")
    if expected is None:
        raise ModelFileError(path, "its model card records no sha256; reinstall the package")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise ModelFileError(
            path,
            f"its SHA-256 ({digest[:12]}...) is not the one its model card records "
            f"({expected[:12]}...): the file was changed after it shipped; reinstall the package",
        )


def load_pretrained(name: str) -> Any:
    """Load a shipped model: a fitted scikit-learn ``Pipeline`` that takes structures.

    It featurizes pymatgen structures, ``ase.Atoms``, CIF or POSCAR text and
    structure file paths, and predicts like any fitted pipeline, so it works
    in user pipelines, ``cross_val_predict`` (wrapped in
    ``sklearn.frozen.FrozenEstimator`` to keep its weights, or refitted on each
    fold after ``set_params(conformalregressor__prefit=False)``) and
    :func:`sklearn_bandgap.baselines.compare`. It is ``Pipeline(
    NeighborListFeaturizer(), DomainCheck(), ConformalRegressor(
    SeedEnsembleRegressor(...), prefit=True))``: ``predict(X, return_std=True)``
    gives the members' spread, ``model[-1].predict_interval(model[:-1].transform(X))``
    the 68 % and 90 % intervals.

    Parameters
    ----------
    name : str
        One of :func:`list_pretrained`.

    Returns
    -------
    model : sklearn.pipeline.Pipeline
        Fitted.

    Raises
    ------
    ValueError
        If no model has that name.
    sklearn_bandgap.io.ModelFileError
        If its file is damaged, or differs from the SHA-256 its model card
        records (:func:`verify_shipped_file`).
    """
    from sklearn_bandgap.io import load

    path = pretrained_path(name)
    verify_shipped_file(path)
    return load(path)
