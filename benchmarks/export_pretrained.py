"""Second phase of ``train_pretrained.py``: ensembles from trained members, measured and saved.

Not run alone: ``train_pretrained.py`` calls :func:`export_recipe` once its
members are trained. Each recipe's members become the ``SeedEnsembleRegressor``
their seeds define, after a ``NeighborListFeaturizer``; the pipeline is saved
with :func:`sklearn_bandgap.io.save`, loaded back, and the *loaded* pipeline is
measured once on the test split (what ships is what was measured). The model
card (JSON) goes beside the weights in ``sklearn_bandgap/pretrained/models/``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from _members import checkpoint_paths, finished_member, member_threads
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.datasets import MP_UNITS as UNITS
from sklearn_bandgap.experiments import plot_parity
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import load, save
from sklearn_bandgap.metrics import band_gap_report, regression_report
from sklearn_bandgap.models import NeighborLSTMRegressor, SeedEnsembleRegressor
from sklearn_bandgap.models._base import ARCHITECTURE_VERSION
from sklearn_bandgap.pretrained._recipes import Recipe
from sklearn_bandgap.pretrained._registry import MODELS_DIR

DATA = {
    "set": "mp_gap_eform (33,144 Materials Project structures, circa 2018)",
    "licence": "CC BY 4.0 (Materials Project data)",
    "source": "public repository kdmsit/MEGNet (data/*.cif, id_prop.csv), "
    "the set of the MT-CGCNN and CrysXPP papers",
    "cite": [
        "Jain et al., APL Materials 1, 011002 (2013)",
        "Sanyal et al., arXiv:1811.05660 (2018)",
    ],
}
MAX_BYTES = 8 * 1024 * 1024


def assemble(recipe: Recipe, work_dir: Path, lists_train: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The fitted pipeline of a recipe's checkpointed members, and their training records."""
    n_train = len(lists_train)
    template = NeighborLSTMRegressor(**recipe.regressor_params)
    members, infos = [], []
    for seed in recipe.random_states:
        if not finished_member(work_dir, recipe, seed, n_train):
            raise RuntimeError(f"{recipe.name}: member with seed {seed} is not trained yet.")
        model_path, info_path = checkpoint_paths(work_dir, recipe, seed)
        members.append(load(model_path))
        infos.append(json.loads(info_path.read_text()))
    # What SeedEnsembleRegressor.fit would make: its clones, fitted on the same data
    # (from_fitted checks each member's parameters against its seed's clone).
    ensemble = SeedEnsembleRegressor.from_fitted(
        template, members, random_states=list(recipe.random_states)
    )
    return make_pipeline(NeighborListFeaturizer(), ensemble), infos


def training_wall_seconds(infos: list[dict[str, Any]]) -> float:
    """From the first member's start to the last member's end (members ran in parallel)."""
    ends = [datetime.fromisoformat(info["date"]).timestamp() for info in infos]
    starts = [end - info["fit_seconds"] for end, info in zip(ends, infos, strict=True)]
    return round(max(ends) - min(starts), 1)


def export_recipe(
    recipe: Recipe,
    *,
    work_dir: Path,
    lists_train: Any,
    test_structures: list[Any],
    y_test: np.ndarray,
    record: dict[str, Any],
    plot_path: Path,
) -> dict[str, Any]:
    """Assemble, save, reload and measure one shipped model; write its card; return figures."""
    pipeline, infos = assemble(recipe, work_dir, lists_train)
    weights = MODELS_DIR / f"{recipe.name}.safetensors"
    outputs = [{"name": recipe.target, "unit": UNITS[recipe.target]}]
    save(pipeline, weights, metadata={"name": recipe.name, "outputs": outputs})
    size = weights.stat().st_size
    if size > MAX_BYTES:
        raise RuntimeError(f"{weights} is {size / 2**20:.1f} MB, over the 8 MB limit.")
    shipped = load(weights)
    y_true = y_test[:, 0] if y_test.ndim == 2 else y_test
    y_pred = shipped.predict(test_structures)
    report = band_gap_report if recipe.target == "band_gap" else regression_report
    test = report(y_true, y_pred)
    members = []
    for seed, member, info in zip(
        recipe.random_states, shipped[-1].estimators_, infos, strict=True
    ):
        lists = shipped[0].transform(test_structures)
        members.append(
            {
                "random_state": seed,
                "epochs": info["epochs"],
                "best_epoch": info["best_epoch"],
                "fit_seconds": info["fit_seconds"],
                "test_mae": regression_report(y_true, member.predict(lists))["mae"],
            }
        )
    mae = test["all"]["mae"] if "all" in test else test["mae"]
    plot_parity(
        y_true,
        y_pred,
        title=f"{recipe.name}, test split ({len(y_true)} structures)\n"
        f"MAE {mae:.3f} {UNITS[recipe.target]}",
        unit=UNITS[recipe.target],
        path=plot_path,
    )
    card = {
        "name": recipe.name,
        "description": recipe.description,
        "outputs": outputs,
        "estimator": (
            f"Pipeline(NeighborListFeaturizer(), SeedEnsembleRegressor("
            f"{len(recipe.random_states)} x NeighborLSTMRegressor))"
        ),
        "architecture": {
            "version": ARCHITECTURE_VERSION,
            "neighbors": shipped[-1].estimators_[0].neighbors,
            "atoms": shipped[-1].estimators_[0].atoms,
            "continuous_in_positions": bool(
                shipped[-1].estimators_[0].neighbors == "shells"
                and shipped[-1].estimators_[0].atoms == "pooled"
            ),
            "note": "smooth radial shells per atom and symmetric pooling over atoms: "
            "predictions are continuous in the positions and the lattice and exactly "
            "invariant to site order, supercells, rotation, translation and cell choice "
            "(benchmarks/robustness.py, tests/test_properties.py)",
        },
        "data": DATA,
        "split": record["split"],
        "trained_on": "the training part of the split only (90 % of the formulas); "
        "the model never saw the test split, neither for training nor for early stopping",
        "test": test,
        "members": members,
        "recipe": {
            "columns": list(recipe.columns),
            "regressor_params": recipe.regressor_params,
            "random_states": list(recipe.random_states),
            "torch_threads_per_member": [member_threads(info) for info in infos],
        },
        "training": {
            "command": "python benchmarks/train_pretrained.py",
            "date": max(info["date"] for info in infos),
            "machine": record["machine"],
            "member_fit_seconds_total": round(sum(i["fit_seconds"] for i in infos), 1),
            "wall_seconds": training_wall_seconds(infos),
            "note": "members trained two at a time with one torch thread each, or alone "
            "with two (torch_threads_per_member)",
        },
        "versions": record["versions"],
        "file": {
            "name": weights.name,
            "bytes": size,
            "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        },
        "record": f"benchmarks/results/train_pretrained/{plot_path.parent.name}/record.json",
    }
    if "note" in record:
        card["note"] = record["note"]
    weights.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"{recipe.name}: test {json.dumps(test)}; {size / 2**20:.2f} MB", flush=True)
    return {key: card[key] for key in ("test", "members", "training", "file")}
