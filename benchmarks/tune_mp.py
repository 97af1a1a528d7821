"""Tune the LSTM pipeline on the MP set with a fixed budget; default vs tuned test MAE.

The project's split (formula groups, 10 % held out, seed 0): the study sees
only the training part, scored on a 20 % formula-group holdout inside it
(``tune``'s default), with the default setting as its first trial
(``try_current=True``), so default and tuned are compared on validation only.
Then both are trained on the whole training part and tested once. Writes
``benchmarks/results/tune_mp/default/record.json``.

Usage::

    python benchmarks/tune_mp.py --n-trials 40 --timeout 7200        # the budget of issue 6
    python benchmarks/tune_mp.py --n 1000 --n-trials 3 --max-epochs 3  # a quick look
"""

from __future__ import annotations

import argparse
import json
import random
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import optuna
import torch
from _machine import cpu_model, write_record
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.metrics import regression_report
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.tuning import tune

RESULTS = Path(__file__).parent / "results" / "tune_mp" / "default" / "record.json"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="band_gap")
    parser.add_argument("--n", type=int, default=None, help="seeded random subset size")
    parser.add_argument("--n-trials", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=None, help="seconds")
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--storage", default=None, help="default: a journal file in results/")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(args.threads)

    data = load_mp_gap_eform(target=args.target, progress=False)
    structures, y, formulas = list(data.data), data.target, data.formula
    if args.n is not None:
        keep = sorted(random.Random(0).sample(range(len(structures)), args.n))
        structures, y, formulas = [structures[i] for i in keep], y[keep], formulas[keep]
    train, test = formula_group_split(formulas)
    X_train, X_test = [structures[i] for i in train], [structures[i] for i in test]
    default = make_pipeline(
        NeighborListFeaturizer(),
        NeighborLSTMRegressor(
            max_epochs=args.max_epochs, random_state=0, nonnegative=args.target == "band_gap"
        ),
    )
    storage = args.storage or str(args.output.with_suffix(".journal"))
    start = time.perf_counter()
    result = tune(
        default,
        X_train,
        y[train],
        groups=formulas[train],
        n_trials=args.n_trials,
        timeout=args.timeout,
        storage=storage,
        study_name=f"tune_mp_{args.target}_{args.n or 'full'}",
        try_current=True,
        refit=True,
        show_progress_bar=False,
    )
    tuning_seconds = time.perf_counter() - start
    default_validation = result.study.trials[0].value
    tuned = result.best_estimator
    fitted_default = clone(default).fit(X_train, y[train])
    record = {
        "benchmark": "tune_mp",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": 2, "torch_threads": args.threads},
        "data": {"set": "mp_gap_eform", "subset": args.n, "target": args.target},
        "split": {
            "test": "formula groups 10 %, seed 0",
            "validation": "formula groups 20 % of train, seed 0",
        },
        "budget": {
            "n_trials": args.n_trials,
            "timeout_s": args.timeout,
            "max_epochs": args.max_epochs,
        },
        "trials": {
            "complete": result.n_complete,
            "pruned": result.n_pruned,
            "pruned_epochs_saved": result.pruned_epochs_saved,
        },
        "tuning_seconds": round(tuning_seconds, 1),
        "validation_mae": {"default": default_validation, "tuned": result.study.best_value},
        "best_params": result.best_params,
        "test": {
            "default": regression_report(y[test], fitted_default.predict(X_test)),
            "tuned": regression_report(y[test], tuned.predict(X_test)),
        },
    }
    print(json.dumps(record, indent=2))
    write_record(args.output, record)


if __name__ == "__main__":
    main()
