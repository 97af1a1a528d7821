"""Featurization speed of matminer's classic structure featurizers on the MP set.

Times each featurizer, wrapped in ``MatminerTransformer`` on one core, on a
seeded random sample of the MP structures, and extrapolates to the 33,144
structures of the set: is it worth adding to the comparison? The
``NeighborListFeaturizer`` is timed the same way for scale. Writes
``benchmarks/results/baseline_featurizers/default/record.json``.
"""

from __future__ import annotations

import argparse
import random
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

from _machine import cpu_model, write_record
from matminer.featurizers.site import CrystalNNFingerprint
from matminer.featurizers.structure import (
    OrbitalFieldMatrix,
    SineCoulombMatrix,
    SiteStatsFingerprint,
)

from sklearn_bandgap.baselines import MatminerTransformer, magpie_features
from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer

RESULTS = Path(__file__).parent / "results" / "baseline_featurizers" / "default" / "record.json"


def featurizers():
    """name -> a fresh step (all on one core)."""
    return {
        "NeighborListFeaturizer (this package)": NeighborListFeaturizer(),
        "SineCoulombMatrix": MatminerTransformer(SineCoulombMatrix()),
        "Magpie (StructureComposition+ElementProperty)": magpie_features(),
        "OrbitalFieldMatrix": MatminerTransformer(OrbitalFieldMatrix(flatten=True)),
        "SiteStatsFingerprint(CrystalNNFingerprint ops)": MatminerTransformer(
            SiteStatsFingerprint(CrystalNNFingerprint.from_preset("ops"), stats=("mean", "std_dev"))
        ),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="structures timed per featurizer")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data = load_mp_gap_eform(progress=False)
    sample = [data.data[i] for i in random.Random(1).sample(range(len(data.data)), args.n)]
    n_total = len(data.data)
    results = {}
    for name, step in featurizers().items():
        start = time.perf_counter()
        step.fit(sample)
        step.transform(sample)
        seconds = time.perf_counter() - start
        per_second = args.n / seconds
        results[name] = {
            "structures_per_s": round(per_second, 2),
            "extrapolated_minutes_for_mp_set_one_core": round(n_total / per_second / 60, 1),
        }
        print(name, results[name], flush=True)
    record = {
        "benchmark": "baseline_featurizers",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores_used": 1, "note": "shared 2-core machine"},
        "data": {
            "set": "mp_gap_eform",
            "sample": args.n,
            "sample_seed": 1,
            "mean_sites": round(sum(len(s) for s in sample) / args.n, 1),
            "extrapolated_to": n_total,
        },
        "results": results,
    }
    write_record(RESULTS, record)


if __name__ == "__main__":
    main()
