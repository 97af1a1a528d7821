"""The LSTM pipeline against the matminer baselines on the MP set, on identical folds.

The project's split: GroupShuffleSplit on reduced formulas, 10 % of the
formulas held out, seed 0 — one fold, the same for every estimator (the LSTM's
early stopping uses a validation split of whole compositions inside the
training part; nothing is selected on the test part). Featurizations of the
baselines are cached with ``joblib.Memory`` (``--cache-dir``), so the second
target reuses them. Writes ``benchmarks/results/compare_mp/<run>/record.json``
(merged per target) and ``<target>.png`` beside it.

Usage::

    python benchmarks/compare_mp.py                          # both targets, full set
    python benchmarks/compare_mp.py --n 2000 --n-estimators 50 --max-epochs 5   # a quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import warnings
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _machine import cpu_model, run_dir, write_record
from sklearn.pipeline import make_pipeline
from train_mp import parse_param

from sklearn_bandgap.baselines import (
    ComparisonDetails,
    compare,
    make_dummy,
    make_rf_magpie,
    make_rf_scm_magpie,
    plot_comparison,
)
from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.metrics import regression_report
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import NeighborLSTMRegressor

TRAIN_MP = Path(__file__).parent / "results" / "train_mp"
TARGETS = {"band_gap": "eV", "formation_energy_per_atom": "eV/atom"}
ESTIMATORS = ["lstm", "rf_scm_magpie", "rf_magpie", "mean"]


def lstm_from_train_mp(target, y, test):
    """The LSTM row from ``train_mp.py``'s run: the same pipeline, split and seed.

    ``train_mp.py`` trains ``make_pipeline(NeighborListFeaturizer(),
    NeighborLSTMRegressor(random_state=0))`` on the same split; reusing its
    saved test predictions avoids training the same model twice.
    """
    figures = json.loads((TRAIN_MP / "default" / "record.json").read_text())["results"][target]
    saved = np.load(TRAIN_MP / "default" / f"{target}_test_predictions.npz")
    if not np.array_equal(saved["test_index"], test):
        raise SystemExit("train_mp.py's test split differs from this one: rerun it.")
    y_pred = saved["y_pred"]
    report = regression_report(y[test], y_pred)
    row = {
        "mae_mean": report["mae"],
        "rmse_mean": report["rmse"],
        "r2_mean": report["r2"],
        "fit_seconds": figures["seconds"]["fit"] + figures["seconds"]["featurize_all"],
        "predict_seconds": figures["seconds"]["predict_test_with_featurization"],
        "n_folds": 1,
        "source": "benchmarks/train_mp.py (same pipeline, split and seed), "
        f"max_epochs={figures['model_params']['max_epochs']}, "
        f"patience={figures['model_params']['patience']}",
    }
    return row, y_pred


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument(
        "--estimators", nargs="+", default=ESTIMATORS, choices=ESTIMATORS, help="run these only"
    )
    parser.add_argument("--n", type=int, default=None, help="seeded random subset size")
    parser.add_argument("--n-estimators", type=int, default=500, help="trees of the forests")
    parser.add_argument("--max-epochs", type=int, default=200, help="LSTM epochs at most")
    parser.add_argument("--n-jobs", type=int, default=2, help="featurizer and forest workers")
    parser.add_argument(
        "--lstm-from-train-mp",
        action="store_true",
        help="take the LSTM row from train_mp.py's saved run instead of training it again",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--run", default="default", help="run folder (targets merge into it)")
    parser.add_argument(
        "--lstm-param", type=parse_param, action="append", default=[], help="e.g. atom_hidden=64"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path.home() / ".cache" / "sklearn_bandgap" / "compare"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)

    data = load_mp_gap_eform(target=list(TARGETS), progress=False)
    structures, formulas, y_all = list(data.data), data.formula, data.target
    if args.n is not None:
        keep = sorted(random.Random(0).sample(range(len(structures)), args.n))
        structures = [structures[i] for i in keep]
        formulas, y_all = formulas[keep], y_all[keep]
    train, test = formula_group_split(formulas)
    max_sites = max(len(s) for s in structures)
    lstm_params = dict(args.lstm_param)

    output = run_dir("compare_mp", args.run) / "record.json"
    record = json.loads(output.read_text()) if output.is_file() else {"results": {}}
    for target in args.targets:
        column = list(TARGETS).index(target)
        y = y_all[:, column]
        estimators = {
            "lstm": make_pipeline(
                NeighborListFeaturizer(),
                NeighborLSTMRegressor(
                    max_epochs=args.max_epochs,
                    random_state=0,
                    nonnegative=target == "band_gap",
                    **lstm_params,
                ),
            ),
            "rf_scm_magpie": make_rf_scm_magpie(
                max_sites=max_sites,
                n_estimators=args.n_estimators,
                n_jobs=args.n_jobs,
                memory=str(args.cache_dir),
            ),
            "rf_magpie": make_rf_magpie(
                n_estimators=args.n_estimators, n_jobs=args.n_jobs, memory=str(args.cache_dir)
            ),
            "mean": make_dummy(),
        }
        run = [name for name in args.estimators if not (name == "lstm" and args.lstm_from_train_mp)]
        result = record["results"].setdefault(target, {"unit": TARGETS[target], "table": {}})
        # Predictions are kept (in the cache folder, not committed) so that a later run of
        # other estimators can draw all of them side by side.
        store = args.cache_dir / f"predictions_{target}_{args.n or 'full'}.npz"
        store.parent.mkdir(parents=True, exist_ok=True)
        saved = dict(np.load(store)) if store.is_file() else {}
        now = datetime.now(UTC).isoformat(timespec="seconds")
        if run:
            table = compare(
                {name: estimators[name] for name in run}, structures, y, cv=[(train, test)]
            )
            print(target, table.to_string(), sep="\n", flush=True)
            saved.update(table.attrs["details"].predictions)
            rows = table.drop(columns=[c for c in table.columns if c.endswith("_std")])
            for name, row in rows.to_dict(orient="index").items():
                result["table"][name] = {
                    k: (int(v) if k == "n_folds" else float(v)) for k, v in row.items()
                }
                result["table"][name]["run_date"] = now
                if name.startswith("rf_"):
                    result["table"][name]["n_estimators"] = args.n_estimators
                if name == "lstm":
                    result["table"][name]["params"] = {"max_epochs": args.max_epochs, **lstm_params}
        if "lstm" in args.estimators and args.lstm_from_train_mp:
            result["table"]["lstm"], saved["lstm"] = lstm_from_train_mp(target, y, test)
        np.savez(store, **saved)
        maes = {name: row["mae_mean"] for name, row in result["table"].items()}
        if "lstm" in maes and len(maes) > 1:
            best = min((mae, name) for name, mae in maes.items() if name != "lstm")
            result["best_baseline"] = best[1]
            result["lstm_mae_over_best_baseline_mae"] = maes["lstm"] / best[0]
        names = [name for name in ESTIMATORS if name in saved and name in result["table"]]
        full = pd.DataFrame(
            {
                name: {
                    k: v
                    for k, v in result["table"][name].items()
                    if k not in ("run_date", "source", "n_estimators", "params")
                }
                for name in names
            }
        ).T
        for score in ("mae", "rmse", "r2"):
            full[f"{score}_std"] = 0.0  # one fold
        full.attrs["details"] = ComparisonDetails(
            [(train, test)], pd.DataFrame(), {name: saved[name] for name in names}
        )
        png = output.parent / f"{target}.png"
        plot_comparison(full, y, path=png, target=target, unit=TARGETS[target])
        result["plot"] = png.name
    record.update(
        {
            "benchmark": "compare_mp",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpu": cpu_model(),
                "cores": 2,
                "platform": platform.platform(),
                "torch_threads": args.threads,
                "n_jobs": args.n_jobs,
                "note": "shared 2-core machine, CPU only; estimators run one after another",
            },
            "versions": {
                p: version(p) for p in ("sklearn_bandgap", "torch", "matminer", "scikit-learn")
            },
            "data": {"set": "mp_gap_eform", "subset": args.n, "n_structures": len(structures)},
            "split": {
                "kind": "formula groups (GroupShuffleSplit), one fold",
                "test_size": 0.1,
                "seed": 0,
                "n_train": len(train),
                "n_test": len(test),
            },
            "settings": {
                "sine_coulomb_columns": int(max_sites),
                "note": "per-estimator settings are in each table row",
            },
        }
    )
    write_record(output, record)


if __name__ == "__main__":
    main()
