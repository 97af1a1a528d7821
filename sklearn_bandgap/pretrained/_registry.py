"""Where the shipped models live, and how they are listed and loaded."""

from __future__ import annotations

import json
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


def load_pretrained(name: str) -> Any:
    """Load a shipped model: a fitted scikit-learn ``Pipeline`` that takes structures.

    It featurizes pymatgen structures, ``ase.Atoms``, CIF or POSCAR text and
    structure file paths, and predicts like any fitted pipeline, so it works
    in user pipelines, ``cross_val_predict`` (refitted on each fold, or wrapped
    in ``sklearn.frozen.FrozenEstimator`` to keep its weights) and
    :func:`sklearn_bandgap.baselines.compare`.

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
        If its file is damaged.
    """
    from sklearn_bandgap.io import load

    return load(pretrained_path(name))
