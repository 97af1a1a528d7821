"""How much a recipe's members gain from pooling with another recipe's members, on validation.

Pairs, seed by seed, a member of one recipe (``--base``, e.g. the formation-energy
model) with the member of another recipe of the same seed that also predicts its
target (``--other``, e.g. the band-gap model, whose members learnt the formation
energy as a second output), and scores the blend ``(1 - w) x base + w x other``
of the target for w = 0, 0.1, ..., 1 on the rows neither member trained on: rows
both held out for early stopping whose reduced formula neither trained on (the
members' validation parts differ where their recipes draw composition groups
differently). The test split is not used. The share ``w`` that a pool of the
base's n members and k members of the other gives, k / (n + k), is to be chosen
from these figures (``PooledEnsembleRegressor``: every member weighs the same).
Writes ``benchmarks/results/pool_validation/<run>/record.json``.

Usage::

    python benchmarks/pool_validation.py --run 2026-12-06-fe-with-bg \\
        --base formation_energy_mp2018 results/train_pretrained/members-fe-messages \\
        --other band_gap_mp2018 results/train_pretrained/members-bg-messages
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model, run_dir, write_record
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

SHARES = np.round(np.arange(0.0, 1.01, 0.1), 1)


def target_predictions(member: Any, lists: Any, rows: np.ndarray, column: int) -> np.ndarray:
    """A member's prediction of one of its output columns on ``lists[rows]``."""
    member.set_params(output_column=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predicted = np.asarray(member.predict(lists[rows]))
    return predicted.reshape(len(rows), -1)[:, column]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", nargs=2, required=True, metavar=("RECIPE", "MEMBERS_DIR"))
    parser.add_argument("--other", nargs=2, required=True, metavar=("RECIPE", "MEMBERS_DIR"))
    parser.add_argument("--run", required=True, help="record folder name")
    parser.add_argument("--note", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    base, other = RECIPES[args.base[0]], RECIPES[args.other[0]]
    target = base.target
    if target not in other.columns:
        raise SystemExit(f"{other.name} does not predict {target}")
    data = load_mp_gap_eform(target=[target], n_jobs=2, progress=False)
    train, _ = formula_group_split(data.formula)
    lists = mp_neighbor_lists(data.data)[train]  # exactly what the members trained on
    y = np.asarray(data.target, dtype=np.float64).ravel()[train]
    formula = np.asarray(data.formula)[train]
    seeds: dict[str, Any] = {}
    errors: dict[float, list[np.ndarray]] = {share: [] for share in SHARES}
    for seed in sorted(set(base.random_states) & set(other.random_states)):
        paths = {
            "base": checkpoint_paths(Path(args.base[1]), base, seed)[0],
            "other": checkpoint_paths(Path(args.other[1]), other, seed)[0],
        }
        if not all(path.is_file() for path in paths.values()):
            continue
        members = {kind: load(path) for kind, path in paths.items()}
        held_out = {kind: validation_rows(member, lists) for kind, member in members.items()}
        common = rows_neither_trained_on(held_out["base"], held_out["other"], formula)
        guess_base = target_predictions(members["base"], lists, common, base.columns.index(target))
        guess_other = target_predictions(
            members["other"], lists, common, other.columns.index(target)
        )
        by_share = {}
        for share in SHARES:
            error = np.abs((1 - share) * guess_base + share * guess_other - y[common])
            errors[share].append(error)
            by_share[f"{share:.1f}"] = float(error.mean())
        seeds[f"seed{seed}"] = {
            "n_rows": len(common),
            "n_validation": {kind: len(rows) for kind, rows in held_out.items()},
            "mae_by_other_share": by_share,
        }
        print(f"seed {seed}: {len(common)} rows, {by_share}", flush=True)
    if not seeds:
        raise SystemExit("no seed has a member of both recipes")
    pooled = {f"{s:.1f}": float(np.concatenate(errors[s]).mean()) for s in SHARES}
    best = min(pooled, key=pooled.__getitem__)
    print(f"all seeds: {pooled}; lowest at share {best}")
    record = {
        "benchmark": "pool_validation",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "split": {
            "kind": "rows both members of a seed held out for early stopping (10 % of the "
            "compositions of the project's training part each) whose reduced formula neither "
            "trained on; the test split is not used",
            "n_training_part": len(train),
        },
        "target": target,
        "base": {"recipe": base.name, "members": args.base[1]},
        "other": {"recipe": other.name, "members": args.other[1]},
        "seeds": seeds,
        "all_seeds": {
            "n_rows": int(sum(s["n_rows"] for s in seeds.values())),
            "mae_by_other_share": pooled,
            "lowest_at_share": float(best),
            "relative_change_at_lowest": pooled[best] / pooled["0.0"] - 1.0,
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    if args.note:
        record["note"] = args.note
    write_record(run_dir("pool_validation", args.run) / "record.json", record)


if __name__ == "__main__":
    main()
