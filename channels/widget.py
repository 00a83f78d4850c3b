"""The website chat widget: visitor sessions over HTTP, the conversation over a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import jwt
from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from loguru import logger
from prometheus_client import Gauge
from pydantic import BaseModel, Field

from bot.core.types import (
    INT64_MAX,
    Attachment,
    Author,
    ChannelContext,
    ConversationEvent,
    DeliveryResult,
    DeliveryStatus,
    HistoryPage,
    InboundMessage,
    IngestUnavailable,
    InputRejected,
    MessageView,
    Mode,
    OutboundMessage,
    Subscription,
    loads_bounded,
)
from channels.base import ChannelAdapter
from config import Settings

STATIC_DIR = Path(__file__).with_name("widget_static")
CHANNEL = "web"
TOKEN_TYPE = "widget"  # noqa: S105 - a claim value, not a secret
HISTORY_PAGE = 50
# A quick reply's payload, as Telegram limits its callback data.
MAX_PAYLOAD = 64
# Close codes in the 4000 range mirror HTTP: the widget drops its token on 4401.
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
CLOSE_INTERNAL = 1011
CLOSE_TOO_MANY = 4429
CLOSE_FORBIDDEN = 4403
TYPING_INTERVAL_S = 2.0
# Open sockets of one visitor in one process (tabs of one browser share the token).
MAX_SOCKETS_PER_VISITOR = 8

WIDGET_SOCKETS = Gauge("switchboard_widget_sockets", "Open widget WebSockets")


class SessionRequest(BaseModel):
    token: str | None = Field(default=None, max_length=2048)
    name: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=16)


class SessionResponse(BaseModel):
    token: str
    conversation_id: str


class WidgetError(Exception):
    """A frame the client sent that we refuse, with the code the error frame carries."""

    def __init__(self, code: str, detail: str, client_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id  # the rejected message's, so the widget can mark it


def message_frame(message: MessageView) -> dict[str, Any]:
    return {"type": "message", "seq": message.seq, "message": message.model_dump(mode="json")}


def history_frame(page: HistoryPage) -> dict[str, Any]:
    return {
        "type": "history",
        "messages": [m.model_dump(mode="json") for m in page.messages],
        "last_seq": page.last_seq,
        "mode": page.mode.value,
        # Cut at a page: the widget asks for the rest with a resume after its last message.
        "has_more": page.has_more,
    }


def embed_allowed(settings: Settings, origin: str | None, host: str | None) -> bool:
    """May a page of `origin` use the widget? Always, unless WIDGET_ALLOWED_ORIGINS lists sites.

    No Origin means no browser (which always sends one cross-site), and a non-browser client
    could send any Origin anyway; the check keeps other websites' pages out. The app's own
    pages (the demo page at `/`) are same-origin and always allowed.
    """
    allowed = settings.widget_origins
    if allowed is None or origin is None:
        return True
    origin = origin.strip().lower().rstrip("/")
    if origin in allowed:
        return True
    own = urlsplit(settings.public_base_url)
    if origin == f"{own.scheme}://{own.netloc}".lower():
        return True
    return bool(host) and urlsplit(origin).netloc == (host or "").lower()


class WidgetChannel(ChannelAdapter):
    """Channel `web`: the embeddable widget, its demo page and its socket."""

    name: ClassVar[str] = CHANNEL

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        self.sockets_of: dict[str, int] = {}  # visitor id → open sockets in this process

    # --- tokens -----------------------------------------------------------------------------

    def _secret(self) -> str:
        secret = self.settings.jwt_secret
        if secret is None:
            # The composition root fills in the installation's secret; never sign without one.
            raise RuntimeError("JWT_SECRET is not set and no installation secret was made")
        return secret.get_secret_value()

    def issue_token(self, visitor_id: str, conversation_id: str) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": visitor_id,
            "cid": conversation_id,
            "typ": TOKEN_TYPE,
            "iat": now,
            "exp": now + timedelta(days=self.settings.widget_token_ttl_days),
        }
        return jwt.encode(claims, self._secret(), algorithm="HS256")

    def read_token(self, token: str) -> tuple[str, str]:
        """(visitor id, conversation id) of a valid token, else `WidgetError`."""
        try:
            claims = jwt.decode(
                token, self._secret(), algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise WidgetError("token_expired", "the visitor token has expired") from None
        except jwt.PyJWTError:
            raise WidgetError("unauthorized", "the visitor token is not valid") from None
        if claims.get("typ") != TOKEN_TYPE or not isinstance(claims.get("cid"), str):
            raise WidgetError("unauthorized", "the visitor token is not valid")
        return str(claims["sub"]), str(claims["cid"])

    # --- outbound ---------------------------------------------------------------------------

    async def send(self, outbound: OutboundMessage) -> DeliveryResult:
        # The conversation's event stream carries the message to every open widget socket,
        # and a widget that was away receives it in its history when it comes back.
        return DeliveryResult(status=DeliveryStatus.SENT)

    # --- routes -----------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(tags=["widget"])

        @router.get("/", include_in_schema=False)
        async def demo_page() -> FileResponse:
            return FileResponse(STATIC_DIR / "demo.html", media_type="text/html")

        @router.get("/widget.js", include_in_schema=False)
        async def widget_script() -> FileResponse:
            return FileResponse(
                STATIC_DIR / "widget.js",
                media_type="text/javascript",
                headers={"Cache-Control": "public, max-age=300"},
            )

        @router.post("/api/widget/sessions", response_model=SessionResponse)
        async def create_session(body: SessionRequest, request: Request) -> SessionResponse:
            origin = request.headers.get("origin")
            if not embed_allowed(self.settings, origin, request.headers.get("host")):
                raise HTTPException(403, f"the chat may not be embedded on {(origin or '')[:200]}")
            client = request.client.host if request.client else "unknown"
            if not await self.context.allow(
                "widget-session", client, self.settings.widget_session_rate, client=client
            ):
                raise HTTPException(429, "too many new chat sessions from this address")
            return await self.open_session(body)

        @router.websocket("/ws/widget")
        async def widget_socket(websocket: WebSocket) -> None:
            await WidgetConnection(self, websocket).serve()

        return router

    async def process_ingested(self, payload: bytes) -> None:
        """Store a visitor's message appended by its socket (its echo is then published)."""
        await self.context.handle_inbound(InboundMessage.model_validate_json(payload))

    async def open_session(self, body: SessionRequest) -> SessionResponse:
        visitor_id: str
        if body.token:
            try:
                visitor_id, _ = self.read_token(body.token)
            except WidgetError as exc:
                raise HTTPException(401, exc.detail) from None
        else:
            visitor_id = uuid.uuid4().hex
        name = (body.name or "").strip() or None
        if name is None and not body.token:
            name = f"Visitor {visitor_id[:6]}"
        session = await self.context.open_session(
            channel=CHANNEL,
            external_user_id=visitor_id,
            display_name=name,
            language=(body.language or "").strip() or None,
        )
        return SessionResponse(
            token=self.issue_token(visitor_id, session.conversation_id),
            conversation_id=session.conversation_id,
        )


class WidgetConnection:
    """One open widget socket: history on connect, live frames, the visitor's frames."""

    def __init__(self, channel: WidgetChannel, websocket: WebSocket) -> None:
        self.channel = channel
        self.ws = websocket
        self.id = f"widget-{uuid.uuid4().hex}"
        self.visitor_id = ""
        self.conversation_id = ""
        self.seqs = SeqTracker()
        self.mode: Mode | None = None
        self._last_typing = 0.0
        self._send_lock = asyncio.Lock()

    async def send_json(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate echoed back (a bad client_id): escape it
            text = json.dumps(frame)
        async with self._send_lock:
            await self.ws.send_text(text)

    async def error(self, code: str, detail: str, client_id: str | None = None) -> None:
        frame = {"type": "error", "code": code, "detail": detail}
        if client_id is not None:
            frame["client_id"] = client_id
        await self.send_json(frame)

    async def serve(self) -> None:
        await self.ws.accept()
        origin = self.ws.headers.get("origin")
        if not embed_allowed(self.channel.settings, origin, self.ws.headers.get("host")):
            # Accepted first so that the page gets the reason as an error frame.
            await self.error("origin_not_allowed", "the chat may not be embedded on this site")
            await self.ws.close(code=CLOSE_FORBIDDEN, reason="origin not allowed")
            return
        try:
            self.visitor_id, self.conversation_id = self.channel.read_token(
                self.ws.query_params.get("token", "")
            )
            after_seq = self._parse_after_seq(self.ws.query_params.get("after_seq"))
        except WidgetError as exc:
            await self.error(exc.code, exc.detail)
            code = CLOSE_BAD_REQUEST if exc.code == "bad_request" else CLOSE_UNAUTHORIZED
            await self.ws.close(code=code, reason=exc.detail[:100])
            return
        ctx = self.channel.context
        open_sockets = self.channel.sockets_of
        if open_sockets.get(self.visitor_id, 0) >= MAX_SOCKETS_PER_VISITOR:
            await self.error("too_many_sockets", "too many open chat windows for this visitor")
            await self.ws.close(code=CLOSE_TOO_MANY, reason="too many sockets")
            return
        open_sockets[self.visitor_id] = open_sockets.get(self.visitor_id, 0) + 1
        WIDGET_SOCKETS.inc()
        try:
            subscription = await ctx.subscribe(self.conversation_id, owner=self.id)
            try:
                await self.send_history(after_seq)
            except LookupError:
                await self.error("unauthorized", "this conversation is not yours or is gone")
                await self.ws.close(code=CLOSE_UNAUTHORIZED)
                return
            await self._pump(subscription)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the visitor went away mid-send
        except Exception:
            # Whatever went wrong, the widget gets a close frame (and reconnects), not a cut.
            logger.exception("widget socket {} failed", self.id)
            with contextlib.suppress(Exception):
                await self.ws.close(code=CLOSE_INTERNAL, reason="internal error")
        finally:
            WIDGET_SOCKETS.dec()
            left = open_sockets.pop(self.visitor_id, 1) - 1
            if left > 0:
                open_sockets[self.visitor_id] = left
            await ctx.release(self.id)

    @staticmethod
    def _parse_after_seq(raw: str | None) -> int | None:
        if raw is None or raw == "":
            return None
        try:
            value = int(raw)
        except ValueError:
            raise WidgetError("bad_request", "after_seq must be a whole number") from None
        if not 0 <= value <= INT64_MAX:
            raise WidgetError("bad_request", f"after_seq must be between 0 and {INT64_MAX}")
        return value

    async def send_history(self, after_seq: int | None) -> None:
        # A token names its conversation, but only the visitor's own web chat may be opened
        # with it, on every connect and every resume (never a Telegram or WhatsApp chat, nor
        # another visitor's, whatever a leaked or forged token says).
        if not await self.channel.context.owns_conversation(
            self.conversation_id, channel=CHANNEL, external_chat_id=self.visitor_id
        ):
            raise LookupError("not this visitor's conversation")
        page = await self.channel.context.history(
            self.conversation_id, after_seq=after_seq, limit=HISTORY_PAGE
        )
        self.mode = page.mode
        # Numbers up to last_seq that are neither here nor older than asked for may still be
        # in flight (reserved, not yet stored): the tracker waits for them a little while.
        present = [m.seq for m in page.messages] + page.mode_seqs
        floor = after_seq if after_seq is not None else min(present, default=page.last_seq + 1) - 1
        self.seqs.reset(floor)
        for seq in present:
            self.seqs.take(seq)
        # A cut page covers numbers up to its last message only: the rest is not "missing".
        self.seqs.settle(page.messages[-1].seq if page.has_more else page.last_seq)
        await self.send_json(history_frame(page))

    async def _pump(self, subscription: Subscription) -> None:
        reader = asyncio.create_task(self._read_frames(), name=f"{self.id}-read")
        writer = asyncio.create_task(self._forward(subscription), name=f"{self.id}-write")
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, WebSocketDisconnect | RuntimeError):
                    raise exc
        finally:
            for task in (reader, writer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # --- visitor → server -------------------------------------------------------------------

    async def _read_frames(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
            raw = message.get("text")
            try:
                if raw is None:  # a binary frame: refuse it, keep the socket
                    raise WidgetError("bad_frame", "frames must be JSON text, not binary")
                await self._handle_frame(raw)
            except WidgetError as exc:
                await self.error(exc.code, exc.detail, exc.client_id)

    async def _handle_frame(self, raw: str) -> None:
        if len(raw) > self.channel.settings.widget_max_text * 4 + 1024:
            raise WidgetError("too_large", "frame is too large")
        try:
            frame = loads_bounded(raw)
        except InputRejected as exc:
            raise WidgetError("bad_frame", str(exc)) from None
        except ValueError:
            raise WidgetError("bad_frame", "frames must be JSON objects") from None
        if not isinstance(frame, dict):
            raise WidgetError("bad_frame", "frames must be JSON objects")
        kind = frame.get("type")
        if kind == "message":
            await self._customer_message(frame)
        elif kind == "typing":
            now = time.monotonic()
            if now - self._last_typing >= TYPING_INTERVAL_S:
                self._last_typing = now
                await self.channel.context.publish_typing(
                    self.conversation_id, author=Author.CUSTOMER
                )
        elif kind == "ping":
            # The widget's heartbeat: a socket that stops answering is dead (a dropped Wi-Fi,
            # a NAT that forgot it) long before TCP says so. The pong goes out at once, ahead
            # of nothing but frames already being sent.
            await self.send_json({"type": "pong"})
        elif kind == "resume":
            after = frame.get("after_seq")
            if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= INT64_MAX:
                raise WidgetError(
                    "bad_frame", f"resume needs an integer after_seq from 0 to {INT64_MAX}"
                )
            # Each resume is a read of up to a page from storage: limited per conversation.
            if not await self.channel.context.allow(
                "widget-resume", self.conversation_id, self.channel.settings.widget_resume_rate
            ):
                raise WidgetError("rate_limited", "too many resume frames; please wait a moment")
            try:
                await self.send_history(after)
            except LookupError:
                await self.error("unauthorized", "this conversation is not yours or is gone")
                await self.ws.close(code=CLOSE_UNAUTHORIZED)
                raise WebSocketDisconnect(CLOSE_UNAUTHORIZED) from None
        else:
            raise WidgetError("bad_frame", f"unknown frame type {kind!r}")

    async def _customer_message(self, frame: dict[str, Any]) -> None:
        text = frame.get("text")
        raw_id = frame.get("client_id")
        if not isinstance(raw_id, str):
            raise WidgetError("bad_client_id", "a message needs a client_id (a UUID)")
        try:
            # Dedup on the canonical form; echo the client's own spelling back.
            canonical = str(uuid.UUID(raw_id))
        except ValueError:
            raise WidgetError("bad_client_id", "client_id must be a UUID", raw_id) from None
        if not isinstance(text, str) or not text.strip():
            raise WidgetError("empty_message", "a message needs non-empty text", raw_id)
        limit = self.channel.settings.widget_max_text
        if len(text) > limit:
            raise WidgetError("too_long", f"a message can be at most {limit} characters", raw_id)
        # A pressed quick-reply chip: its payload travels beside the text (the button's title).
        payload = frame.get("payload")
        pressed = (
            [Attachment(kind="button_reply", name=text.strip(), payload=payload)]
            if isinstance(payload, str) and 0 < len(payload) <= MAX_PAYLOAD
            else []
        )
        ctx = self.channel.context
        if not await ctx.allow(
            "widget-message", self.conversation_id, self.channel.settings.widget_message_rate
        ):
            raise WidgetError("rate_limited", "too many messages; please wait a moment", raw_id)
        inbound = InboundMessage(
            channel=CHANNEL,
            external_chat_id=self.visitor_id,
            external_user_id=self.visitor_id,
            external_message_id=f"{self.visitor_id}:{canonical}",
            text=text,
            client_id=raw_id,
            attachments=pressed,
        )
        try:
            # Durably appended; the echo (a `message` frame) follows once it is stored.
            appended = await ctx.accept(
                channel=CHANNEL,
                key=inbound.external_message_id,
                chat=self.conversation_id,
                payload=inbound.model_dump_json().encode(),
            )
        except IngestUnavailable:
            result = await ctx.handle_inbound(inbound)
            if not result.created:
                # A resend of a stored message: confirm it to this socket only.
                await self.send_json(message_frame(result.message))
            return
        if not appended:
            # A resend: confirm it to this socket if it is stored (if not, its echo follows).
            stored = await ctx.stored_message(
                channel=CHANNEL, external_id=inbound.external_message_id
            )
            if stored is not None:
                await self.send_json(message_frame(stored))

    # --- server → visitor -------------------------------------------------------------------

    async def _forward(self, subscription: Subscription) -> None:
        async for event in subscription:
            await self._deliver(event)

    async def _deliver(self, event: ConversationEvent) -> None:
        if event.type == "resync" or (event.seq is not None and self.seqs.is_gap(event.seq)):
            await self._fill_gap()
        if event.type == "message.created":
            message = MessageView.model_validate(event.data["message"])
            if self.seqs.take(message.seq):
                await self.send_json(message_frame(message))
        elif event.type == "mode.changed":
            if event.seq is not None and self.seqs.take(event.seq):
                self.mode = Mode(event.data["mode"])
                await self.send_json({"type": "status", "seq": event.seq, "mode": self.mode.value})
        elif event.type == "token":
            if self.mode is not None and self.mode is not Mode.AI:
                # The chat left the AI (a take-over, a hand-off): the rest of a draft that
                # was streaming will never be stored or sent, so none of it is shown either.
                return
            data = event.data
            await self.send_json(
                {"type": "token", "message_id": data["message_id"], "text": data["text"]}
            )
        elif event.type == "typing" and event.data.get("author") in ("ai", "operator"):
            await self.send_json({"type": "typing", "author": event.data["author"]})

    async def _fill_gap(self) -> None:
        """Send what this socket missed (lost, reordered or overflowed events) from storage."""
        cursor = self.seqs.watermark
        while True:
            page = await self.channel.context.history(
                self.conversation_id, after_seq=cursor, limit=HISTORY_PAGE
            )
            for message in page.messages:
                if self.seqs.take(message.seq):
                    await self.send_json(message_frame(message))
            for seq in page.mode_seqs:
                self.seqs.take(seq)
            if not page.has_more:
                break
            # The page was cut; the next one starts after it (not at the watermark, which a
            # number that was never stored may hold back for a while).
            cursor = page.messages[-1].seq
        if page.mode != self.mode:
            self.mode = page.mode
            await self.send_json({"type": "status", "seq": page.last_seq, "mode": page.mode.value})
        self.seqs.settle(page.last_seq)


class SeqTracker:
    """Which of a conversation's sequence numbers one socket has been sent.

    Events can arrive out of order (two processes publish concurrently) or not at all (a
    Redis hiccup). A plain high-water mark would drop a late lower number, so numbers above
    the contiguous watermark are remembered one by one until the gap below them closes.
    """

    # A number reserved but still missing after this long was never stored (a lost race).
    GAP_GRACE_S = 5.0

    def __init__(self) -> None:
        self.watermark = 0
        self._ahead: set[int] = set()
        self._missing_since: dict[int, float] = {}

    def reset(self, watermark: int) -> None:
        self.watermark = watermark
        self._ahead = {s for s in self._ahead if s > watermark}
        self._missing_since.clear()
        self._advance()

    def is_gap(self, seq: int) -> bool:
        return seq > self.watermark + 1 and (seq - 1) not in self._ahead

    def take(self, seq: int) -> bool:
        """Record `seq` as sent; False when it already was."""
        if seq <= self.watermark or seq in self._ahead:
            return False
        self._ahead.add(seq)
        self._advance()
        return True

    def settle(self, last_seq: int) -> None:
        """After a fill from storage: numbers missing for long enough will never come."""
        now = time.monotonic()
        for seq in range(self.watermark + 1, last_seq + 1):
            if seq in self._ahead:
                continue
            first = self._missing_since.setdefault(seq, now)
            if now - first >= self.GAP_GRACE_S:
                self._ahead.add(seq)
        self._advance()

    def _advance(self) -> None:
        while self.watermark + 1 in self._ahead:
            self.watermark += 1
            self._ahead.discard(self.watermark)
            self._missing_since.pop(self.watermark, None)
