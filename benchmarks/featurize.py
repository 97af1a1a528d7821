"""Neighbour-list featurization speed: NeighborListFeaturizer vs the CGCNN-style path.

Both paths featurize the same structures of the Materials Project set on one core
(plus the featurizer with n_jobs=2 for reference):

* ``NeighborListFeaturizer(n_neighbors=19).transform(structures)``;
* the way the CGCNN reference implementation (txie-93/cgcnn, ``data.py``) builds
  its lists: per structure ``get_all_neighbors(radius, include_index=True)``, a
  per-atom ``sorted(..., key=distance)``, then a cut to ``max_num_nbr`` (here 19,
  radius 8 Å as in CGCNN). Atoms with fewer neighbours within 8 Å are padded by
  CGCNN (it warns); that path is not exact, ours is.

Timing runs are plain; memory is measured in separate runs with ``tracemalloc``
(which slows Python down) so that it does not distort the timings. Results are
printed and written to ``benchmarks/results/featurize/default/record.json``.

Usage::

    python benchmarks/featurize.py               # whole MP set (~20 min, mostly CGCNN)
    python benchmarks/featurize.py --n 2000      # a seeded random subset
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import resource
import time
import tracemalloc
import warnings
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _machine import cpu_model, write_record

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer

RESULTS = Path(__file__).parent / "results" / "featurize" / "default" / "record.json"
CGCNN_RADIUS = 8.0
N_NEIGHBORS = 19


def cgcnn_neighbor_lists(structures, radius=CGCNN_RADIUS, max_num_nbr=N_NEIGHBORS):
    """Neighbour lists built as in CGCNN's CIFData.__getitem__ (without its Gaussian step)."""
    out = []
    for structure in structures:
        all_nbrs = structure.get_all_neighbors(radius, include_index=True)
        all_nbrs = [sorted(nbrs, key=lambda x: x[1]) for nbrs in all_nbrs]
        nbr_fea_idx, nbr_fea = [], []
        for nbr in all_nbrs:
            if len(nbr) < max_num_nbr:  # CGCNN pads with index 0 and radius + 1
                nbr_fea_idx.append([x[2] for x in nbr] + [0] * (max_num_nbr - len(nbr)))
                nbr_fea.append([x[1] for x in nbr] + [radius + 1.0] * (max_num_nbr - len(nbr)))
            else:
                nbr_fea_idx.append([x[2] for x in nbr[:max_num_nbr]])
                nbr_fea.append([x[1] for x in nbr[:max_num_nbr]])
        out.append((np.array(nbr_fea_idx), np.array(nbr_fea)))
    return out


def timed(func, *args):
    gc.collect()
    start = time.perf_counter()
    result = func(*args)
    return result, time.perf_counter() - start


def traced_peak_mb(func, *args):
    gc.collect()
    tracemalloc.start()
    func(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="seeded random subset size")
    parser.add_argument("--memory-n", type=int, default=3000, help="structures for memory runs")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    structures, _ = load_mp_gap_eform(return_X_y=True)
    if args.n is not None:
        structures = random.Random(0).sample(structures, args.n)
    n = len(structures)
    n_atoms = sum(len(s) for s in structures)
    print(f"{n} structures, {n_atoms} atoms (MP set{'' if args.n is None else ' subset'})")

    ours = NeighborListFeaturizer(n_neighbors=N_NEIGHBORS, n_jobs=1)
    lists, t_ours = timed(ours.transform, structures)
    print(f"NeighborListFeaturizer n_jobs=1: {t_ours:.1f} s, {n / t_ours:,.0f} structures/s")
    _, t_ours2 = timed(
        NeighborListFeaturizer(n_neighbors=N_NEIGHBORS, n_jobs=2).transform, structures
    )
    print(f"NeighborListFeaturizer n_jobs=2: {t_ours2:.1f} s, {n / t_ours2:,.0f} structures/s")
    _, t_cgcnn = timed(cgcnn_neighbor_lists, structures)
    print(f"CGCNN-style path:                {t_cgcnn:.1f} s, {n / t_cgcnn:,.0f} structures/s")
    ratio = t_cgcnn / t_ours
    print(f"speed-up, one core: {ratio:.0f}x")

    memory_set = structures[: args.memory_n]
    peak_ours_all = traced_peak_mb(ours.transform, structures)
    peak_ours = traced_peak_mb(ours.transform, memory_set)
    peak_cgcnn = traced_peak_mb(cgcnn_neighbor_lists, memory_set)
    print(
        f"peak traced memory: featurizer {peak_ours_all:.0f} MB on all {n} "
        f"(output {lists.nbytes / 1e6:.0f} MB); on the first {len(memory_set)}: "
        f"featurizer {peak_ours:.0f} MB, CGCNN-style {peak_cgcnn:.0f} MB"
    )
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3

    record = {
        "benchmark": "featurize",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_model(),
            "cores_used": 1,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "note": "shared 2-core machine: ratios are from one run, absolute figures vary",
        },
        "versions": {p: version(p) for p in ("sklearn_bandgap", "pymatgen", "numpy")},
        "data": {
            "set": "mp_gap_eform" if args.n is None else "mp_gap_eform random subset (seed 0)",
            "n_structures": n,
            "n_atoms": n_atoms,
        },
        "n_neighbors": N_NEIGHBORS,
        "featurizer": {
            "seconds": round(t_ours, 2),
            "structures_per_s": round(n / t_ours, 1),
            "seconds_n_jobs_2": round(t_ours2, 2),
            "structures_per_s_n_jobs_2": round(n / t_ours2, 1),
            "peak_traced_mb_all": round(peak_ours_all, 1),
            "output_mb": round(lists.nbytes / 1e6, 1),
        },
        "cgcnn_style": {
            "radius": CGCNN_RADIUS,
            "seconds": round(t_cgcnn, 2),
            "structures_per_s": round(n / t_cgcnn, 1),
        },
        "speedup_one_core": round(ratio, 1),
        "memory_same_subset": {
            "n_structures": len(memory_set),
            "featurizer_peak_traced_mb": round(peak_ours, 1),
            "cgcnn_style_peak_traced_mb": round(peak_cgcnn, 1),
        },
        "process_max_rss_mb": round(max_rss_mb, 1),
        "goals": {"speedup_at_least": 50, "structures_per_s_one_core_at_least": 3000},
    }
    write_record(args.output, record)


if __name__ == "__main__":
    main()
