"""Disk cache of parsed structures: keyed by the source's content, checked by a digest.

A cache that cannot serve wrong data: each cache file has a SHA-256 digest
beside it, checked before it is loaded (a damaged or replaced file is parsed
again and replaced, with a warning); its content must also have the expected
shape. One process parses at a time (a ``filelock`` lock per cache file), so
concurrent first loads parse once and the others read the result; temporary
files of killed writers are removed; a cache folder that cannot be created or
written costs a warning, never the data.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import joblib
from filelock import FileLock, Timeout

from sklearn_bandgap.datasets._home import get_cache_dir

T = TypeVar("T")

# Bump when the layout of what is cached changes.
_CACHE_FORMAT = 3  # 2: CIFs read by utils._cif.read_cif; 3: a digest file beside each
#: Seconds a process waits for another one parsing the same file before it
#: parses itself (without the cache).
LOCK_TIMEOUT = 1800.0


class CacheWarning(UserWarning):
    """The parse cache could not be used (the data is returned all the same)."""


def file_digest(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(
    source: Path, cache_dir: str | os.PathLike[str] | None = None, derived: str | None = None
) -> Path:
    """Path of the cache file for ``source``.

    The name holds the source's content hash, the pymatgen version (pickled
    pymatgen objects are only guaranteed to load in the version that wrote
    them) and the cache format, so a changed source file or library never
    reads a stale cache. ``derived`` names something else computed from the
    same source (e.g. ``"chgnet0.3.0-0.4.2"``: CHGNet features, with the
    model and library versions that make them), cached beside it.
    """
    stem = source.name.split(".")[0] + (f"-{derived}" if derived else "")
    key = f"{file_digest(source)[:16]}-pmg{version('pymatgen')}-f{_CACHE_FORMAT}"
    return get_cache_dir(cache_dir) / f"{stem}-{key}.joblib"


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _warn(message: str) -> None:
    warnings.warn(message, CacheWarning, stacklevel=4)


def _read(path: Path, validate: Callable[[Any], bool]) -> Any | None:
    """The cached object if the file exists, matches its digest and holds what it should."""
    if not path.is_file():
        return None
    try:
        expected = _digest_path(path).read_text().strip()
        matches = file_digest(path) == expected
    except OSError:
        matches = False
    if not matches:
        _warn(f"cache file {path} does not match its digest (damaged or replaced): parsing again.")
        return None
    try:
        obj = joblib.load(path)
    except Exception as exc:
        _warn(f"cache file {path} cannot be read ({exc}): parsing again.")
        return None
    if not validate(obj):
        _warn(f"cache file {path} does not hold the expected data: parsing again.")
        return None
    return obj


def remove_cache_files(
    source: Path, cache_dir: str | os.PathLike[str] | None = None, derived: str | None = None
) -> None:
    """Remove the cache file of ``source`` (and ``derived``) and its digest, if present.

    The lock file stays: another process may hold it.
    """
    try:
        path = cache_path(source, cache_dir, derived)
        for item in (path, _digest_path(path)):
            item.unlink(missing_ok=True)
    except OSError as exc:
        _warn(f"cannot remove the cache file of {source.name} ({exc}).")


def _remove_temporary_files(path: Path) -> None:
    """Remove what killed writers left (only called while holding the lock)."""
    patterns = (f"{path.name}.tmp*", f"{path.stem}.tmp*")  # the second: cache format 1
    for pattern in patterns:
        for leftover in path.parent.glob(pattern):
            leftover.unlink(missing_ok=True)


def _write(path: Path, obj: Any) -> None:
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        joblib.dump(obj, tmp)
        digest = file_digest(tmp)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
        _digest_path(path).write_text(digest + "\n")
    finally:
        tmp.unlink(missing_ok=True)


def load_or_build(
    source: Path,
    build: Callable[[], T],
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    validate: Callable[[Any], bool] = lambda obj: True,
    derived: str | None = None,
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
    validate : callable, default=accept anything
        True if a loaded object has the expected content; else it is rebuilt.
    derived : str, default=None
        Names a second product of the same source (see :func:`cache_path`).

    Returns
    -------
    obj : object
        What ``build()`` returns.

    Warns
    -----
    CacheWarning
        When the cache cannot be used: a damaged or foreign cache file (rebuilt
        and replaced), a folder that cannot be created or written, a lock held
        too long by another process. The data is returned all the same.
    """
    if not cache:
        return build()
    try:
        path = cache_path(source, cache_dir, derived)
    except OSError as exc:
        _warn(f"the cache folder cannot be created ({exc}): parsing without a cache.")
        return build()
    lock = FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT)
    try:
        lock.acquire()
    except (OSError, Timeout) as exc:
        _warn(f"cannot lock {path} ({exc}): parsing without writing the cache.")
        cached = _read(path, validate)
        return cached if cached is not None else build()
    try:
        cached = _read(path, validate)
        if cached is not None:
            return cached
        _remove_temporary_files(path)
        obj = build()
        try:
            _write(path, obj)
        except OSError as exc:
            _warn(f"cannot write the cache file {path} ({exc}); the data is not cached.")
        return obj
    finally:
        lock.release()
