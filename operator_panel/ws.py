"""WS /ws/operator: every conversation's events, live, for a signed-in operator.

Server → panel frames are `{"type": <event type>, "conversation_id", "seq", ...event data}`
(message.created, message.updated, mode.changed, typing, token, conversation.read), plus
`{"type": "ready", "operator": {...}}` once subscribed and `{"type": "resync"}` when events
may have been missed (the panel reloads from the API). Panel → server: `{"type": "typing",
"conversation_id"}` (the customer sees "operator is typing") and `{"type": "ping"}`.

Close codes mirror HTTP: 4401 no (or an ended) session, 4403 a foreign Origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from beanie import PydanticObjectId
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from loguru import logger
from prometheus_client import Gauge
from redis.exceptions import RedisError

from bot.core.assignment import HEARTBEAT_S, heartbeat
from bot.core.cleanup import connection_scope
from bot.core.events import ALL_CONVERSATIONS, LocalSubscription
from bot.core.operator_actions import SESSION_ENDED
from bot.core.types import ConversationEvent
from bot.core.wire import loads_bounded
from config import Settings
from operator_panel.auth import (
    COOKIE_NAME,
    PanelSession,
    core_of,
    load_session,
    operator_view,
    public_origin,
)

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
# How often an idle socket checks that its session still exists (logout ends it).
SESSION_RECHECK_S = 30.0
TYPING_INTERVAL_S = 2.0
MAX_FRAME = 4096

OPERATOR_SOCKETS = Gauge("switchboard_operator_sockets", "Open operator panel WebSockets")


def origin_allowed(settings: Settings, websocket: WebSocket) -> bool:
    """No Origin (a non-browser client), the public origin, or this very host (same-origin)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.lower().rstrip("/")
    if origin == public_origin(settings):
        return True
    host = (websocket.headers.get("host") or "").lower()
    return bool(host) and urlsplit(origin).netloc == host


# Stands for "no event for a while": time to check that the session still exists.
_RECHECK = ConversationEvent(type="session.recheck", conversation_id="")


def _ends(event: ConversationEvent, session: PanelSession) -> bool:
    """True when a session-ended event is about this socket's session."""
    if event.data.get("operator_id") != str(session.operator.id):
        return False
    ended = event.data.get("session")
    return ended is None or ended == session.key


def event_frame(event: ConversationEvent) -> dict[str, Any]:
    frame: dict[str, Any] = dict(event.data)
    frame.update(type=event.type, conversation_id=event.conversation_id, seq=event.seq)
    return frame


class OperatorConnection:
    """One open panel socket."""

    def __init__(self, settings: Settings, websocket: WebSocket) -> None:
        self.settings = settings
        self.ws = websocket
        self.id = f"operator-{uuid.uuid4().hex}"
        self.core = core_of(websocket)
        self._send_lock = asyncio.Lock()
        self._typing_at: dict[str, float] = {}
        self.session_id: str | None = None

    async def send_json(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_text(json.dumps(frame, ensure_ascii=False, default=str))

    async def serve(self) -> None:
        await self.ws.accept()
        if not origin_allowed(self.settings, self.ws):
            await self.ws.close(code=CLOSE_FORBIDDEN, reason="origin not allowed")
            return
        session_id = self.ws.cookies.get(COOKIE_NAME)
        session = await load_session(self.core, session_id)
        if session is None:
            await self.ws.close(code=CLOSE_UNAUTHORIZED, reason="not signed in")
            return
        OPERATOR_SOCKETS.inc()
        try:
            subscription = self.core.bus.subscribe(ALL_CONVERSATIONS, owner=self.id)
            await self.send_json(
                {"type": "ready", "operator": operator_view(session.operator).model_dump()}
            )
            self.session_id = session_id
            await self._pump(subscription, session)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the panel went away mid-send
        except Exception:
            # A close frame, never a cut: the panel reconnects and reloads.
            logger.exception("operator socket {} failed", self.id)
            with contextlib.suppress(Exception):
                await self.ws.close(code=1011, reason="internal error")
        finally:
            OPERATOR_SOCKETS.dec()
            # Everything this socket held (its bus subscription first) goes in one place.
            await self.core.state.release(connection_scope(self.id))

    async def _pump(self, subscription: LocalSubscription, session: PanelSession) -> None:
        reader = asyncio.create_task(self._read_frames(), name=f"{self.id}-read")
        writer = asyncio.create_task(self._forward(subscription, session), name=f"{self.id}-w")
        present = asyncio.create_task(self._present(session), name=f"{self.id}-presence")
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, WebSocketDisconnect | RuntimeError):
                    raise exc
        finally:
            for task in (reader, writer, present):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _present(self, session: PanelSession) -> None:
        """While this socket is open its operator is online (bot.core.assignment)."""
        while True:
            with contextlib.suppress(RedisError):
                await heartbeat(self.core, str(session.operator.id))
            await asyncio.sleep(HEARTBEAT_S)

    async def _forward(self, subscription: LocalSubscription, session: PanelSession) -> None:
        while True:
            try:
                event = await asyncio.wait_for(subscription.get(), SESSION_RECHECK_S)
            except TimeoutError:
                event = None if subscription.closed else _RECHECK
            if event is None:
                await self.ws.close(code=1012, reason="server restarting")
                return
            if event.type == SESSION_ENDED:
                if _ends(event, session):
                    await self.ws.close(code=CLOSE_UNAUTHORIZED, reason="session ended")
                    return
                continue  # another operator's sign-out: not for this panel
            if event.type in ("resync", _RECHECK.type):
                # A sign-out announced while events were lost is caught here.
                if await load_session(self.core, self.session_id) is None:
                    await self.ws.close(code=CLOSE_UNAUTHORIZED, reason="session ended")
                    return
                if event.type == "resync":
                    await self.send_json({"type": "resync"})
            else:
                await self.send_json(event_frame(event))

    async def _read_frames(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
            raw = message.get("text")
            if raw is None or len(raw) > MAX_FRAME:
                await self._error("bad_frame", "frames must be small JSON text")
                continue
            try:
                frame = loads_bounded(raw)
            except ValueError:  # InputRejected (too deep) included
                frame = None
            if not isinstance(frame, dict):
                await self._error("bad_frame", "frames must be JSON objects")
                continue
            await self._handle(frame)

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "typing":
            conversation_id = frame.get("conversation_id")
            if not isinstance(conversation_id, str) or not PydanticObjectId.is_valid(
                conversation_id
            ):
                await self._error("bad_frame", "typing needs a conversation_id")
                return
            now = time.monotonic()
            if now - self._typing_at.get(conversation_id, 0.0) < TYPING_INTERVAL_S:
                return
            self._typing_at[conversation_id] = now
            await self.core.bus.publish(
                ConversationEvent(
                    type="typing", conversation_id=conversation_id, data={"author": "operator"}
                )
            )
        else:
            await self._error("bad_frame", f"unknown frame type {kind!r}")

    async def _error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})


def build_ws_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["panel"])

    @router.websocket("/ws/operator")
    async def operator_socket(websocket: WebSocket) -> None:
        await OperatorConnection(settings, websocket).serve()

    return router
