"""Where the data lives: the data home and the cache folder."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "SKLEARN_BANDGAP_DATA"
CACHE_ENV_VAR = "SKLEARN_BANDGAP_CACHE"

# ``<repository>/sklearn_bandgap/datasets/_home.py`` -> ``<repository>/../shared/data``
_REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
_SHARED_DATA = _REPOSITORY_ROOT.parent / "shared" / "data"
_USER_DATA = Path("~/sklearn_bandgap_data")


def data_home_candidates(data_home: str | os.PathLike[str] | None = None) -> list[Path]:
    """List the folders searched for data, in order of precedence.

    Parameters
    ----------
    data_home : str or path-like, default=None
        An explicit folder. When given it is the only candidate.

    Returns
    -------
    candidates : list of Path
        ``data_home`` if given; otherwise the folder named by the
        ``SKLEARN_BANDGAP_DATA`` environment variable (if set), then
        ``../shared/data`` next to the repository, then
        ``~/sklearn_bandgap_data``.
    """
    if data_home is not None:
        return [Path(data_home).expanduser()]
    candidates = []
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        candidates.append(Path(env).expanduser())
    candidates.append(_SHARED_DATA)
    candidates.append(_USER_DATA.expanduser())
    return candidates


def find_data_file(relative_path: str, data_home: str | os.PathLike[str] | None = None) -> Path:
    """Return the first existing ``<candidate>/<relative_path>``.

    Parameters
    ----------
    relative_path : str
        Path of the file inside a data home, e.g.
        ``"mp_gap_eform/mp_gap_eform.csv.gz"``.
    data_home : str or path-like, default=None
        See :func:`data_home_candidates`.

    Returns
    -------
    path : Path
        The file found.

    Raises
    ------
    FileNotFoundError
        If no candidate holds the file; the message lists every place looked at.
    """
    candidates = data_home_candidates(data_home)
    for folder in candidates:
        path = folder / relative_path
        if path.is_file():
            return path
    looked = "\n".join(f"  - {folder / relative_path}" for folder in candidates)
    raise FileNotFoundError(
        f"Data file {relative_path!r} not found. Looked in:\n{looked}\n"
        f"Pass data_home=..., or set the {DATA_ENV_VAR} environment variable to the "
        "folder that holds it."
    )


def get_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return (and create) the folder for parsed-structure caches.

    Parameters
    ----------
    cache_dir : str or path-like, default=None
        An explicit folder; else ``$SKLEARN_BANDGAP_CACHE``; else the
        platform's user cache folder (platformdirs: ``$XDG_CACHE_HOME`` or
        ``~/.cache/sklearn_bandgap`` on Linux, ``~/Library/Caches`` on macOS,
        ``%LOCALAPPDATA%`` on Windows).

    Returns
    -------
    path : Path
        The cache folder, created if missing.
    """
    if cache_dir is None:
        env = os.environ.get(CACHE_ENV_VAR)
        if env:
            cache_dir = env
        else:
            from platformdirs import user_cache_dir

            cache_dir = user_cache_dir("sklearn_bandgap", appauthor=False)
    path = Path(cache_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
