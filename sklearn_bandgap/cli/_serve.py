"""``sklearn-bandgap serve``: the page and the HTTP API under uvicorn."""

from __future__ import annotations

import argparse
import sys

from sklearn_bandgap.cli._errors import UsageError

#: Addresses that only this machine reaches.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def run(args: argparse.Namespace) -> int:
    """Carry out ``sklearn-bandgap serve``."""
    try:
        import uvicorn

        from sklearn_bandgap.serve import Limits, create_app
    except ImportError as exc:
        raise UsageError(
            f"serve needs the serve extra ({exc.name} is missing): "
            "pip install 'sklearn_bandgap[serve]'"
        ) from None
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: use at least one worker process")
    for name in ("max_structures", "max_request_mb", "timeout"):
        value = getattr(args, name)
        if value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} {value}: use a positive value")
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: use a port between 1 and 65535")
    from sklearn_bandgap.io import ModelFileError

    limits = Limits(
        max_request_bytes=int(args.max_request_mb * 2**20),
        max_structures=args.max_structures,
        timeout=args.timeout,
    )
    try:
        app = create_app(args.model or "band_gap_mp2018", workers=args.workers, limits=limits)
    except ModelFileError as exc:
        raise UsageError(f"--model: {exc}") from None
    if args.host not in LOCAL_HOSTS:
        print(
            f"Warning: listening on {args.host}, so other machines can reach this server. "
            "It has no authentication; put it behind a proxy that has.",
            file=sys.stderr,
        )
    print(
        f"Starting {args.workers} prediction worker(s); then the page is at "
        f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}/",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
