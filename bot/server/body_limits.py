"""An ASGI guard in front of every HTTP route: body size and JSON depth, before any parsing.

Routes parse their bodies in several ways (FastAPI models, aiogram's Update, Twilio forms);
checking in each would leave the next route unguarded. Here a body is read at most up to
its path's limit (a 100 MB post costs that limit, not 100 MB of memory), refused with 413
beyond it, and a JSON body nested deeper than the core's limit gets a 400 before
`json.loads` can recurse into a RecursionError.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.core.wire import MAX_JSON_DEPTH, json_depth_exceeds

# Longest prefix first. Webhooks carry at most a Telegram update (1 MiB, see the channel);
# the widget's session request is a few short fields; panel requests hold at most a
# prompt block of 20,000 characters, escaped.
DEFAULT_LIMITS: tuple[tuple[str, int], ...] = (
    ("/api/widget/", 16 * 1024),
    ("/api/", 256 * 1024),
    ("/", 1024 * 1024 + 1024),
)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class BodyLimits:
    """Refuses oversized (413) and too deeply nested JSON (400) request bodies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: Sequence[tuple[str, int]] = DEFAULT_LIMITS,
        max_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.limits = sorted(limits, key=lambda item: len(item[0]), reverse=True)
        self.max_depth = max_depth

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.limits[-1][1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", "/"))
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _refuse(send, 400, "Content-Length is not a number")
                return
            if too_big:
                await _refuse(send, 413, f"the body is larger than {limit} bytes")
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _refuse(send, 413, f"the body is larger than {limit} bytes")
                return
            if not message.get("more_body", False):
                break
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        # Routes parse JSON whatever the declared type (a Telegram update); forms never nest.
        if content_type not in _FORM_TYPES and json_depth_exceeds(bytes(body), self.max_depth):
            await _refuse(send, 400, f"JSON is nested more than {self.max_depth} levels deep")
            return
        await self.app(scope, _replay(bytes(body), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # what comes after the body: the client's disconnect

    return replayed


async def _refuse(send: Send, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
