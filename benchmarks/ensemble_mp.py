"""Seed ensembles of NeighborLSTMRegressor on the MP test split, from train_mp.py runs.

An ensemble here is what ``SeedEnsembleRegressor`` (or, for a 1-D ``y``,
scikit-learn's ``VotingRegressor``) computes: the mean of the predictions of
members that differ only in ``random_state`` (their initial weights, batch
order and early-stopping validation part), e.g.::

    make_pipeline(
        NeighborListFeaturizer(),
        SeedEnsembleRegressor(NeighborLSTMRegressor(), random_states=[0, 1, 2]),
    )

(``tests/test_seed_ensemble.py`` and ``tests/test_regressor.py`` check that
such pipelines predict the mean of their members, each member the model
trained alone with its seed.) Training the members inside one ensemble would train
them again, so this script averages the saved test predictions of separate
``train_mp.py`` runs instead, one per seed, e.g.::

    python benchmarks/train_mp.py --targets band_gap --max-epochs 200 --patience 15 \\
        --threads 1 --param random_state=1 --run seed1
    python benchmarks/ensemble_mp.py --runs default seed1 seed2

Multi-task members (``train_mp.py --auxiliary ...``) are averaged on the
target's column, clipped at 0 in each member for the band gap, as
``SeedEnsembleRegressor(NeighborLSTMRegressor(nonnegative=[0]))`` does.

The members are all the runs given. Fix them (the seeds and their number)
before seeing any test figure: the script cannot check that. It refuses runs
whose split or parameters (other than ``random_state``, and ``max_epochs``
where no run reached it) differ. It writes
``benchmarks/results/ensemble_mp/<run>/record.json`` and a parity plot per target.
"""

from __future__ import annotations

import argparse
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from _machine import cpu_model, run_dir, write_record

from sklearn_bandgap.datasets import MP_UNITS as UNITS
from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.experiments import plot_parity
from sklearn_bandgap.metrics import band_gap_report, regression_report
from sklearn_bandgap.models import NeighborLSTMRegressor

TRAIN_MP = Path(__file__).parent / "results" / "train_mp"

PER_MEMBER = ("random_state", "verbose")


def load_member(stem: str, target: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """One run's record for ``target`` and its saved (test_index, y_pred)."""
    record = json.loads((TRAIN_MP / stem / "record.json").read_text())["results"][target]
    saved = np.load(TRAIN_MP / stem / f"{target}_test_predictions.npz")
    return record, saved["test_index"], saved["y_pred"]


def settings(record: dict) -> dict:
    """A run's parameters except those that differ between members.

    ``max_epochs`` only counts when the run reached it: a run that early
    stopped before its cap trained exactly as it would have under a higher one.
    A parameter missing from a record did not exist when the run was made; it
    counts as its default, which keeps the behaviour of before it was added
    (``attention_pooling=False``, for instance).
    """
    defaults = NeighborLSTMRegressor().get_params()
    recorded = {**defaults, **record["model_params"]}
    params = {k: v for k, v in recorded.items() if k not in (*PER_MEMBER, "callbacks")}
    params["auxiliary_targets"] = record.get("auxiliary_targets", [])
    if record["epochs"] < params["max_epochs"]:
        params["max_epochs"] = "not reached"
    return params


def check_members(stems: list[str], records: list[dict], indices: list[np.ndarray]) -> None:
    """Refuse members that were not trained on the same split with the same settings."""
    first = records[0]
    shared = settings(first)
    for stem, record, index in zip(stems, records, indices, strict=True):
        if record["split"] != first["split"] or not np.array_equal(index, indices[0]):
            raise ValueError(f"run {stem!r} was not tested on the same split as {stems[0]!r}")
        params = settings(record)
        if params != shared:
            differing = sorted(k for k in shared if params.get(k) != shared[k])
            raise ValueError(f"run {stem!r} differs from {stems[0]!r} in {differing}")
    seeds = [r["model_params"]["random_state"] for r in records]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"runs {stems} repeat a random_state: {seeds}")


def headline_mae(report: dict) -> float:
    """MAE over all test structures, from either report."""
    return float(report["all"]["mae"] if "all" in report else report["mae"])


def evaluate_target(
    target: str, column: int, stems: list[str], y_all: np.ndarray, plot_path: Path
) -> dict:
    """Each member's and the ensemble's test figures for one target."""
    loaded = [load_member(stem, target) for stem in stems]
    records = [r for r, _, _ in loaded]
    indices = [i for _, i, _ in loaded]
    check_members(stems, records, indices)
    y_true = y_all[indices[0], column]
    report = band_gap_report if target == "band_gap" else regression_report
    members = {}
    for stem, (record, _, y_pred) in zip(stems, loaded, strict=True):
        members[stem] = {
            "random_state": record["model_params"]["random_state"],
            "max_epochs": record["model_params"]["max_epochs"],
            "test": report(y_true, y_pred),
            "epochs": record["epochs"],
            "best_epoch": record["best_epoch"],
            "fit_seconds": record["seconds"]["fit"],
        }
    y_mean = np.mean([y_pred for _, _, y_pred in loaded], axis=0)
    ensemble = report(y_true, y_mean)
    member_mae = [headline_mae(m["test"]) for m in members.values()]
    mae = headline_mae(ensemble)
    plot_parity(
        y_true,
        y_mean,
        title=f"{target}, {len(stems)}-seed ensemble, test split ({len(y_true)} structures)\n"
        f"MAE {mae:.3f} {UNITS[target]}",
        unit=UNITS[target],
        path=plot_path,
    )
    return {
        "target": target,
        "split": records[0]["split"],
        "model_params": settings(records[0]),
        "members": members,
        "member_mae": {
            "mean": float(np.mean(member_mae)),
            "min": float(np.min(member_mae)),
            "max": float(np.max(member_mae)),
        },
        "ensemble": {"n_members": len(stems), "test": ensemble},
        "fit_seconds_total": round(sum(m["fit_seconds"] for m in members.values()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="train_mp.py run folders")
    parser.add_argument("--targets", nargs="+", default=["band_gap", "formation_energy_per_atom"])
    parser.add_argument("--run", default=None, help="run folder name (default: the date)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    columns = ["band_gap", "formation_energy_per_atom"]
    data = load_mp_gap_eform(target=columns, progress=False)
    results = {}
    for target in args.targets:
        plot_path = run_dir("ensemble_mp", args.run) / f"{target}.png"
        results[target] = evaluate_target(
            target, columns.index(target), args.runs, data.target, plot_path
        )
        print(
            target,
            json.dumps(results[target]["member_mae"]),
            json.dumps(results[target]["ensemble"]["test"], indent=2),
        )
    record = {
        "benchmark": "ensemble_mp",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": 2, "note": "members trained by train_mp.py"},
        "data": {"set": "mp_gap_eform"},
        "runs": args.runs,
        "results": results,
    }
    write_record(run_dir("ensemble_mp", args.run) / "record.json", record)


if __name__ == "__main__":
    main()
