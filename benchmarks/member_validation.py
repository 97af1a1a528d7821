"""Compare two training recipes member by member on each member's own validation part.

Every member of ``train_pretrained.py`` holds out 10 % of the training part's
compositions for early stopping (``CompositionGroupSplit``, seeded by its
``random_state``). Two members of the same seed trained with two recipes
(e.g. the shipped one and ``--param ema_epochs=2``) hold out the *same*
crystals, so their errors there compare the recipes paired, at full scale,
without the test split. This script rebuilds each member's validation part,
predicts it with both members and reports the MAE of every target column
(band gaps clipped at 0), writing ``benchmarks/results/member_validation/<run>/``.

Usage::

    python benchmarks/member_validation.py \\
        --baseline results/train_pretrained/members \\
        --candidate results/train_pretrained/members-ema2 --run 2026-12-04-ema2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model, git_commit, run_dir, write_record
from _members import (
    checkpoint_paths,
    mp_neighbor_lists,
    rows_neither_trained_on,
    validation_rows,
)

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.io import load
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.pretrained._recipes import RECIPES

COLUMNS = ["band_gap", "formation_energy_per_atom"]


def member_scores(
    path: Path, lists: Any, featured: Any, y: np.ndarray, columns: list[str]
) -> dict[str, Any]:
    """The member's validation MAE per column, and which rows those are.

    ``featured``: the same lists with CHGNet's atom features (built on first
    need), for a member trained with them.
    """
    member = load(path)
    if getattr(member, "n_atom_features_", 0):
        lists = featured()
    rows = validation_rows(member, lists)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        member.set_params(output_column=None)
        predicted = np.asarray(member.predict(lists[rows])).reshape(len(rows), -1)
    truth = y[rows].reshape(len(rows), -1)
    errors = np.empty_like(truth, dtype=np.float64)
    for k, column in enumerate(columns):
        guess = np.maximum(predicted[:, k], 0.0) if column == "band_gap" else predicted[:, k]
        errors[:, k] = np.abs(guess - truth[:, k])  # efermi: 2 missing (NaN)
    info = json.loads(path.with_suffix(".json").read_text())
    return {
        "validation_mae": mean_errors(errors, columns),
        "n_validation": len(rows),
        "rows": rows,
        "errors": errors,
        "epochs": info.get("epochs"),
        "best_epoch": info.get("best_epoch"),
        "fit_seconds": info.get("fit_seconds"),
    }


def mean_errors(errors: np.ndarray, columns: list[str]) -> dict[str, float]:
    """Each column's mean absolute error (missing targets skipped)."""
    return {column: float(np.nanmean(errors[:, k])) for k, column in enumerate(columns)}


def on_common_rows(
    pair: dict[str, dict[str, Any]], columns: list[str], formula: np.ndarray
) -> None:
    """Score both members on the rows both held out, when their validation parts differ.

    Members whose models merge atom rows differently (e.g. ``message_layers``,
    which merges rows only when their neighbours merge alike) draw other
    composition groups from the same seed. The common ground: rows both held
    out whose reduced formula neither trained on (``formula``: the training
    part's reduced formulas). Adds ``validation_mae_common`` and ``n_common``;
    each member's own part, its trained formulas left out, is scored too
    (``validation_mae_unseen_formula``).
    """
    rows = {kind: scores.pop("rows") for kind, scores in pair.items()}
    errors = {kind: scores.pop("errors") for kind, scores in pair.items()}
    everything = np.arange(len(formula))
    trained = {kind: set(formula[np.setdiff1d(everything, rows[kind])]) for kind in pair}
    for kind, scores in pair.items():
        unseen = np.array([f not in trained[kind] for f in formula[rows[kind]]], dtype=bool)
        scores["validation_mae_unseen_formula"] = mean_errors(errors[kind][unseen], columns)
        scores["n_unseen_formula"] = int(unseen.sum())
    if np.array_equal(rows["baseline"], rows["candidate"]):
        return
    common = rows_neither_trained_on(rows["baseline"], rows["candidate"], formula)
    for kind, scores in pair.items():
        keep = np.isin(rows[kind], common)
        scores["validation_mae_common"] = mean_errors(errors[kind][keep], columns)
        scores["n_common"] = len(common)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="members' work dir")
    parser.add_argument("--candidate", type=Path, required=True, help="members' work dir")
    parser.add_argument("--run", required=True, help="record folder name")
    parser.add_argument(
        "--recipes",
        nargs=2,
        default=None,
        metavar=("BASELINE", "CANDIDATE"),
        help="compare members of two recipes of the same seeds and columns (e.g. "
        "band_gap_mp2018 band_gap_mp2018_chgnet); default: each recipe with itself",
    )
    parser.add_argument(
        "--columns",
        nargs="+",
        default=None,
        help="score only these leading columns of the recipes (e.g. band_gap "
        "formation_energy_per_atom, when the baseline members learnt fewer columns than the "
        "recipe now lists); default: all of them",
    )
    parser.add_argument("--note", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    wanted = args.columns or [c for r in RECIPES.values() for c in r.columns]
    columns = list(dict.fromkeys([*COLUMNS, *wanted]))
    data = load_mp_gap_eform(target=columns, n_jobs=2, progress=False)
    train, _ = formula_group_split(data.formula)
    # exactly the lists the members trained on (train_pretrained: mp_neighbor_lists()[train]):
    # with message layers the merged rows, and with them a pre-version-2 member's
    # validation groups, depend on the order of tied neighbours, which another
    # featurization of the same structures may list differently
    lists = mp_neighbor_lists(data.data)[train]
    cached: list[Any] = []

    def featured() -> Any:
        if not cached:
            cached.append(mp_neighbor_lists(data.data, "chgnet")[train])
        return cached[0]

    y_all = np.asarray(data.target)[train]
    formula = np.asarray(data.formula)[train]
    results: dict[str, Any] = {}
    pairs = (
        [(RECIPES[args.recipes[0]], RECIPES[args.recipes[1]])]
        if args.recipes
        else [(recipe, recipe) for recipe in RECIPES.values()]
    )
    for recipe, candidate_recipe in pairs:
        if candidate_recipe.columns != recipe.columns:
            raise SystemExit(f"{candidate_recipe.name} and {recipe.name} learn other columns")
        name = (
            recipe.name
            if recipe is candidate_recipe
            else f"{recipe.name} vs {candidate_recipe.name}"
        )
        scored = args.columns or list(recipe.columns)
        if scored != list(recipe.columns[: len(scored)]):
            raise SystemExit(f"--columns {scored}: not the leading columns of {recipe.name}")
        picked = [columns.index(c) for c in scored]
        y = y_all[:, picked] if len(picked) > 1 else y_all[:, picked[0]]
        for seed in recipe.random_states:
            paths = {
                "baseline": checkpoint_paths(args.baseline, recipe, seed)[0],
                "candidate": checkpoint_paths(args.candidate, candidate_recipe, seed)[0],
            }
            if not all(p.is_file() for p in paths.values()):
                continue
            pair = {
                kind: member_scores(path, lists, featured, y, scored)
                for kind, path in paths.items()
            }
            on_common_rows(pair, scored, formula)
            key = "validation_mae_common" if "n_common" in pair["baseline"] else "validation_mae"
            change = {c: pair["candidate"][key][c] / pair["baseline"][key][c] - 1.0 for c in scored}
            results[f"{name}/seed{seed}"] = {**pair, "relative_change": change}
            print(f"{name} seed {seed}: {json.dumps(pair)} change {change}", flush=True)
    record = {
        "benchmark": "member_validation",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "split": {
            "kind": "each member's early-stopping validation part: 10 % of the compositions "
            "of the project's training part (GroupShuffleSplit seeded by the member's "
            "random_state); the test split is not used; where the two members' parts "
            "differ, the change is on the rows both held out whose reduced formula neither "
            "trained on (validation_mae_common)",
            "n_training_part": len(train),
        },
        "baseline": str(args.baseline),
        "candidate": str(args.candidate),
        "results": results,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    if args.note:
        record["note"] = args.note
    write_record(run_dir("member_validation", args.run) / "record.json", record)


if __name__ == "__main__":
    main()
