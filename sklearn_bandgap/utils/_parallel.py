"""Chunked joblib map with an optional progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from joblib import Parallel, delayed, effective_n_jobs
from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


def chunk_bounds(n_items: int, chunk_size: int) -> list[tuple[int, int]]:
    """Split ``range(n_items)`` into consecutive ``(start, stop)`` chunks."""
    return [(start, min(start + chunk_size, n_items)) for start in range(0, n_items, chunk_size)]


def map_chunks(
    func: Callable[[Sequence[T], int], list[R]],
    items: Sequence[T],
    *,
    n_jobs: int | None = None,
    chunk_size: int = 256,
    progress: bool = False,
    desc: str | None = None,
    **parallel_kwargs: Any,
) -> list[R]:
    """Apply ``func(chunk, start)`` to consecutive chunks of ``items``, in parallel.

    Parameters
    ----------
    func : callable
        Called as ``func(items[start:stop], start)``; returns one result per item.
        ``start`` lets it name the global index of a failing item.
    items : sequence
        The inputs.
    n_jobs : int, default=None
        joblib's ``n_jobs``: None means 1 unless in a ``joblib.parallel_config``
        context, -1 means all cores.
    chunk_size : int, default=256
        Items per task; large enough that per-task overhead is negligible.
    progress : bool, default=False
        Show a tqdm progress bar counting items.
    desc : str, default=None
        Label of the progress bar.
    **parallel_kwargs
        Passed to :class:`joblib.Parallel` (e.g. ``backend``).

    Returns
    -------
    results : list
        The concatenated results, in the order of ``items``.
    """
    bounds = chunk_bounds(len(items), chunk_size)
    results: list[R] = []
    with tqdm(total=len(items), desc=desc, disable=not progress, unit="item") as bar:
        if effective_n_jobs(n_jobs) == 1 and not parallel_kwargs:
            for start, stop in bounds:
                results.extend(func(items[start:stop], start))
                bar.update(stop - start)
            return results
        parallel = Parallel(n_jobs=n_jobs, return_as="generator", **parallel_kwargs)
        chunks = parallel(delayed(func)(items[start:stop], start) for start, stop in bounds)
        for (start, stop), chunk in zip(bounds, chunks, strict=True):
            results.extend(chunk)
            bar.update(stop - start)
    return results
