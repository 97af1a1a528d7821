"""``sklearn-bandgap serve`` in a subprocess, for scripts and tests that talk to a real server."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(*options: str, timeout: float = 120.0) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``sklearn-bandgap serve OPTIONS`` on a free local port until the block ends.

    Parameters
    ----------
    *options : str
        Further command-line options (``"--workers", "2"``, ...).
    timeout : float, default=120.0
        Seconds to wait for the server to answer ``GET /api/models``.

    Yields
    ------
    url : str
        ``http://127.0.0.1:PORT``.
    process : subprocess.Popen
        The server (its stderr goes to a temporary file, so that a chatty
        server never blocks on a full pipe).

    Raises
    ------
    RuntimeError
        If the server ends or does not answer in time (its stderr in the message).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sklearn_bandgap", "serve", "--port", str(port), *options],
            stderr=log,
            text=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/models", timeout=2).read()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        process.kill()
                        process.wait()
                        log.seek(0)
                        raise RuntimeError(f"the server did not start: {log.read()}") from None
                    time.sleep(0.3)
            yield url, process
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
