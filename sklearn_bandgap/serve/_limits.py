"""What one request may ask of the server, and the ASGI guard on request bodies."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """The limits that keep the server up.

    Attributes
    ----------
    max_request_bytes : int
        Largest request body (uploads and JSON alike); larger ones get 413
        before they are read.
    max_structures : int
        Most files or texts in one request (413 beyond).
    timeout : float
        Seconds one request may predict for; structures not reached by then
        get "not predicted" in their error cell (the others are returned).
    chunk_size : int
        Structures a worker predicts at a time. A request keeps at most one
        chunk in the pool, so a large upload takes turns with small requests
        instead of holding every worker.
    """

    max_request_bytes: int = 50 * 2**20
    max_structures: int = 5000
    timeout: float = 120.0
    chunk_size: int = 32


class RequestTooLarge(Exception):
    """A request body grew past the limit while it was read."""


class BodySizeLimit:
    """ASGI middleware: 413 for request bodies over ``max_bytes``, declared or streamed.

    A ``Content-Length`` above the limit is refused before any byte is read;
    a body without one (chunked) is counted as it arrives and refused once it
    passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _reply(send, 400, "the Content-Length header is not a number")
                return
            if length > self.max_bytes:
                await _reply(send, 413, self._message(length))
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except RequestTooLarge:
            if not started:
                await _reply(send, 413, self._message(received))

    def _message(self, size: int) -> str:
        return (
            f"the request holds {size / 2**20:.1f} MB, more than this server's limit of "
            f"{self.max_bytes / 2**20:.1f} MB: send the files in several requests"
        )


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
