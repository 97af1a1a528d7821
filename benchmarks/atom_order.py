"""Does the order of atoms fed to the crystal LSTM matter? Measure the `atoms` options.

Same seeded subset of the MP set, same project split (formula groups, seed 0),
same epochs and seed for each option of ``NeighborLSTMRegressor(atoms=...)``:

* ``site``: every atom in site order (the original design);
* ``sorted``: every atom in a canonical order (atomic number, then neighbour list);
* ``distinct``: equivalent atoms merged, with their share, canonical order.

Also measures how much ``site`` predictions move when the sites of the test
structures are shuffled (the others are invariant by construction). Writes
``benchmarks/results/atom_order/default/record.json``.
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
from _machine import write_record

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.metrics import band_gap_report
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.utils.estimator_checks import site_permuted

RESULTS = Path(__file__).parent / "results" / "atom_order" / "default" / "record.json"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)

    data = load_mp_gap_eform(progress=False)
    keep = sorted(random.Random(0).sample(range(len(data.data)), args.n))
    structures = [data.data[i] for i in keep]
    y, formulas = data.target[keep], data.formula[keep]
    train, test = formula_group_split(formulas)
    featurizer = NeighborListFeaturizer()
    lists = featurizer.transform(structures)
    shuffled = featurizer.transform([site_permuted(structures[i], seed=1) for i in test])

    results = {}
    for atoms in ["site", "sorted", "distinct"]:
        model = NeighborLSTMRegressor(
            atoms=atoms, max_epochs=args.epochs, random_state=0, nonnegative=True
        )
        start = time.perf_counter()
        model.fit(lists[train], y[train])
        fit_s = time.perf_counter() - start
        y_pred = model.predict(lists[test])
        moved = np.abs(model.predict(shuffled) - y_pred)
        results[atoms] = {
            "test": band_gap_report(y[test], y_pred),
            "epochs": len(model.net_.history_),
            "seconds_per_epoch": round(float(np.mean(model.net_.history_[:, "dur"])), 2),
            "fit_seconds": round(fit_s, 1),
            "prediction_change_when_sites_shuffled_eV": {
                "mean": float(moved.mean()),
                "max": float(moved.max()),
            },
        }
        print(atoms, json.dumps(results[atoms]))
    record = {
        "benchmark": "atom_order",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {"set": "mp_gap_eform", "subset": args.n, "subset_seed": 0},
        "split": {"kind": "formula groups", "seed": 0, "n_train": len(train), "n_test": len(test)},
        "target": "band_gap",
        "max_epochs": args.epochs,
        "torch_threads": args.threads,
        "results": results,
    }
    write_record(RESULTS, record)


if __name__ == "__main__":
    main()
