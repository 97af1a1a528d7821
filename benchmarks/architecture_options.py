"""Choose between NeighborLSTMRegressor options on a selection split, never on the test split.

The project's split (formula groups, 10 % held out, seed 0) sets the test part
aside untouched. The training part is split again by formula groups (10 %,
seed 1) into a *fit* part and a *selection* part; every option is trained on
the fit part (with its own early-stopping validation inside it) and scored on
the selection part. The winner is then trained and tested once by
``train_mp.py``.

Options are given as ``name:param=value,param=value``; each runs in its own
process with one torch thread. ``--target a+b`` trains one multi-output model
on both targets at once (multi-task); the selection figure is the first
target's (band gaps clipped at 0), the others are reported beside it, and so
is the first target's selection MAE under Gaussian noise of 1e-4 and 1e-2 Å on
every position (with how far the predictions moved). Results
are merged into ``benchmarks/results/architecture_options/default/record.json`` (keyed by
target and option).

Usage::

    python benchmarks/architecture_options.py --n 8000 \\
        --option default: --option gauss16:distance_expansion=16
"""

from __future__ import annotations

import argparse
import json
import random
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model, write_record
from joblib import Parallel, delayed
from train_mp import parse_param

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.metrics import regression_report
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.utils.estimator_checks import perturbed

RESULTS = Path(__file__).parent / "results" / "architecture_options" / "default" / "record.json"


def parse_option(text):
    """``name:p=v,p=v`` -> (name, {p: v})."""
    name, _, params = text.partition(":")
    return name, dict(parse_param(item) for item in params.split(",") if item)


def selection_split(formulas):
    """Indices (fit, selection) inside the project's training part."""
    train, _ = formula_group_split(formulas, test_size=0.1, random_state=0)
    fit_pos, select_pos = formula_group_split(formulas[train], test_size=0.1, random_state=1)
    return train[fit_pos], train[select_pos]


def run_option(name, params, args):
    """Train one option on the fit part and score it on the selection part."""
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    targets = args.target.split("+")
    data = load_mp_gap_eform(target=targets if len(targets) > 1 else targets[0], progress=False)
    structures, formulas, y = data.data, data.formula, data.target
    if args.n is not None:
        keep = sorted(random.Random(0).sample(range(len(structures)), args.n))
        structures = [structures[i] for i in keep]
        formulas, y = formulas[keep], y[keep]
    fit, select = selection_split(formulas)
    lists = NeighborListFeaturizer().transform(structures)
    model = NeighborLSTMRegressor(
        max_epochs=args.max_epochs,
        patience=args.patience,
        random_state=args.random_state,
        nonnegative=targets == ["band_gap"],
        **params,
    )
    start = time.perf_counter()
    model.fit(lists[fit], y[fit])
    fit_seconds = time.perf_counter() - start
    history = model.net_.history_
    predicted = model.predict(lists[select]).reshape(len(select), len(targets))
    if targets[0] == "band_gap":
        predicted[:, 0] = np.maximum(predicted[:, 0], 0.0)
    truth = y[select].reshape(len(select), len(targets))
    others = {
        f"selection_{target}": regression_report(truth[:, k], predicted[:, k])
        for k, target in enumerate(targets[1:], start=1)
    }
    # The same selection crystals under noise (seeded per crystal): what a
    # discontinuous design loses on inputs that are not exactly symmetric.
    for sigma in (1e-4, 1e-2):
        noisy_lists = NeighborListFeaturizer().transform(
            [perturbed(structures[i], sigma, seed=int(i)) for i in select]
        )
        noisy = model.predict(noisy_lists).reshape(len(select), len(targets))
        if targets[0] == "band_gap":
            noisy[:, 0] = np.maximum(noisy[:, 0], 0.0)
        moved = np.abs(noisy[:, 0] - predicted[:, 0])
        others[f"selection_noise_{sigma:g}"] = {
            **regression_report(truth[:, 0], noisy[:, 0]),
            "largest_move": float(moved.max()),
            "fraction_moved_over_0.1": float(np.mean(moved > 0.1)),
        }
    return name, {
        "params": params,
        "selection": regression_report(truth[:, 0], predicted[:, 0]),
        **others,
        "epochs": len(history),
        "best_epoch": int(np.argmin(history[:, "valid_loss"])) + 1,
        "seconds_per_epoch": round(float(np.median(history[:, "dur"])), 2),
        "fit_seconds": round(fit_seconds, 1),
        "n_fit": len(fit),
        "n_selection": len(select),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--option", type=parse_option, action="append", required=True)
    parser.add_argument(
        "--target", default="band_gap", help="a target, or targets joined by + (multi-task)"
    )
    parser.add_argument("--n", type=int, default=None, help="seeded random subset size")
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--random-state", type=int, default=0, help="the models' seed (a second look at noise)"
    )
    args = parser.parse_args()

    outcomes = Parallel(n_jobs=args.jobs)(
        delayed(run_option)(name, params, args) for name, params in args.option
    )
    record = {
        "benchmark": "architecture_options",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": 2, "torch_threads_per_option": 1},
        "split": {
            "test": "formula groups, 10 %, seed 0 (never used here)",
            "selection": "formula groups, 10 % of the training part, seed 1",
        },
        "results": {},
    }
    if RESULTS.is_file():
        record["results"] = json.loads(RESULTS.read_text()).get("results", {})
    key = f"{args.target}/n={args.n or 'full'}/epochs={args.max_epochs}"
    if args.random_state:
        key += f"/seed={args.random_state}"
    record["results"].setdefault(key, {}).update(dict(outcomes))
    for name, result in outcomes:
        print(name, json.dumps(result["selection"]), result["epochs"], result["seconds_per_epoch"])
    write_record(RESULTS, record)


if __name__ == "__main__":
    main()
