"""Train NeighborLSTMRegressor on the MP set (band gap, then formation energy) and measure it.

The project's split: GroupShuffleSplit on reduced formulas, 10 % of the formulas
held out, seed 0. Inside the training part, early stopping and the learning-rate
schedule use a validation split of whole compositions (seed from random_state=0);
the test split is used only once, for the figures. Writes
``benchmarks/results/train_mp/<run>/record.json``, one parity PNG and the test
predictions (NPZ, read by ``ensemble_mp.py``) per target.

Usage::

    python benchmarks/train_mp.py                      # both targets, full set
    python benchmarks/train_mp.py --max-epochs 3 --n 3000 --run quick   # a quick look
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import random
import time
import warnings
from datetime import UTC, datetime
from importlib.metadata import version

import numpy as np
import torch
from _machine import cpu_model, run_dir, write_record
from joblib import Parallel, delayed

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.experiments import train_and_evaluate


def parse_param(text):
    """``name=value`` -> (name, value), the value read as a Python literal if it is one."""
    name, _, value = text.partition("=")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def run_target(target, column, args, threads):
    """Train and evaluate one target (in its own process when run in parallel)."""
    warnings.simplefilter("ignore")
    torch.set_num_threads(threads)
    columns = list(args.targets) + [t for t in args.auxiliary if t not in args.targets]
    data = load_mp_gap_eform(target=columns, progress=False)
    structures, formulas, y_all = data.data, data.formula, data.target
    if args.n is not None:
        keep = sorted(random.Random(0).sample(range(len(structures)), args.n))
        structures = [structures[i] for i in keep]
        formulas, y_all = formulas[keep], y_all[keep]
    start = time.perf_counter()
    auxiliary = [t for t in args.auxiliary if t != target]
    picked = [column] + [columns.index(t) for t in auxiliary]
    y = y_all[:, picked] if auxiliary else y_all[:, column]
    result, predictions = train_and_evaluate(
        structures,
        y,
        formulas,
        target=target,
        auxiliary_targets=auxiliary,
        model_params={
            "max_epochs": args.max_epochs,
            "patience": args.patience,
            "atoms": args.atoms,
            "verbose": 1,
            **dict(args.param),
        },
        plot_path=args.output / f"{target}.png",
    )
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    test_index, y_pred = predictions
    np.savez(
        args.output / f"{target}_test_predictions.npz",
        test_index=test_index,
        y_pred=y_pred,
    )
    result["torch_threads"] = threads
    result["n_structures"] = len(structures)
    return target, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["band_gap", "formation_energy_per_atom"])
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--n", type=int, default=None, help="seeded random subset size")
    parser.add_argument("--atoms", default="distinct", choices=["distinct", "sorted", "site"])
    parser.add_argument(
        "--parallel-targets",
        action="store_true",
        help="train the targets at once, one process and one torch thread each",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (sequential)")
    parser.add_argument(
        "--param",
        type=parse_param,
        action="append",
        default=[],
        help="extra NeighborLSTMRegressor parameter, e.g. --param dropout=0.2",
    )
    parser.add_argument(
        "--auxiliary",
        action="append",
        default=[],
        help="a further target trained in the same model (multi-task), e.g. "
        "--targets band_gap --auxiliary formation_energy_per_atom",
    )
    parser.add_argument("--run", default=None, help="run folder name (default: the date)")
    args = parser.parse_args()
    args.output = run_dir("train_mp", args.run)
    args.output.mkdir(parents=True, exist_ok=True)

    if args.parallel_targets:
        jobs = [delayed(run_target)(t, c, args, 1) for c, t in enumerate(args.targets)]
        outcomes = Parallel(n_jobs=len(jobs))(jobs)
    else:
        threads = args.threads or torch.get_num_threads()
        outcomes = [run_target(t, c, args, threads) for c, t in enumerate(args.targets)]
    record = {
        "benchmark": "train_mp",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_model(),
            "cores": 2,
            "parallel_targets": args.parallel_targets,
            "platform": platform.platform(),
            "note": "shared 2-core machine, CPU only; see torch_threads per result",
        },
        "versions": {p: version(p) for p in ("sklearn_bandgap", "torch", "skorch")},
        "data": {"set": "mp_gap_eform", "subset": args.n},
        "results": dict(outcomes),
    }
    record_path = args.output / "record.json"
    if record_path.is_file():  # runs of other targets are kept: one record for the run
        previous = json.loads(record_path.read_text()).get("results", {})
        record["results"] = {**previous, **record["results"]}
    for target, result in outcomes:
        print(target, json.dumps(result["test"], indent=2))
        print(json.dumps(result["seconds"]), json.dumps(result["structures_per_s"]))
    write_record(record_path, record)


if __name__ == "__main__":
    main()
