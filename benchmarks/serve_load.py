"""``sklearn-bandgap serve`` under load: concurrent clients, a large upload and garbage.

Starts the server (``--workers 2``) in a subprocess on this machine and drives it
with asyncio httpx clients in this process (the clients share the 2 cores with it,
so the figures are the server's under its own load generator):

1. **Steady load**: 20 concurrent clients, each sending 50 requests of 10 CIFs of
   the project's test split (multipart uploads): requests/s, structures/s,
   p50/p95/p99 latency, failed requests (goal 0), server memory (RSS of the
   server and its workers, sampled).
2. **Mixed load**: while one client uploads 2,000 structures in one request (again
   and again) and another sends garbage (bad JSON, binary multipart, oversized
   bodies), 5 clients send requests of 10 CIFs: their p95 latency (goal < 1 s),
   and every garbage request answered 4xx (never 5xx).

Writes ``benchmarks/results/serve_load/<run>/record.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil
from _machine import cpu_model, run_dir, write_record

from sklearn_bandgap.datasets import find_data_file, load_mp_gap_eform
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.serve._process import serving


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    values = np.asarray(latencies)
    return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in (50, 95, 99)} | {
        "max": round(float(values.max()), 3),
        "n": len(latencies),
    }


class MemorySampler(threading.Thread):
    """Peak and last RSS of a process and its children, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in procs)
            except psutil.Error:
                break
            self.peak = max(self.peak, rss)
            time.sleep(0.2)


async def _small_client(
    client: httpx.AsyncClient, url: str, cifs: list[tuple[str, str]], n_requests: int, out: dict
) -> None:
    for k in range(n_requests):
        batch = [cifs[(k * 10 + j) % len(cifs)] for j in range(10)]
        files = [("files", (name, text.encode())) for name, text in batch]
        start = time.perf_counter()
        try:
            reply = await client.post(f"{url}/api/predict", files=files)
            ok = reply.status_code == 200 and reply.json()["n_predicted"] == 10
        except httpx.HTTPError:
            ok = False
        out["latencies"].append(time.perf_counter() - start)
        out["structures"] += 10 if ok else 0
        out["failed"] += 0 if ok else 1


async def _large_client(
    client: httpx.AsyncClient, url: str, cifs: list[tuple[str, str]], stop: asyncio.Event, out: dict
) -> None:
    files = [
        ("files", (f"{i}_{name}", text.encode())) for i, (name, text) in enumerate(cifs[:2000])
    ]
    while not stop.is_set():
        start = time.perf_counter()
        reply = await client.post(f"{url}/api/predict", files=files, timeout=600)
        out["seconds"].append(time.perf_counter() - start)
        out["statuses"].append(reply.status_code)
        if reply.status_code == 200:
            out["predicted"].append(reply.json()["n_predicted"])


async def _garbage_client(
    client: httpx.AsyncClient, url: str, stop: asyncio.Event, out: dict
) -> None:
    kinds = [
        ({"content": b"{not json"}, "application/json"),
        ({"content": os.urandom(4096)}, "multipart/form-data; boundary=x"),
        ({"content": b'{"structures": 5}'}, "application/json"),
        ({"content": b"x" * (60 * 2**20)}, "application/json"),  # over the 50 MB limit
        ({"content": b"hello"}, "text/plain"),
    ]
    k = 0
    while not stop.is_set():
        body, content_type = kinds[k % len(kinds)]
        k += 1
        try:
            reply = await client.post(
                f"{url}/api/predict", headers={"content-type": content_type}, **body
            )
            out["statuses"].append(reply.status_code)
        except httpx.HTTPError as exc:  # e.g. the server closed an oversized upload early
            out["statuses"].append(type(exc).__name__)
        await asyncio.sleep(0.05)


async def _steady(url: str, cifs: list[tuple[str, str]], clients: int, requests: int) -> dict:
    out: dict[str, Any] = {"latencies": [], "structures": 0, "failed": 0}
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _small_client(client, url, cifs[c * 17 :] + cifs[: c * 17], requests, out)
                for c in range(clients)
            )
        )
        seconds = time.perf_counter() - start
    n = len(out["latencies"])
    return {
        "clients": clients,
        "requests_per_client": requests,
        "structures_per_request": 10,
        "seconds": round(seconds, 1),
        "requests_per_second": round(n / seconds, 1),
        "structures_per_second": round(out["structures"] / seconds, 1),
        "latency_seconds": _percentiles(out["latencies"]),
        "failed_requests": out["failed"],
    }


async def _mixed(url: str, cifs: list[tuple[str, str]], clients: int, requests: int) -> dict:
    small: dict[str, Any] = {"latencies": [], "structures": 0, "failed": 0}
    large: dict[str, Any] = {"seconds": [], "statuses": [], "predicted": []}
    garbage: dict[str, Any] = {"statuses": []}
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=clients + 6)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        background = [
            asyncio.create_task(_large_client(client, url, cifs, stop, large)),
            asyncio.create_task(_garbage_client(client, url, stop, garbage)),
        ]
        await asyncio.sleep(2.0)  # the large upload is under way
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _small_client(client, url, cifs[c * 31 :] + cifs[: c * 31], requests, small)
                for c in range(clients)
            )
        )
        seconds = time.perf_counter() - start
        stop.set()
        await asyncio.gather(*background)
    statuses = garbage["statuses"]
    return {
        "small_clients": clients,
        "requests_per_client": requests,
        "seconds": round(seconds, 1),
        "small_latency_seconds": _percentiles(small["latencies"]),
        "small_failed_requests": small["failed"],
        "large_uploads": {
            "structures_per_request": 2000,
            "completed": len(large["seconds"]),
            "seconds": [round(s, 1) for s in large["seconds"]],
            "statuses": large["statuses"],
            "predicted": large["predicted"],
        },
        "garbage_requests": {
            "n": len(statuses),
            "statuses": {
                name: [str(s) for s in statuses].count(name)
                for name in sorted({str(s) for s in statuses})
            },
            "any_5xx": any(isinstance(s, int) and s >= 500 for s in statuses),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--mixed-clients", type=int, default=5)
    parser.add_argument("--mixed-requests", type=int, default=100)
    parser.add_argument("--run", default=None)
    args = parser.parse_args()

    data = load_mp_gap_eform(progress=False)
    _, test = formula_group_split(data.formula)
    table = pd.read_csv(find_data_file("mp_gap_eform/mp_gap_eform.csv.gz"), usecols=["cif"])
    cifs = [(f"{data.material_id[i]}.cif", table["cif"].iloc[i]) for i in test]

    started = time.perf_counter()
    with serving("--workers", str(args.workers)) as (url, server):
        startup = time.perf_counter() - started
        idle_rss = sum(
            p.memory_info().rss
            for p in [psutil.Process(server.pid), *psutil.Process(server.pid).children(True)]
        )
        sampler = MemorySampler(server.pid)
        sampler.start()
        steady = asyncio.run(_steady(url, cifs, args.clients, args.requests))
        print("steady", steady)
        steady_peak = sampler.peak
        mixed = asyncio.run(_mixed(url, cifs, args.mixed_clients, args.mixed_requests))
        print("mixed", mixed)
        sampler.stop.set()
        alive = server.poll() is None
    record = {
        "benchmark": "serve_load",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "data": "CIFs of the project's test split (MP set, formula split seed 0), as uploads",
        "server": f"sklearn-bandgap serve --workers {args.workers} (band_gap_mp2018; uvicorn, "
        "one event loop, prediction in worker processes)",
        "clients": "asyncio httpx in the benchmark's process, on the same 2 cores",
        "startup_seconds": round(startup, 1),
        "memory_mb": {
            "idle": round(idle_rss / 2**20),
            "peak_steady": round(steady_peak / 2**20),
            "peak_overall": round(sampler.peak / 2**20),
        },
        "steady": steady,
        "mixed": mixed,
        "server_alive_at_the_end": alive,
        "notes": "garbage kinds in turn: bad JSON, binary multipart, a JSON list that is no "
        "structure list, a 60 MB body over the 50 MB limit, text/plain. The server answers "
        "the oversized body 413 from its Content-Length and closes the connection while "
        "the client is still sending, which httpx reports as ReadError (never a 5xx).",
        "checks": {
            "no failed request under steady load": steady["failed_requests"] == 0,
            "small requests' p95 < 1 s beside a 2,000-structure upload and garbage": mixed[
                "small_latency_seconds"
            ].get("p95", 99)
            < 1.0,
            "no failed small request in the mixed load": mixed["small_failed_requests"] == 0,
            "garbage never answered 5xx": not mixed["garbage_requests"]["any_5xx"],
            "every large upload predicted in full": all(
                n == 2000 for n in mixed["large_uploads"]["predicted"]
            )
            and len(mixed["large_uploads"]["predicted"]) > 0,
        },
    }
    for key, value in record["checks"].items():
        print(f"{'ok ' if value else 'NO '} {key}")
    write_record(run_dir("serve_load", args.run) / "record.json", record)


if __name__ == "__main__":
    main()
