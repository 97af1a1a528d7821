"""What fine-tuning from the shipped band-gap model buys on a property it never saw.

Data: the NREL pairs' DFT-relaxed structures and their DFT energy per atom (the
shipped models were trained on Materials Project band gaps and formation
energies, never on this total energy). Split: GroupShuffleSplit on reduced
formulas, 20 % of the formulas held out for the test part (seed 0); training
sets of 250, 1,000 and 4,000 crystals are nested seeded draws from the rest.

For each size and seed, two ``NeighborLSTMRegressor`` fits with the same
recipe (the package defaults: up to 200 epochs, early stopping with patience
15 on a composition-grouped validation part of the training set, the shipped
model's architecture): from scratch, and ``init="band_gap_mp2018"`` (every
layer but the output layer starts from the shipped model's first member).
No choice is made on the test part; nothing is tuned.

Goal (issue "Your own data"): fine-tuned at least 20 % better (test MAE) than
from scratch at 250 and 1,000 crystals, never worse at 4,000.

Note: the shipped model's body was trained on Materials Project crystals, some
of whose formulas occur in this test part (with another property): that is
what pretraining is, and it is why a from-scratch model is the comparison.

``--select`` chooses the fine-tuning learning rate without the test part: the
pool's formulas are split again (20 % for selection, seed 1), each candidate
``--lrs`` fine-tunes on ``--sizes`` crystals of the rest (seed 0) and is scored on
the selection part, beside a from-scratch fit; the record goes to
``<run>-selection``; ``--variants`` also tries which layers fine-tuning trains
(all of them; only the new output layer; the head; the output layer alone for
10 epochs, then all: "LP-FT"). ``--fine-tune-lr`` then sets the learning rate
of the fine-tuned fits (the from-scratch ones keep the default).
``--composition-baseline`` puts every fit (both kinds, or the kinds it names)
inside ``CompositionBaselineRegressor`` (elemental references first);
``--scratch-param`` and ``--fine-tune-param`` give each kind the recipe the
selection split chose for it (``--batch-sizes`` and ``--init-outputs`` try them).

Usage::

    python benchmarks/fine_tuning.py                 # sizes 250 1000 4000, seeds 0 1 2
    python benchmarks/fine_tuning.py --sizes 250 --seeds 0
    python benchmarks/fine_tuning.py --select --sizes 1000 --lrs 2e-3 5e-4 2e-4
    python benchmarks/fine_tuning.py --fine-tune-lr 5e-4
    python benchmarks/fine_tuning.py --select --composition-baseline --sizes 250 1000 \
        --lrs 2e-3 --variants all frozen-body frozen-body-but-head probe-10
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _machine import cpu_model, git_commit, run_dir, write_record
from skorch.callbacks import Freezer, Unfreezer
from train_mp import parse_param

from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
from sklearn_bandgap.exceptions import OutOfDomainWarning
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.metrics import regression_report
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import (
    CompositionBaselineRegressor,
    NeighborLSTMRegressor,
    architecture_of,
)
from sklearn_bandgap.pretrained import load_pretrained

SOURCE = "band_gap_mp2018"


def fit_and_score(
    lists: Any,
    y: np.ndarray,
    rows: np.ndarray,
    test: np.ndarray,
    params: dict[str, Any],
    composition: bool = False,
) -> dict[str, Any]:
    """Fit one regressor on ``rows`` (with the composition baseline if asked), score on ``test``."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        model: Any = NeighborLSTMRegressor(**params)
        if composition:
            model = CompositionBaselineRegressor(model)
        model.fit(lists[rows], y[rows])
        y_pred = model.predict(lists[test])
    net = model.regressor_.net_ if composition else model.net_
    return {
        **regression_report(y[test], y_pred),
        "epochs": len(net.history_),
        "fit_seconds": round(time.perf_counter() - start, 1),
    }


def _body(name: str) -> bool:
    """Every parameter but the output layer's (``head.3``, the one ``init`` replaces)."""
    return "head.3" not in name


#: How the source's layers are trained when fine-tuning (skorch callbacks).
VARIANTS: dict[str, Any] = {
    "all": lambda: None,  # every layer from the first epoch
    "frozen-body": lambda: [Freezer(_body, at=1)],  # only the new output layer
    "frozen-body-but-head": lambda: [Freezer(lambda n: not n.startswith("head."), at=1)],
    "probe-10": lambda: [Freezer(_body, at=1), Unfreezer(_body, at=11)],  # LP-FT
}


def composition_kinds(option: list[str] | None) -> set[str]:
    """The kinds of fit ``--composition-baseline`` names (given alone: both)."""
    if option is None:
        return set()
    return set(option) or {"scratch", "fine_tuned"}


def _batch_tag(batch: int) -> str:
    return "" if batch == 128 else f" batch={batch}"


def select_recipe(
    args: Any, lists: Any, y: np.ndarray, formulas: Any, pool: np.ndarray, arch: Any, t0: float
) -> None:
    """Score recipes (learning rate, layers, batch, start) on a selection split of the pool."""
    fit_part, select_part = formula_group_split(
        np.asarray(formulas)[pool], test_size=0.2, random_state=1
    )
    fit_rows, select_rows = pool[fit_part], pool[select_part]
    order = np.random.default_rng(0).permutation(fit_rows)
    scores: dict[str, Any] = {}
    composition = bool(composition_kinds(args.composition_baseline))
    tag = " composition baseline" if composition else ""
    for n in args.sizes:
        rows = np.sort(order[:n])
        runs: dict[str, Any] = {}
        for batch in args.batch_sizes:
            scratch = {**arch, "random_state": 0, "batch_size": batch}
            runs[f"scratch{tag}{_batch_tag(batch)}"] = fit_and_score(
                lists, y, rows, select_rows, scratch, composition
            )
        for lr, variant, head, batch in itertools.product(
            args.lrs, args.variants, args.init_outputs, args.batch_sizes
        ):
            params = {**arch, "init": SOURCE, "lr": lr, "random_state": 0, "batch_size": batch}
            params["callbacks"] = VARIANTS[variant]()
            params["init_output"] = None if head == "none" else int(head)
            name = f"fine_tuned{tag} lr={lr:g}" + ("" if variant == "all" else f" {variant}")
            name += ("" if head == "none" else f" init_output={head}") + _batch_tag(batch)
            runs[name] = fit_and_score(lists, y, rows, select_rows, params, composition)
        for name, figures in runs.items():
            print(f"selection n={n} {name}: {json.dumps(figures)}", flush=True)
        scores[str(n)] = runs
    record = {
        "benchmark": "fine_tuning",
        "kind": "selection of the recipes: learning rate, trained layers, batch size, "
        "starting output (the test part is not used)",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "split": {
            "kind": "the pool (80 % of the NREL formulas, seed 0) split again by formula: "
            "20 % for selection, GroupShuffleSplit seed 1",
            "n_fit_part": len(fit_rows),
            "n_selection": len(select_rows),
        },
        "scores": scores,
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    write_record(run_dir("fine_tuning", f"{args.run or 'run'}-selection") / "record.json", record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--run", default=None, help="record folder name (default: today)")
    parser.add_argument("--fine-tune-lr", type=float, default=None, help="lr of fine-tuning")
    parser.add_argument("--select", action="store_true", help="choose the lr on a selection split")
    parser.add_argument("--lrs", type=float, nargs="+", default=[2e-3, 5e-4, 2e-4])
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["all"],
        choices=list(VARIANTS),
        help="--select: which layers fine-tuning trains (all; only the output layer; the "
        "head; the output layer for 10 epochs, then all)",
    )
    parser.add_argument(
        "--init-outputs",
        nargs="+",
        default=["none"],
        help="--select: new output layer ('none') and/or the source output(s) it starts from "
        "(0: band gap, 1: formation energy of the shipped multi-task members)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[128],
        help="--select: batch sizes to try (both kinds of fit)",
    )
    parser.add_argument(
        "--scratch-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a regressor parameter of the from-scratch fits (their recipe, chosen with --select)",
    )
    parser.add_argument(
        "--fine-tune-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a regressor parameter of the fine-tuned fits (e.g. batch_size=32, init_output=1)",
    )
    parser.add_argument(
        "--composition-baseline",
        nargs="*",
        choices=["scratch", "fine_tuned"],
        default=None,
        help="fits inside CompositionBaselineRegressor (elemental references, then the network "
        "on the residuals): both kinds, or only the kinds named",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    data = load_nrel_relaxation_pairs(progress=False)
    structures, y, formulas = data.relaxed, np.asarray(data.target, float), data.formula
    pool, test = formula_group_split(formulas, test_size=0.2, random_state=0)
    lists = NeighborListFeaturizer().transform(structures)
    member = load_pretrained(SOURCE)[-1].estimator_.estimators_[0]
    architecture = architecture_of(member)
    print(f"{len(structures)} crystals: pool {len(pool)}, test {len(test)}", flush=True)

    if args.select:
        select_recipe(args, lists, y, formulas, pool, architecture, started)
        return
    recipes: dict[str, dict[str, Any]] = {
        "scratch": dict(parse_param(text) for text in args.scratch_param),
        "fine_tuned": {
            "init": SOURCE,
            **({} if args.fine_tune_lr is None else {"lr": args.fine_tune_lr}),
            **dict(parse_param(text) for text in args.fine_tune_param),
        },
    }
    with_references = composition_kinds(args.composition_baseline)
    results: dict[str, Any] = {}
    for seed in args.seeds:
        order = np.random.default_rng(seed).permutation(pool)  # nested: the first n rows
        for n in args.sizes:
            rows = np.sort(order[:n])
            for kind, extra in recipes.items():
                params = {**architecture, **extra, "random_state": seed}
                figures = fit_and_score(lists, y, rows, test, params, kind in with_references)
                results.setdefault(str(n), {}).setdefault(kind, []).append(
                    {"seed": seed, **figures}
                )
                print(f"n={n} seed={seed} {kind}: {json.dumps(figures)}", flush=True)

    summary = {}
    for n, kinds in results.items():
        scratch = float(np.mean([r["mae"] for r in kinds["scratch"]]))
        tuned = float(np.mean([r["mae"] for r in kinds["fine_tuned"]]))
        improvement = 1.0 - tuned / scratch
        goal = improvement >= 0.2 if int(n) < 4000 else tuned <= scratch
        summary[n] = {
            "scratch_mae_mean": round(scratch, 4),
            "fine_tuned_mae_mean": round(tuned, 4),
            "improvement": round(improvement, 4),
            "goal": "fine-tuned >= 20 % better" if int(n) < 4000 else "fine-tuned not worse",
            "goal_met": bool(goal),
        }
    record = {
        "benchmark": "fine_tuning",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "versions": {p: version(p) for p in ("sklearn_bandgap", "torch", "scikit-learn")},
        "torch_threads": args.threads,
        "data": {
            "set": "NREL relaxation pairs: DFT-relaxed structures, DFT energy per atom (eV/atom)",
            "n_structures": len(structures),
        },
        "split": {
            "kind": "GroupShuffleSplit on reduced formulas",
            "test_size": 0.2,
            "seed": 0,
            "n_pool": len(pool),
            "n_test": len(test),
            "training_sets": "nested seeded draws from the pool (numpy default_rng(seed))",
        },
        "source": SOURCE,
        "recipe": {
            "architecture": architecture,
            "scratch": recipes["scratch"],
            "fine_tuned": recipes["fine_tuned"],
            "composition_baseline": sorted(with_references),
            "other": "package defaults otherwise (lr 2e-3, batch 128, max_epochs 200, patience 15)",
        },
        "summary": summary,
        "runs": results,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    path = run_dir("fine_tuning", args.run) / "record.json"
    write_record(path, record)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
