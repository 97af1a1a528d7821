"""Ctrl-C that is never lost: a remembered SIGINT for the command line.

Python turns SIGINT into ``KeyboardInterrupt`` wherever the main thread is, and
some places lose it: during the lazy import of a compiled extension it
surfaces as ``ImportError: initialization failed``, which a library's
``try: import ... except ImportError`` may swallow, and the command then runs
to the end as if no key had been pressed. While :func:`remembering_interrupts`
is active, a SIGINT still raises ``KeyboardInterrupt`` at once, and is also
remembered: the command line checks :func:`raise_if_interrupted` between
chunks of work and reads :func:`was_interrupted` when it ends with any error,
so a lost interrupt still stops the work and exits with status 130.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_interrupted = threading.Event()


def _remember_and_raise(signum: int, frame: FrameType | None) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def remembering_interrupts() -> Iterator[None]:
    """Remember SIGINT while the block runs (main thread, Python's default handler only).

    A SIGINT that is ignored (a background job) or handled by someone else
    stays so; outside the main thread nothing changes. The previous handler
    is restored on exit.
    """
    _interrupted.clear()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    signal.signal(signal.SIGINT, _remember_and_raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def was_interrupted() -> bool:
    """Whether a SIGINT arrived since :func:`remembering_interrupts` began."""
    return _interrupted.is_set()


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a SIGINT arrived, even one that was swallowed since."""
    if _interrupted.is_set():
        raise KeyboardInterrupt
