"""The checkpointed members of ``train_pretrained.py``: where they are, and whether they fit.

Shared by ``train_pretrained.py`` (which trains them) and ``export_pretrained.py``
(which assembles them into the shipped ensembles), so that neither script imports
the other's module.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from skorch.dataset import Dataset

from sklearn_bandgap._nn._training import CompositionGroupSplit, seed_of
from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
from sklearn_bandgap.datasets._home import find_data_file
from sklearn_bandgap.datasets._mp import MP_FILES
from sklearn_bandgap.datasets._nrel import NREL_FILES
from sklearn_bandgap.featurizers import NeighborListFeaturizer, NeighborLists
from sklearn_bandgap.featurizers._potential_features import cached_chgnet_atom_features
from sklearn_bandgap.model_selection import SPLIT_RANDOM_STATE
from sklearn_bandgap.models._base import ARCHITECTURE_VERSION
from sklearn_bandgap.pretrained._recipes import EXTRA_CRYSTAL_SETS, Recipe


def member_settings(recipe: Recipe, seed: int, n_train: int) -> dict[str, Any]:
    """What a checkpoint must have been trained with to be reused (threads apart).

    The torch thread count changes results at the ~1e-7 level only; a member
    trained with another count than the recipe's (``--threads``) is reused and
    its count is recorded beside these settings (``torch_threads``).
    """
    settings = {
        "recipe": recipe.name,
        "columns": list(recipe.columns),
        "regressor_params": {**recipe.regressor_params, "random_state": seed},
        "architecture_version": ARCHITECTURE_VERSION,
        "n_train": n_train,
        "split_seed": SPLIT_RANDOM_STATE,
        "sklearn_bandgap": version("sklearn_bandgap"),
    }
    if recipe.featurizer_params:  # absent from the settings of members before it
        settings["featurizer_params"] = dict(recipe.featurizer_params)
    if recipe.teacher is not None:  # likewise
        settings["teacher"] = {"model": recipe.teacher, "weight": recipe.teacher_weight}
        if recipe.teacher_members is not None:  # likewise: the shipped file's otherwise
            settings["teacher"]["members"] = recipe.teacher_members
        if recipe.teacher_folds:  # likewise: out-of-fold labels
            settings["teacher"]["folds"] = recipe.teacher_folds
    if recipe.extra_crystals is not None:  # likewise
        settings["extra_crystals"] = recipe.extra_crystals
    return settings


def checkpoint_paths(work_dir: Path, recipe: Recipe, seed: int) -> tuple[Path, Path]:
    """The member's checkpoint (a model file of :func:`sklearn_bandgap.io.save`) and its JSON."""
    stem = work_dir / f"{recipe.name}_seed{seed}"
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def finished_member(work_dir: Path, recipe: Recipe, seed: int, n_train: int) -> bool:
    """True if the member's checkpoint exists and was trained with today's settings."""
    model_path, info_path = checkpoint_paths(work_dir, recipe, seed)
    if not (model_path.is_file() and info_path.is_file()):
        return False
    info = json.loads(info_path.read_text())
    settings = {k: v for k, v in info["settings"].items() if k != "torch_threads"}
    return bool(settings == member_settings(recipe, seed, n_train))


def member_threads(info: dict[str, Any]) -> int | None:
    """Torch threads a member trained with (older checkpoints kept it in their settings)."""
    threads = info.get("torch_threads", info["settings"].get("torch_threads"))
    return None if threads is None else int(threads)


def validation_rows(member: Any, lists: Any) -> np.ndarray:
    """Rows (of ``lists``) of the member's early-stopping validation part.

    A loaded member's net carries no seeded split (it is rebuilt for
    prediction), so the split ``fit`` used is rebuilt from ``random_state``.
    """
    split = CompositionGroupSplit(member.validation_fraction, seed_of(member.random_state))
    # members fitted before version 2 drew their groups from the merged rows
    merged_groups = getattr(member, "validation_split_version_", 1) < 2
    model_input = member._model_input(lists, merged_groups=merged_groups)
    _, valid = split(Dataset(model_input, None))  # groups come from X
    return np.sort(np.asarray(valid.indices))


def rows_neither_trained_on(
    held_out_a: np.ndarray, held_out_b: np.ndarray, formula: np.ndarray
) -> np.ndarray:
    """Rows two members both held out whose reduced formula neither trained on.

    ``held_out_*``: each member's validation rows (:func:`validation_rows`);
    ``formula``: the reduced formulas of the training part they index. Members
    whose validation parts differ (other recipes draw other composition groups
    from one seed) are compared on this common ground.
    """
    everything = np.arange(len(formula))
    trained = set(formula[np.setdiff1d(everything, held_out_a)])
    trained |= set(formula[np.setdiff1d(everything, held_out_b)])
    both = np.intersect1d(held_out_a, held_out_b)
    return np.array([r for r in both if formula[r] not in trained], dtype=np.int64)


def mp_neighbor_lists(structures: list[Any], atom_features: str | None = None) -> NeighborLists:
    """Neighbour lists of all MP structures, with CHGNet's atom features if asked.

    The CHGNet features of the full set are cached (computed once, minutes);
    they equal what ``NeighborListFeaturizer(atom_features="chgnet")`` attaches.
    """
    lists = NeighborListFeaturizer().transform(structures)
    if atom_features is None:
        return lists
    if atom_features != "chgnet":
        raise ValueError(f"unknown atom_features {atom_features!r}")
    features = cached_chgnet_atom_features(
        find_data_file(MP_FILES["full"]), structures, progress=True, n_jobs=-1
    )
    return lists.with_atom_features(features)


def unlabelled_crystal_lists(name: str, atom_features: str | None = None) -> dict[str, Any]:
    """A recipe's ``extra_crystals``: lists as a student and as its teacher read them.

    Returns ``{"student": NeighborLists, "teacher": NeighborLists, "formula":
    reduced formulas}``; the teacher's lists carry its atom features (CHGNet's
    of the NREL relaxed structures are cached once, about 10 minutes).
    """
    if name != "nrel_relaxed":
        raise ValueError(f"unknown extra crystals {name!r} (known: {list(EXTRA_CRYSTAL_SETS)})")
    nrel = load_nrel_relaxation_pairs(progress=False)
    relaxed = list(nrel.relaxed)
    student = NeighborListFeaturizer().transform(relaxed)
    teacher = student
    if atom_features == "chgnet":
        features = cached_chgnet_atom_features(
            find_data_file(NREL_FILES["full"]), relaxed, part="relaxed", progress=True, n_jobs=-1
        )
        teacher = student.with_atom_features(features)
    elif atom_features is not None:
        raise ValueError(f"unknown atom_features {atom_features!r}")
    return {"student": student, "teacher": teacher, "formula": np.asarray(nrel.formula)}
