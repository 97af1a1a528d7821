"""The band-gap model on a GPU: epoch time, inference throughput and peak GPU memory, whole MP set.

Runnable as is on a machine with a CUDA GPU (and a CUDA build of torch):
featurizes the 33,144 MP structures, trains ``NeighborLSTMRegressor`` (the
defaults, multi-task as the main job, seed 0) on the project's 90 % split for
``--epochs`` epochs on ``cuda`` and, for comparison, one epoch on the CPU, then
predicts the 10 % test split ``--repeats`` times. Records seconds per epoch
(GPU and CPU), structures/s at inference (featurization excluded and
included), ``torch.cuda.max_memory_allocated`` during training and inference,
and the test MAE after the GPU epochs. Without a GPU it says so and exits with
status 2, writing nothing.

Writes ``benchmarks/results/gpu_mp/<run>/record.json``.

Usage::

    python benchmarks/gpu_mp.py                 # 20 epochs on the GPU
    python benchmarks/gpu_mp.py --epochs 5 --batch-size 256
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model, git_commit, write_record

RESULTS = Path(__file__).parent / "results" / "gpu_mp"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--run", default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        build = "a CPU build of torch" if torch.version.cuda is None else "no visible GPU"
        print(f"gpu_mp.py needs a CUDA GPU; this machine has none ({build}).", file=sys.stderr)
        return 2
    warnings.simplefilter("ignore")
    from sklearn_bandgap.datasets import load_mp_gap_eform
    from sklearn_bandgap.featurizers import NeighborListFeaturizer
    from sklearn_bandgap.metrics import band_gap_report
    from sklearn_bandgap.model_selection import formula_group_split
    from sklearn_bandgap.models import NeighborLSTMRegressor

    data = load_mp_gap_eform(target=["band_gap", "formation_energy_per_atom"], progress=False)
    train, test = formula_group_split(data.formula)
    lists = NeighborListFeaturizer(n_jobs=-1).transform(data.data)
    y = data.target

    def model(device: str, epochs: int) -> NeighborLSTMRegressor:
        return NeighborLSTMRegressor(
            nonnegative=[0],
            output_column=0,
            max_epochs=epochs,
            batch_size=args.batch_size,
            validation_fraction=0.0,  # fixed epochs: the time of an epoch, nothing else
            random_state=0,
            device=device,
        )

    torch.cuda.reset_peak_memory_stats()
    gpu = model("cuda", args.epochs).fit(lists[train], y[train])
    train_peak = torch.cuda.max_memory_allocated()
    gpu_epochs = [float(s) for s in gpu.net_.history[:, "dur"]]
    start = time.perf_counter()
    cpu = model("cpu", 1).fit(lists[train], y[train])
    cpu_epoch = time.perf_counter() - start
    del cpu

    torch.cuda.reset_peak_memory_stats()
    rates, rates_with_features = [], []
    test_structures = [data.data[i] for i in test]
    for _ in range(args.repeats):
        start = time.perf_counter()
        y_pred = gpu.predict(lists[test])
        torch.cuda.synchronize()
        rates.append(len(test) / (time.perf_counter() - start))
        start = time.perf_counter()
        gpu.predict(NeighborListFeaturizer().transform(test_structures))
        rates_with_features.append(len(test) / (time.perf_counter() - start))
    infer_peak = torch.cuda.max_memory_allocated()
    record = {
        "benchmark": "gpu_mp",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "commit": git_commit(),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "gpu": torch.cuda.get_device_name(0),
        },
        "versions": {"sklearn_bandgap": version("sklearn_bandgap"), "torch": torch.__version__},
        "split": {"seed": 0, "n_train": len(train), "n_test": len(test)},
        "batch_size": args.batch_size,
        "gpu_seconds_per_epoch": {
            "first": round(gpu_epochs[0], 2),
            "median_after_first": round(float(np.median(gpu_epochs[1:] or gpu_epochs)), 2),
        },
        "cpu_seconds_per_epoch": round(cpu_epoch, 1),
        "inference_structures_per_s": {
            "neighbour_lists_given": round(float(np.median(rates))),
            "featurization_included": round(float(np.median(rates_with_features))),
        },
        "peak_gpu_memory_mb": {
            "training": round(train_peak / 2**20),
            "inference": round(infer_peak / 2**20),
        },
        "test_after_gpu_epochs": {
            "epochs": args.epochs,
            "band_gap": band_gap_report(y[test, 0], y_pred)["all"],
        },
    }
    run = args.run or datetime.now(UTC).strftime("%Y-%m-%d")
    write_record(RESULTS / run / "record.json", record)
    print(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
