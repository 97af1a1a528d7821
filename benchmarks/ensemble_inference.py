"""Inference speed of a seed ensemble against one model, featurization included.

The speed goal (≥ 1,000 structures/s including featurization) was measured on
single models by ``train_mp.py``; the accuracy goals are met by seed ensembles
(``ensemble_mp.py``), which run every member. This script times both on the
project's test split (3,333 structures) in one run: a pipeline
``NeighborListFeaturizer`` + ``NeighborLSTMRegressor`` (default sizes, multi-task
band gap + formation energy) and the same pipeline with a
``SeedEnsembleRegressor`` of three members. Compute per structure does not depend
on the weights, so the members are trained for one epoch on 2,000 training
structures only; their predictions mean nothing. Each pipeline predicts the test
split ``--repeats`` times; the median is reported.

Usage::

    python benchmarks/ensemble_inference.py --threads 2
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model, write_record
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import NeighborLSTMRegressor, SeedEnsembleRegressor

RESULTS = Path(__file__).parent / "results"


def median_rate(pipeline, structures, repeats: int) -> dict[str, float]:
    """Median structures/s of ``pipeline.predict`` over ``repeats`` runs."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        pipeline.predict(structures)
        seconds.append(time.perf_counter() - start)
    median = float(np.median(seconds))
    return {
        "seconds_median": round(median, 3),
        "seconds_all": [round(s, 3) for s in seconds],
        "structures_per_s": round(len(structures) / median, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "ensemble_inference" / "default" / "record.json"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    data = load_mp_gap_eform(target=["band_gap", "formation_energy_per_atom"], progress=False)
    train, test = formula_group_split(data.formula)
    fit_rows = train[:2000]
    X_fit = [data.data[i] for i in fit_rows]
    X_test = [data.data[i] for i in test]
    member = NeighborLSTMRegressor(max_epochs=1, nonnegative=[0], random_state=0)
    single = make_pipeline(NeighborListFeaturizer(), member)
    ensemble = make_pipeline(
        NeighborListFeaturizer(),
        SeedEnsembleRegressor(member, random_states=list(range(args.members))),
    )
    for pipeline in (single, ensemble):
        pipeline.fit(X_fit, data.target[fit_rows])
    figures = {
        "single": median_rate(single, X_test, args.repeats),
        f"ensemble_{args.members}": median_rate(ensemble, X_test, args.repeats),
    }
    ratio = (
        figures["single"]["structures_per_s"]
        / figures[f"ensemble_{args.members}"]["structures_per_s"]
    )
    for name, result in figures.items():
        print(f"{name}: {result['structures_per_s']:.0f} structures/s ({result['seconds_all']} s)")
    print(f"ensemble takes {ratio:.2f}x the time of one model")
    record = {
        "benchmark": "ensemble_inference",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_model(),
            "cores": 2,
            "torch_threads": args.threads,
            "platform": platform.platform(),
        },
        "data": {"set": "mp_gap_eform", "predicted": f"project test split, {len(X_test)}"},
        "settings": {"members": args.members, "repeats": args.repeats, "multi_task": True},
        "results": figures,
        "ensemble_over_single_time": round(ratio, 2),
    }
    write_record(args.output, record)


if __name__ == "__main__":
    main()
