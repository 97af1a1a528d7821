"""How fast CHGNet's atom features are computed, in one process and in two.

``NeighborListFeaturizer(atom_features="chgnet", n_jobs=k).transform(structures)``
on a seeded random subset of the Materials Project set: one process with torch's
default threads (all cores) and with one thread, and two processes (joblib gives
each one thread; the time includes starting them and loading CHGNet in each, as a
user's first call pays it). The neighbour search alone is timed too, to show
which part the time goes to, and the features of the runs are compared. This is
what the cache of the MP set's features and a user's ``train TABLE
--atom-features chgnet`` spend their time on. Results are printed and written to
``benchmarks/results/chgnet_features/<run>/record.json``.

Usage::

    python benchmarks/chgnet_features.py             # 600 structures (~2 min)
    python benchmarks/chgnet_features.py --n 2000 --run 2026-12-06
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from importlib.metadata import version

import numpy as np
import torch
from _machine import cpu_model, run_dir, write_record

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600, help="structures (seeded subset)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", default=None, help="record folder name (default: today)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data = load_mp_gap_eform(progress=False)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(len(data.data), size=args.n, replace=False))
    structures = [data.data[i] for i in rows]
    n_atoms = sum(len(s) for s in structures)

    start = time.perf_counter()
    NeighborListFeaturizer().transform(structures)
    search_seconds = time.perf_counter() - start

    runs = {}
    features = {}
    default_threads = torch.get_num_threads()
    for name, n_jobs, threads in (
        (f"n_jobs=1, torch threads {default_threads} (default)", 1, default_threads),
        ("n_jobs=1, torch threads 1", 1, 1),
        ("n_jobs=2 (one torch thread each)", 2, default_threads),
    ):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        lists = NeighborListFeaturizer(atom_features="chgnet", n_jobs=n_jobs).transform(structures)
        seconds = time.perf_counter() - start
        features[name] = lists.atom_features
        runs[name] = {
            "seconds": round(seconds, 2),
            "structures_per_second": round(args.n / seconds, 1),
        }
        print(f"{name}: {seconds:.1f} s, {args.n / seconds:.1f} structures/s", flush=True)
    torch.set_num_threads(default_threads)
    first, *others = features.values()
    largest_difference = max(float(np.abs(other - first).max()) for other in others)
    print(
        f"neighbour search alone {search_seconds:.1f} s; largest feature difference "
        f"{largest_difference:.2g}"
    )
    write_record(
        run_dir("chgnet_features", args.run) / "record.json",
        {
            "benchmark": "chgnet_features",
            "data": {
                "set": "mp_gap_eform",
                "subset": f"{args.n} structures, seeded random rows (seed {args.seed})",
                "n_atoms": n_atoms,
            },
            "runs": runs,
            "neighbor_search_seconds": round(search_seconds, 2),
            "largest_feature_difference": largest_difference,
            "machine": {
                "cpu": cpu_model(),
                "cores": os.cpu_count(),
                "platform": platform.platform(),
            },
            "versions": {"chgnet": version("chgnet"), "torch": version("torch")},
        },
    )


if __name__ == "__main__":
    main()
