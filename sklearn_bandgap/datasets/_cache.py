"""Disk cache of parsed structures, keyed by the content of the source file."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar

import joblib

from sklearn_bandgap.datasets._home import get_cache_dir

T = TypeVar("T")

# Bump when the layout of what is cached changes.
_CACHE_FORMAT = 2  # 2: CIFs read by utils._cif.read_cif (file site order)


def file_digest(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(source: Path, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the cache file for ``source``.

    The name holds the source's content hash, the pymatgen version (pickled
    pymatgen objects are only guaranteed to load in the version that wrote
    them) and the cache format, so a changed source file or library never
    reads a stale cache.
    """
    stem = source.name.split(".")[0]
    key = f"{file_digest(source)[:16]}-pmg{version('pymatgen')}-f{_CACHE_FORMAT}"
    return get_cache_dir(cache_dir) / f"{stem}-{key}.joblib"


def load_or_build(
    source: Path,
    build: Callable[[], T],
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> T:
    """Load the cached result of ``build()`` for ``source``, or build and store it.

    Parameters
    ----------
    source : Path
        The data file the cached object is derived from.
    build : callable
        Builds the object from ``source`` when no valid cache exists.
    cache : bool, default=True
        If False, always build and never write.
    cache_dir : str or path-like, default=None
        See :func:`sklearn_bandgap.datasets.get_cache_dir`.

    Returns
    -------
    obj : object
        What ``build()`` returns.
    """
    if not cache:
        return build()
    path = cache_path(source, cache_dir)
    if path.is_file():
        try:
            obj: T = joblib.load(path)
            return obj
        except Exception:  # a truncated or foreign file: rebuild it
            path.unlink(missing_ok=True)
    obj = build()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    joblib.dump(obj, tmp)
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    return obj
