"""A throw-away PostgreSQL server for the tests: started in a temporary folder, stopped after.

Debian's ``postgresql`` package provides the server (``.ci/run`` installs it);
the tests that need one skip, saying why, where it cannot start.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _server_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (on PATH, or Debian's versioned folder)."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerUnavailable(RuntimeError):
    """Why no server could be started here."""


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a PostgreSQL server on 127.0.0.1; yield its SQLAlchemy URL; stop it.

    As root (CI), the server runs as the ``postgres`` system user, since
    ``initdb`` refuses root.

    Raises
    ------
    ServerUnavailable
        No server binaries, no driver, or the server did not start.
    """
    try:
        import psycopg  # noqa: F401  (the driver SQLAlchemy uses)
    except ImportError as exc:
        raise ServerUnavailable(f"no PostgreSQL driver: {exc}") from exc
    bin_dir = _server_bin()
    if bin_dir is None:
        raise ServerUnavailable("no PostgreSQL server (Debian package postgresql) installed")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise ServerUnavailable("running as root without runuser to drop to 'postgres'")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="sklearn_bandgap_pg_"))
    data, log = root / "data", root / "server.log"
    if as_user:
        shutil.chown(root, user="postgres")
    port = _free_port()
    started = False
    try:
        _run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
              "-w", "-t", "60", "start"])  # fmt: skip
        started = True
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        program = next(Path(part).name for part in command if "/" in part)
        raise ServerUnavailable(f"{program} failed: {(done.stderr or done.stdout).strip()[-500:]}")
