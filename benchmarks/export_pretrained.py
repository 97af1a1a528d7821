"""Second phase of ``train_pretrained.py``: ensembles from trained members, measured and saved.

Not run alone: ``train_pretrained.py`` calls :func:`export_recipe` once its
members are trained. Each recipe's members become the ``SeedEnsembleRegressor``
their seeds define, wrapped in a ``ConformalRegressor`` (``prefit=True``)
conformalized on one half of the test formulas (GroupShuffleSplit, seed 0;
crystals no member saw), after a ``NeighborListFeaturizer`` and a
``DomainCheck`` fitted on the members' training lists. The pipeline is
saved with :func:`sklearn_bandgap.io.save`, loaded back, and the *loaded*
pipeline is measured once: point figures on the whole test split (the
conformal step does not change a point prediction), interval coverage on the
other half only. The model card (JSON) goes beside the weights in
``sklearn_bandgap/pretrained/models/``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from _members import checkpoint_paths, finished_member, member_threads, validation_rows
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.datasets import MP_UNITS as UNITS
from sklearn_bandgap.experiments import plot_parity
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import load, save
from sklearn_bandgap.metrics import (
    band_gap_report,
    choose_metal_threshold,
    interval_coverage_report,
    regression_report,
)
from sklearn_bandgap.models import (
    ConformalRegressor,
    DomainCheck,
    NeighborLSTMRegressor,
    PooledEnsembleRegressor,
    SeedEnsembleRegressor,
)
from sklearn_bandgap.models._base import ARCHITECTURE_VERSION
from sklearn_bandgap.pretrained._recipes import EXTRA_CRYSTAL_SETS, RECIPES, Recipe
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
#: The intervals every shipped model gives (``sklearn-bandgap predict`` columns).
CONFIDENCE_LEVELS = (0.68, 0.9)
#: Band gaps: intervals cut at 0, and the crystals predicted at most 0.1 eV (nearly
#: all metals) conformalized apart from the others (Mondrian), as measured in
#: benchmarks/results/intervals_pretrained/2026-11-30 (chosen there, before this).
BAND_GAP_INTERVALS = {"lower_bound": 0.0, "separate_at": 0.1}


def conformal_halves(formulas: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the test split to conformalize on, and rows to measure coverage on."""
    rows = np.arange(len(formulas))
    calibrate, measure = next(
        GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=0).split(rows, groups=formulas)
    )
    return calibrate, measure


def interval_figures(
    conformal: Any, lists: Any, y: np.ndarray, params: dict[str, Any]
) -> dict[str, Any]:
    """Coverage and mean width of each level on ``lists`` (the half not conformalized on)."""
    _, intervals = conformal.predict_interval(lists)
    subsets = {"all": np.ones(len(y), bool)}
    if params.get("separate_at") is not None:
        subsets["gap_positive"] = y > 0
        subsets["metals"] = y == 0
    return interval_coverage_report(y, intervals, subsets)


#: Where ``Recipe.pooled_members`` directories are (the member store).
MEMBER_STORE = Path(__file__).parent / "results" / "train_pretrained"


def seed_ensemble(
    recipe: Recipe,
    work_dir: Path,
    seeds: tuple[int, ...],
    n_train: int,
    output_column: int | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """The seed ensemble of a recipe's checkpointed members, and their training records.

    ``output_column``: the members predict that column of theirs (a pooled recipe's
    members predicting another recipe's target), set on members and template alike.
    """
    extra = {} if output_column is None else {"output_column": output_column}
    template = NeighborLSTMRegressor(**{**recipe.regressor_params, **extra})
    members, infos = [], []
    for seed in seeds:
        if not finished_member(work_dir, recipe, seed, n_train):
            raise RuntimeError(
                f"{recipe.name}: member with seed {seed} is not trained yet (in {work_dir})."
            )
        model_path, info_path = checkpoint_paths(work_dir, recipe, seed)
        members.append(load(model_path).set_params(**extra))
        infos.append({**json.loads(info_path.read_text()), "recipe": recipe.name, "seed": seed})
    # What SeedEnsembleRegressor.fit would make: its clones, fitted on the same data
    # (from_fitted checks each member's parameters against its seed's clone).
    ensemble = SeedEnsembleRegressor.from_fitted(template, members, random_states=list(seeds))
    return ensemble, infos


def assemble(recipe: Recipe, work_dir: Path, lists_train: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The fitted pipeline of a recipe's checkpointed members, and their training records.

    With ``pooled_members``, the other recipes' members (predicting this recipe's
    target column) join them in a ``PooledEnsembleRegressor``; the records list
    the recipe's own members first.
    """
    n_train = len(lists_train)
    ensemble, infos = seed_ensemble(recipe, work_dir, recipe.random_states, n_train)
    if recipe.pooled_members:
        parts = [(recipe.name, ensemble)]
        for name, folder, seeds in recipe.pooled_members:
            other = RECIPES[name]
            if other.featurizer_params != recipe.featurizer_params:
                raise RuntimeError(f"{recipe.name}: {name}'s members read other inputs.")
            part, part_infos = seed_ensemble(
                other, MEMBER_STORE / folder, seeds, n_train, other.columns.index(recipe.target)
            )
            parts.append((name, part))
            infos += part_infos
        ensemble = PooledEnsembleRegressor.from_fitted(parts)
    return make_pipeline(NeighborListFeaturizer(**recipe.featurizer_params), ensemble), infos


def metal_threshold(members: list[Any], lists_train: Any, y_train: np.ndarray) -> dict[str, Any]:
    """The "metal" threshold on the predicted gap, chosen on the members' validation parts.

    Each member predicts the crystals it held out for early stopping (10 % of the
    training part's compositions, seeded by its ``random_state``); the pooled
    predictions choose the threshold with the best balanced accuracy. The test
    split plays no part; the threshold is a single member's, which the
    ensemble mean (slightly less spread) inherits.
    """
    gaps = y_train[:, 0] if y_train.ndim == 2 else y_train
    truth, guesses = [], []
    for member in members:
        rows = validation_rows(member, lists_train)
        predicted = np.asarray(member.predict(lists_train[rows])).reshape(len(rows), -1)[:, 0]
        truth.append(gaps[rows])
        guesses.append(predicted)
    threshold, score = choose_metal_threshold(np.concatenate(truth), np.concatenate(guesses))
    return {
        "eV": threshold,
        "validation_balanced_accuracy": round(score, 4),
        "chosen_on": "each member's own early-stopping validation part (pooled, "
        f"{sum(len(t) for t in truth)} predictions); grid 0-1 eV in 0.01 eV steps",
    }


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
    y_train: np.ndarray,
    test_structures: list[Any],
    y_test: np.ndarray,
    formulas_test: Any,
    record: dict[str, Any],
    plot_path: Path,
) -> dict[str, Any]:
    """Assemble, conformalize, save, reload and measure one shipped model; write its card."""
    pipeline, infos = assemble(recipe, work_dir, lists_train)
    featurizer, ensemble = pipeline[0], pipeline[-1]
    y_true = y_test[:, 0] if y_test.ndim == 2 else y_test
    lists_test = featurizer.transform(test_structures)
    calibrate, measure = conformal_halves(formulas_test)
    interval_params = BAND_GAP_INTERVALS if recipe.target == "band_gap" else {}
    conformal = ConformalRegressor(
        ensemble, confidence_level=CONFIDENCE_LEVELS, prefit=True, **interval_params
    ).fit(lists_test[calibrate], y_true[calibrate])
    weights = MODELS_DIR / f"{recipe.name}.safetensors"
    outputs = [{"name": recipe.target, "unit": UNITS[recipe.target]}]
    domain = DomainCheck().fit(lists_train)  # the members' training lists
    save(
        make_pipeline(featurizer, domain, conformal),
        weights,
        metadata={"name": recipe.name, "outputs": outputs},
    )
    size = weights.stat().st_size
    if size > MAX_BYTES:
        raise RuntimeError(f"{weights} is {size / 2**20:.1f} MB, over the 8 MB limit.")
    shipped = load(weights)
    y_pred = shipped.predict(test_structures)
    pooled = isinstance(shipped[-1].estimator_, PooledEnsembleRegressor)
    shipped_members = (
        shipped[-1].estimator_.members_ if pooled else shipped[-1].estimator_.estimators_
    )
    own_infos = [info for info in infos if info["recipe"] == recipe.name]
    if recipe.target == "band_gap":
        metal = metal_threshold(shipped_members, lists_train, y_train)
        test = band_gap_report(y_true, y_pred, metal_threshold=metal["eV"])
    else:
        metal, test = None, regression_report(y_true, y_pred)
    intervals = {
        "method": "split conformal (MAPIE, absolute residual) around the ensemble mean, "
        "ConformalRegressor(prefit=True); conformalized on one half of the test formulas "
        "(GroupShuffleSplit, test_size 0.5, seed 0), coverage measured on the other half",
        "confidence_levels": list(CONFIDENCE_LEVELS),
        **interval_params,
        "half_widths": shipped[-1].half_widths_.round(4).tolist(),
        **(
            {"low_half_widths": shipped[-1].low_half_widths_.round(4).tolist()}
            if interval_params
            else {}
        ),
        "n_conformalize": int(shipped[-1].n_conformalize_),
        "measured_on_other_half": interval_figures(
            shipped[-1], lists_test[measure], y_true[measure], interval_params
        ),
    }
    members = []
    member_predictions = []
    for member, info in zip(shipped_members, infos, strict=True):
        member_predictions.append(np.asarray(member.predict(lists_test), dtype=float))
        members.append(
            {
                **({"recipe": info["recipe"]} if pooled else {}),
                "random_state": info["seed"],
                "epochs": info["epochs"],
                "best_epoch": info["best_epoch"],
                "fit_seconds": info["fit_seconds"],
                "test_mae": regression_report(y_true, member_predictions[-1])["mae"],
            }
        )
    # What the first k members would score together (a measurement, not a choice:
    # the recipe fixes the members before any test figure).
    first_k = {
        str(k): regression_report(y_true, np.mean(member_predictions[:k], axis=0))["mae"]
        for k in range(1, len(member_predictions) + 1)
    }
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
            f"Pipeline({featurizer!r}, DomainCheck(), ConformalRegressor("
            + (
                "PooledEnsembleRegressor(["
                + ", ".join(
                    f"SeedEnsembleRegressor({len(seeds)} x NeighborLSTMRegressor of {name})"
                    for name, seeds in [
                        (recipe.name, recipe.random_states),
                        *((n, s) for n, _, s in recipe.pooled_members),
                    ]
                )
                + "])"
                if pooled
                else f"SeedEnsembleRegressor({len(recipe.random_states)} x NeighborLSTMRegressor)"
            )
            + ", prefit=True))"
        ),
        "architecture": {
            "version": ARCHITECTURE_VERSION,
            "neighbors": shipped_members[0].neighbors,
            "atoms": shipped_members[0].atoms,
            "continuous_in_positions": bool(
                shipped_members[0].neighbors == "shells" and shipped_members[0].atoms == "pooled"
            ),
            "note": "smooth radial shells per atom and symmetric pooling over atoms: "
            "predictions are continuous in the positions and the lattice and exactly "
            "invariant to site order, supercells, rotation, translation and cell choice "
            "(benchmarks/robustness.py, tests/test_properties.py)",
        },
        "data": DATA,
        "split": record["split"],
        "trained_on": "the training part of the split only (90 % of the formulas); "
        "the network never saw the test split, neither for training nor for early stopping; "
        "only the intervals' half widths come from one half of its formulas (intervals)",
        "test": test,
        **({"metal_threshold": metal} if metal else {}),
        "intervals": intervals,
        "domain_check": {
            "factor": domain.factor,
            "test_crystals_flagged": len(domain.problems(lists_test)),
            "note": "DomainCheck warns about crystals with a neighbour closer than factor x the "
            "shortest seen in training for its element and rank",
        },
        "members": members,
        "test_mae_of_the_first_k_members": first_k,
        "recipe": {
            "columns": list(recipe.columns),
            "regressor_params": recipe.regressor_params,
            **({"featurizer_params": recipe.featurizer_params} if recipe.featurizer_params else {}),
            **(
                {
                    "teacher": {
                        "model": recipe.teacher,
                        "weight": recipe.teacher_weight,
                        **({"members": recipe.teacher_members} if recipe.teacher_members else {}),
                        **({"folds": recipe.teacher_folds} if recipe.teacher_folds else {}),
                        "note": (
                            "each member trained on (1 - weight) x DFT + weight x the "
                            + (
                                "out-of-fold prediction of the teacher's fold members trained "
                                "for its seed (each row by the one that left its fold out; "
                                "the validation part by their mean)"
                                if recipe.teacher_folds
                                else "prediction of the teacher's member of the same seed"
                            )
                            + ", in the target column; the teacher's members never saw the "
                            "test split either"
                        ),
                    }
                }
                if recipe.teacher
                else {}
            ),
            **(
                {
                    "extra_crystals": {
                        "set": recipe.extra_crystals,
                        "description": EXTRA_CRYSTAL_SETS[recipe.extra_crystals],
                        "n_per_member": [info.get("extra_crystals", 0) for info in own_infos],
                        "note": "training-only crystals labelled by the teacher's member of the "
                        "same seed (other columns missing), never in a validation part; those of "
                        "a test formula or outside the teacher member's domain left out",
                    }
                }
                if recipe.extra_crystals
                else {}
            ),
            "random_states": list(recipe.random_states),
            "torch_threads_per_member": [member_threads(info) for info in own_infos],
            **(
                {
                    "pooled_members": [
                        {
                            "recipe": name,
                            "members": folder,
                            "random_states": list(seeds),
                            "output_column": RECIPES[name].columns.index(recipe.target),
                        }
                        for name, folder, seeds in recipe.pooled_members
                    ],
                    "pooled_note": "members of another shipped recipe, trained by that recipe "
                    "(its card says how), predicting this model's target from their "
                    f"{recipe.target} output; every member weighs the same "
                    "(PooledEnsembleRegressor)",
                }
                if recipe.pooled_members
                else {}
            ),
        },
        "training": {
            "command": "python benchmarks/train_pretrained.py",
            "date": max(info["date"] for info in own_infos),
            "machine": record["machine"],
            "member_fit_seconds_total": round(sum(i["fit_seconds"] for i in own_infos), 1),
            "wall_seconds": training_wall_seconds(own_infos),
            "note": "members trained in parallel (up to three at a time) with one torch "
            "thread each, or alone with two (torch_threads_per_member)",
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
    keys = (
        "test",
        "metal_threshold",
        "intervals",
        "domain_check",
        "members",
        "test_mae_of_the_first_k_members",
        "training",
        "file",
    )
    return {key: card[key] for key in keys if key in card}
