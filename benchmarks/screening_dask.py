"""Screening a million hypothetical crystals with Dask on this machine.

The screening set is generated lazily, inside the workers, never held in
memory: structure ``i`` is structure ``i mod 200`` of the shipped MP sample with
each element replaced, with probability 1/2, by another element of its group
of the periodic table (Z <= 94, seeded by ``i``) and its cell rescaled by a
seeded factor in [0.96, 1.06]. Each Dask task generates one partition, predicts
it with ``sklearn-bandgap predict``'s chunk code (the shipped band-gap model)
and writes its rows as one Parquet file, as a real screening would; the client
keeps at most two tasks per worker in flight.

Measured: structures/s with 1 worker (``--n-one``) and with 2 workers (``--n``,
one million by default) on a ``LocalCluster`` of processes with one thread each,
the ratio, the peak resident memory of each worker process (sampled every
0.5 s), and the time a 64-worker cluster would take for one million structures
at the measured per-worker rate and 2-worker efficiency (an extrapolation).

Writes ``benchmarks/results/screening_dask/<run>/record.json``.

Usage::

    python benchmarks/screening_dask.py                   # 1M with 2 workers, 100k with 1
    python benchmarks/screening_dask.py --n 20000 --n-one 5000   # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model, git_commit, write_record

RESULTS = Path(__file__).parent / "results" / "screening_dask"

_BASES: list[Any] = []
_GROUPS: dict[int, list[str]] = {}


def _bases() -> list[Any]:
    """The 200 shipped sample structures, loaded once per worker process."""
    if not _BASES:
        from pymatgen.core import Element

        from sklearn_bandgap.datasets import load_mp_gap_eform

        _BASES.extend(load_mp_gap_eform(subset="sample200", progress=False).data)
        for z in range(1, 95):
            element = Element.from_Z(z)
            _GROUPS.setdefault(element.group, []).append(element.symbol)
    return _BASES


def hypothetical(index: int) -> Any:
    """Screening structure ``index``: a sample structure, substituted within groups, rescaled."""
    from pymatgen.core import Element, Lattice, Structure

    bases = _bases()
    rng = np.random.default_rng([20261130, index])
    base = bases[index % len(bases)]
    mapping = {}
    for element in sorted({site.specie.symbol for site in base}):
        group = _GROUPS[Element(element).group]
        mapping[element] = str(rng.choice(group)) if rng.random() < 0.5 else element
    scale = rng.uniform(0.96, 1.06)
    lattice = Lattice(base.lattice.matrix * scale)
    species = [mapping[site.specie.symbol] for site in base]
    return Structure(lattice, species, base.frac_coords)


def screen_partition(start: int, stop: int, model: str, out_dir: str) -> dict[str, float]:
    """Generate, predict and write structures ``start`` to ``stop`` (one Parquet file)."""
    import warnings

    from sklearn_bandgap.screening import rows_to_frame
    from sklearn_bandgap.screening._chunks import predict_chunk, resolve_model
    from sklearn_bandgap.screening._sources import Item

    began = time.perf_counter()
    items = [Item(f"hypo-{i}", hypothetical(i), "structure") for i in range(start, stop)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header, rows = predict_chunk([resolve_model(model)], items)
    frame = rows_to_frame(header, rows)
    frame.to_parquet(Path(out_dir) / f"part-{start:09d}.parquet", index=False)
    return {
        "rows": len(frame),
        "errors": int((frame.error != "").sum()),
        "warnings": int((frame.warning != "").sum()),
        "seconds": time.perf_counter() - began,
    }


def run(n: int, n_workers: int, partition: int, model: str) -> dict[str, Any]:
    """Screen ``n`` structures on a fresh LocalCluster of ``n_workers`` processes."""
    import psutil
    from distributed import Client, LocalCluster

    out_dir = tempfile.mkdtemp(prefix="screening_")
    with (
        LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = list(client.run(os.getpid).values())
        peak = dict.fromkeys(pids, 0)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                for pid in list(peak):
                    try:
                        peak[pid] = max(peak[pid], psutil.Process(pid).memory_info().rss)
                    except psutil.NoSuchProcess:
                        pass
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        starts = range(0, n, partition)
        in_flight, results = [], []
        began = time.perf_counter()
        for start in starts:
            future = client.submit(
                screen_partition, start, min(start + partition, n), model, out_dir, pure=False
            )
            in_flight.append(future)
            if len(in_flight) >= 2 * n_workers:
                results.append(in_flight.pop(0).result())
            done = sum(r["rows"] for r in results)
            if results and done % (20 * partition) == 0:
                rate = done / (time.perf_counter() - began)
                rss = [round(v / 2**20) for v in peak.values()]
                print(
                    f"  {n_workers} worker(s): {done:,} of {n:,} ({rate:.0f}/s; "
                    f"peak RSS per worker so far {rss} MB)",
                    flush=True,
                )
        results += [future.result() for future in in_flight]
        wall = time.perf_counter() - began
        stop.set()
        sampler.join()
    files = len(list(Path(out_dir).glob("part-*.parquet")))
    shutil.rmtree(out_dir, ignore_errors=True)
    rows = sum(r["rows"] for r in results)
    return {
        "n": n,
        "workers": n_workers,
        "partition_size": partition,
        "rows_written": rows,
        "parquet_files": files,
        "errors": sum(r["errors"] for r in results),
        "out_of_domain_warnings": sum(r["warnings"] for r in results),
        "seconds": round(wall, 1),
        "structures_per_s": round(rows / wall, 1),
        "peak_rss_per_worker_mb": [round(v / 2**20) for v in peak.values()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="structures with 2 workers")
    parser.add_argument("--n-one", type=int, default=100_000, help="structures with 1 worker")
    parser.add_argument("--partition", type=int, default=2000, help="structures per task")
    parser.add_argument("--model", default="band_gap_mp2018")
    parser.add_argument("--run", default=None)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"  # one thread per worker process

    from sklearn_bandgap.screening._chunks import resolve_model

    model = resolve_model(args.model).path
    one = run(args.n_one, 1, args.partition, model)
    print(one, flush=True)
    two = run(args.n, 2, args.partition, model)
    print(two, flush=True)
    speedup = two["structures_per_s"] / one["structures_per_s"]
    efficiency = speedup / 2
    cluster_rate = one["structures_per_s"] * 64 * efficiency
    record = {
        "benchmark": "screening_dask",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "threads_per_worker": 1},
        "versions": {p: version(p) for p in ("sklearn_bandgap", "dask", "distributed", "torch")},
        "model": args.model,
        "data": "hypothetical crystals from the 200-structure MP sample: elements substituted "
        "within their groups (p = 1/2 each, Z <= 94), cells rescaled by 0.96-1.06, seeded by index",
        "one_worker": one,
        "two_workers": two,
        "speedup_1_to_2_workers": round(speedup, 2),
        "goal_speedup": 1.7,
        "extrapolated_64_workers": {
            "assumption": "per-worker rate of the 1-worker run times 64, at the parallel "
            "efficiency measured from 1 to 2 workers; the scheduler and storage keep up",
            "structures_per_s": round(cluster_rate),
            "hours_for_1M": round(1_000_000 / cluster_rate / 3600, 3),
        },
    }
    run_name = args.run or datetime.now(UTC).strftime("%Y-%m-%d")
    write_record(RESULTS / run_name / "record.json", record)
    print(record)


if __name__ == "__main__":
    main()
