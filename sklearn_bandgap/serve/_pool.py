"""Prediction off the event loop: a bounded pool of worker processes, taken in turns.

The rows come from :func:`sklearn_bandgap.screening._chunks.predict_chunk`,
the core ``sklearn-bandgap predict`` and the Dask screening use, so the server
returns exactly their values. Each worker process loads the models once, when
it starts. A request sends one chunk at a time and waits for it before the
next, so a request of 2,000 structures keeps at most one worker busy and small
requests queue behind at most one chunk, never behind the whole upload.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sklearn_bandgap.screening._chunks import ModelSpec, predict_chunk
from sklearn_bandgap.screening._sources import Item


def _load_models(paths: list[str], workers: int) -> None:
    """Worker initializer: a watch on the server, torch's threads, then every model once.

    One worker keeps torch's default threads, as ``sklearn-bandgap predict``
    does, so that both give the same values to the last digit; several share
    them out.
    """
    import torch

    from sklearn_bandgap.screening._chunks import _model

    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    if workers > 1:
        torch.set_num_threads(max(1, torch.get_num_threads() // workers))
    for path in paths:
        _model(path)


def _exit_with_parent(parent: int) -> None:
    """End this worker once the server process is gone, however it ended (even SIGKILL)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _ready(seconds: float) -> int:
    """A task that keeps a worker busy for a moment, so that every worker gets started."""
    time.sleep(seconds)
    return 0


class PredictionPool:
    """A pool of ``workers`` processes that predict chunks of items.

    Parameters
    ----------
    specs : list of ModelSpec
        Every model a request may ask for (each worker loads them all).
    workers : int
        Worker processes.
    """

    def __init__(self, specs: list[ModelSpec], workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers={workers}: use at least one worker process")
        self.workers = workers
        self._paths = [spec.path for spec in specs]
        self._executor = self._new_executor()
        self.restarts = 0

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_models,
            initargs=(self._paths, self.workers),
        )

    def start(self) -> None:
        """Start every worker and load its models now (blocks until they are ready)."""
        futures = [self._executor.submit(_ready, 0.2) for _ in range(self.workers)]
        for future in futures:
            future.result()

    def header(self, specs: list[ModelSpec]) -> list[str]:
        """The CSV header of ``specs`` (computed in a worker, where the models are loaded)."""
        header: list[str] = self._executor.submit(predict_chunk, specs, []).result()[0]
        return header

    async def rows(
        self,
        specs: list[ModelSpec],
        items: list[Item],
        *,
        n_values: int,
        chunk_size: int,
        timeout: float,
    ) -> list[list[Any]]:
        """The rows of ``items`` in order, one chunk at a time, for at most ``timeout`` s.

        Items not reached in time, and the chunk of a worker that died (killed,
        out of memory; the pool is then restarted for the next chunk), get rows
        of ``n_values`` empty predictions whose error says why.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        late = (
            f"not predicted: the request reached this server's time limit of {timeout:g} s; "
            "send fewer structures per request"
        )
        rows: list[list[Any]] = []
        for start in range(0, len(items), chunk_size):
            chunk = items[start : start + chunk_size]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return rows + _unpredicted(items[start:], n_values, late)
            executor = self._executor
            try:
                future = loop.run_in_executor(executor, predict_chunk, specs, chunk)
                _, chunk_rows = await asyncio.wait_for(asyncio.shield(future), remaining)
            except TimeoutError:
                return rows + _unpredicted(items[start:], n_values, late)
            except BrokenProcessPool:
                self._restart(executor)
                reason = "not predicted: the prediction worker stopped (out of memory?); retry"
                chunk_rows = _unpredicted(chunk, n_values, reason)
            rows.extend(chunk_rows)
        return rows

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        if broken is self._executor:  # one restart, however many requests saw it broken
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            self.restarts += 1

    def close(self) -> None:
        """Stop the workers: pending chunks are dropped, running ones finish (one chunk each).

        Waits for the workers to exit: uvicorn ends the process by re-raising
        the signal that stopped it, which would leave them running otherwise.
        """
        self._executor.shutdown(wait=True, cancel_futures=True)


def _unpredicted(items: list[Item], n_values: int, reason: str) -> list[list[Any]]:
    """Rows with empty predictions and ``reason`` in the error column."""
    return [[item.id, "", *[""] * n_values, "", reason] for item in items]
