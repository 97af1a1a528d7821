"""Files written under a temporary name and renamed when complete."""

from __future__ import annotations

import os
from pathlib import Path


def publish(temporary: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Rename a finished temporary file to ``path``, with the mode a new file would get.

    ``tempfile.mkstemp`` creates files readable by their owner only (0600);
    the published file gets ``0666`` less the process's umask, as ``open``
    would have given it (0644 under the usual umask 022).
    """
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(temporary, 0o666 & ~mask)
    os.replace(temporary, Path(path))
