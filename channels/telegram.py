"""Telegram through aiogram 3: a webhook (secret token) or long polling, and `send()`.

Inbound, one aiogram `Dispatcher` with a router per feature normalizes updates and hands
them to the core; the webhook route verifies Telegram's secret header and feeds the update
to that dispatcher, long polling feeds the same dispatcher from getUpdates. Outbound,
`send()` delivers plain text (no parse mode, so customer or model text cannot break any
markup), in parts of at most 4096 UTF-16 units cut where a reader pauses (links and codes
never cut: `channels.text_parts`), paced per chat and per bot, with bounded retries.

Behaviour choices (see also the README's Telegram notes):
- Only private chats are served. Group and supergroup messages, channel posts and anything
  from a non-private chat are acknowledged and ignored (not stored): storing them would open
  conversations whose answers could never be delivered, since `send()` refuses non-private
  chats. Channel posts are not even subscribed to (`allowed_updates`).
- Dedup key of a message: `"<chat_id>:<message_id>"` (message ids are unique per chat only).
- An edit is stored as a new customer message, key `"<chat_id>:<message_id>:edit:<edit_date>"`,
  its text prefixed with `[edited] ` so the model and the operator see what changed.
- A forwarded message keeps its text, prefixed with `[forwarded] `.
- `/start` (and any command) is stored as the customer's text: the AI greets or answers
  like for any first message, and the operator sees how the chat began.
- A button press (callback query) is answered (answerCallbackQuery, so the button stops
  spinning) and its data stored as a customer message, key `"<chat_id>:cb:<query id>"`.
- Non-text messages become attachments with the Telegram `file_id` (no URL: a file URL
  would carry the bot token) and a short bracketed text such as `[photo]`; a caption is the
  text. A shared contact's phone number goes only into the attachment, never into the text
  that can reach the model.
- `my_chat_member` "kicked" blocks the contact in the core (nothing is sent afterwards),
  "member" unblocks it; a 403 "blocked by the user" on send blocks it too.
- Pacing: a token bucket per chat (burst 3, then 1 message/s) and one per bot (30/s), per
  process; several processes rely on 429 handling (wait `retry_after`, bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    ChatMemberUpdated,
    Message,
    MessageEntity,
    Update,
    User,
)
from aiogram.types.update import UpdateTypeLookupError
from aiogram.utils.token import TokenValidationError
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from loguru import logger
from pydantic import ValidationError

from bot.core.types import (
    Attachment,
    ChannelContext,
    DeliveryResult,
    DeliveryStatus,
    FetchedMedia,
    InboundMessage,
    IngestUnavailable,
    InputRejected,
    MediaTooLarge,
    OutboundMessage,
    loads_bounded,
)
from channels.base import ChannelAdapter, with_media
from channels.quick_replies import button_reply, inline_keyboard, pressed_title
from channels.text_parts import split_message
from config import Settings

CHANNEL = "telegram"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
TEXT_LIMIT = 4096  # UTF-16 code units, after entity parsing
MAX_BODY = 1024 * 1024
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
POLLING_TIMEOUT_S = 25
# An update that fails while others are stored is tried this often, then given up on.
MAX_UPDATE_FAILURES = 5
MAX_POLL_BACKOFF_S = 30.0
EDITED_PREFIX = "[edited] "
FORWARDED_PREFIX = "[forwarded] "


# --- text ---------------------------------------------------------------------------------


def plain_text(text: str, entities: Sequence[MessageEntity] | None) -> str:
    """The message text with formatting dropped and text_link URLs kept as `label (url)`."""
    links = sorted(
        (e for e in entities or () if e.type == "text_link" and e.url),
        key=lambda e: e.offset + e.length,
    )
    if not links:
        return text
    units = text.encode("utf-16-le")
    parts: list[str] = []
    cursor = 0
    for entity in links:
        end = (entity.offset + entity.length) * 2
        if end < cursor or end > len(units):
            continue
        label = units[entity.offset * 2 : end].decode("utf-16-le", errors="replace")
        parts.append(units[cursor:end].decode("utf-16-le", errors="replace"))
        if label.strip() != entity.url:
            parts.append(f" ({entity.url})")
        cursor = end
    parts.append(units[cursor:].decode("utf-16-le", errors="replace"))
    return "".join(parts)


# --- inbound normalization ----------------------------------------------------------------


def display_name(user: User | None) -> str | None:
    if user is None:
        return None
    name = " ".join(p for p in (user.first_name, user.last_name) if p).strip()
    return name or (f"@{user.username}" if user.username else None)


def _file(kind: str, file_id: str, unique_id: str, **extra: Any) -> Attachment:
    clean = {k: v for k, v in extra.items() if v is not None}
    return Attachment(kind=kind, file_id=file_id, file_unique_id=unique_id, **clean)


CAPTION_LIMIT = 1024  # a photo's or document's caption, in characters
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
STICKER_MIME = {
    "static": "image/webp",
    "animated": "application/x-tgsticker",
    "video": "video/webm",
}
# Downloads of one file (getFile, then the file itself) get this long.
MEDIA_TIMEOUT_S = 30


def map_link(latitude: float, longitude: float) -> str:
    """An OpenStreetMap link to a shared location (the panel opens it)."""
    return f"https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}"


def attachments_of(message: Message) -> tuple[list[Attachment], str]:
    """Attachments of a message and the bracketed text that stands for them."""
    if message.photo:
        big = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        photo = _file(
            "image",
            big.file_id,
            big.file_unique_id,
            mime_type="image/jpeg",
            width=big.width,
            height=big.height,
            size=big.file_size,
        )
        return [photo], "[photo]"
    if message.sticker:
        s = message.sticker
        kind = "animated" if s.is_animated else "video" if s.is_video else "static"
        sticker = _file(
            "sticker",
            s.file_id,
            s.file_unique_id,
            emoji=s.emoji,
            set_name=s.set_name,
            format=kind,
            mime_type=STICKER_MIME[kind],
            size=s.file_size,
        )
        return [sticker], s.emoji or "[sticker]"
    if message.voice:
        v = message.voice
        voice = _file(
            "voice",
            v.file_id,
            v.file_unique_id,
            mime_type=v.mime_type,
            duration=v.duration,
            size=v.file_size,
        )
        return [voice], "[voice message]"
    if message.audio:
        a = message.audio
        audio = _file(
            "audio",
            a.file_id,
            a.file_unique_id,
            mime_type=a.mime_type,
            name=a.file_name,
            duration=a.duration,
            title=a.title,
            performer=a.performer,
            size=a.file_size,
        )
        return [audio], f"[audio: {a.title or a.file_name or 'audio'}]"
    if message.video:
        v2 = message.video
        video = _file(
            "video",
            v2.file_id,
            v2.file_unique_id,
            mime_type=v2.mime_type,
            name=v2.file_name,
            duration=v2.duration,
            size=v2.file_size,
        )
        return [video], "[video]"
    if message.video_note:
        n = message.video_note
        note = _file("video", n.file_id, n.file_unique_id, duration=n.duration, round=True)
        return [note], "[video message]"
    if message.animation:
        an = message.animation
        animation = _file(
            "video", an.file_id, an.file_unique_id, mime_type=an.mime_type, name=an.file_name
        )
        return [animation], "[animation]"
    if message.document:
        d = message.document
        document = _file(
            "file",
            d.file_id,
            d.file_unique_id,
            mime_type=d.mime_type,
            name=d.file_name,
            size=d.file_size,
        )
        return [document], f"[file: {d.file_name or 'document'}]"
    if message.location:
        loc = message.location
        title = message.venue.title if message.venue else None
        location = Attachment(
            kind="location",
            url=map_link(loc.latitude, loc.longitude),
            latitude=loc.latitude,
            longitude=loc.longitude,
            **({"name": title} if title else {}),
        )
        return [location], f"[location: {title}]" if title else "[location]"
    if message.contact:
        c = message.contact
        name = " ".join(p for p in (c.first_name, c.last_name) if p) or None
        # The phone number is personal data: the operator sees it in the attachment, the
        # text (which can reach the model) only says that a contact was shared.
        contact = Attachment(
            kind="contact",
            name=name,
            phone_number=c.phone_number,
            **({"telegram_user_id": c.user_id} if c.user_id else {}),
            **(
                {"own": True}
                if c.user_id and message.from_user and c.user_id == message.from_user.id
                else {}
            ),
        )
        return [contact], f"[contact: {name}]" if name else "[contact]"
    return [], ""


def is_forwarded(message: Message) -> bool:
    return message.forward_origin is not None or message.forward_date is not None


def normalize_message(message: Message, *, edited: bool = False) -> InboundMessage | None:
    """The customer message of a private chat's update; None for anything we do not store."""
    if message.chat.type != ChatType.PRIVATE:
        return None
    if message.text is not None:
        text = plain_text(message.text, message.entities)
        attachments: list[Attachment] = []
    else:
        attachments, stand_in = attachments_of(message)
        caption = plain_text(message.caption, message.caption_entities) if message.caption else ""
        text = caption or stand_in
    if not text and not attachments:
        return None  # a service message (pinned, payment, …): nothing a customer said
    if is_forwarded(message):
        text = FORWARDED_PREFIX + text
    chat_id = message.chat.id
    key = f"{chat_id}:{message.message_id}"
    sent_at = _when(message.date)
    if edited:
        # An edit_date no clock can hold (2**70) falls back to the send date: the key stays
        # the same on every redelivery.
        sent_at = _when(message.edit_date or message.date, fallback=sent_at)
        key += f":edit:{int(sent_at.timestamp())}"
        text = EDITED_PREFIX + text
    user = message.from_user
    raw: dict[str, Any] = {
        "kind": "edited_message" if edited else "message",
        "message_id": message.message_id,
    }
    if message.reply_to_message is not None:
        raw["reply_to_message_id"] = message.reply_to_message.message_id
    return InboundMessage(
        channel=CHANNEL,
        external_chat_id=str(chat_id),
        external_user_id=str(user.id if user else chat_id),
        external_message_id=key,
        text=text,
        display_name=display_name(user) or _chat_name(message),
        language=user.language_code if user else None,
        attachments=attachments,
        sent_at=sent_at,
        raw=raw,
    )


def _when(value: int | datetime, fallback: datetime | None = None) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback or datetime.now(UTC)


def _chat_name(message: Message) -> str | None:
    chat = message.chat
    name = " ".join(p for p in (chat.first_name, chat.last_name) if p)
    return name or (f"@{chat.username}" if chat.username else None)


def normalize_callback(query: CallbackQuery) -> InboundMessage | None:
    """A button press in a private chat, as the customer's message; None otherwise."""
    message = query.message
    if message is None or message.chat.type != ChatType.PRIVATE or not query.data:
        return None
    chat_id = message.chat.id
    # The customer sees the button's title: that is their message, the data its payload.
    title = pressed_title(query) or query.data
    return InboundMessage(
        channel=CHANNEL,
        external_chat_id=str(chat_id),
        external_user_id=str(query.from_user.id),
        external_message_id=f"{chat_id}:cb:{query.id}",
        text=title,
        attachments=[button_reply(title, query.data)],
        display_name=display_name(query.from_user),
        language=query.from_user.language_code,
        raw={
            "kind": "callback_query",
            "callback_query_id": query.id,
            "message_id": message.message_id,
        },
    )


def chat_of(update: Update) -> str:
    """The chat an update belongs to (its order is kept per chat); "" when it names none."""
    if update.message is not None:
        return str(update.message.chat.id)
    if update.edited_message is not None:
        return str(update.edited_message.chat.id)
    if update.callback_query is not None and update.callback_query.message is not None:
        return str(update.callback_query.message.chat.id)
    if update.my_chat_member is not None:
        return str(update.my_chat_member.chat.id)
    return ""


def private_chat_id(external_chat_id: str) -> int | None:
    """The numeric id of a private chat (users have positive ids), else None."""
    try:
        chat_id = int(external_chat_id)
    except ValueError:
        return None
    return chat_id if chat_id > 0 else None


# --- outbound helpers ---------------------------------------------------------------------


class RetryRequests(BaseRequestMiddleware):
    """Bounded retries of Bot API calls: 429 waits `retry_after`, 5xx/network back off.

    getUpdates is left alone: the polling loop has its own backoff.
    """

    def __init__(
        self, *, attempts: int = 4, base_delay: float = 0.5, max_retry_after: float = 30.0
    ) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_retry_after = max_retry_after

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        polling = isinstance(method, GetUpdates)
        if polling:
            return await make_request(bot, method)
        attempt = 1
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt >= self.attempts or exc.retry_after > self.max_retry_after:
                    raise
                delay = float(exc.retry_after)
                reason = "rate limited"
            except TelegramEntityTooLarge:
                raise
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
                if attempt >= self.attempts - 1:  # 5xx/network: at most 3 tries
                    raise
                delay = self.base_delay * 2 ** (attempt - 1)
                reason = type(exc).__name__
            logger.warning(
                "Telegram {} failed ({}), retry {} in {:.1f}s",
                method.__api_method__,
                reason,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)
            attempt += 1


class _Bucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def reserve(self, now: float) -> float:
        """Take one token; the seconds to wait before it may be used."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class SendPacer:
    """Keeps one process under Telegram's limits: ~1 message/s per chat, ~30/s per bot."""

    def __init__(
        self, *, chat_rate: float = 1.0, chat_burst: float = 3, bot_rate: float = 30.0
    ) -> None:
        self._chat_rate = chat_rate
        self._chat_burst = chat_burst
        self._bot = _Bucket(bot_rate, bot_rate, time.monotonic())
        self._chats: dict[int, _Bucket] = {}
        self._lock = asyncio.Lock()

    async def wait(self, chat_id: int) -> None:
        async with self._lock:
            now = time.monotonic()
            if len(self._chats) > 10_000:  # forget chats whose buckets refilled
                horizon = self._chat_burst / self._chat_rate
                self._chats = {k: b for k, b in self._chats.items() if now - b.stamp < horizon}
            bucket = self._chats.get(chat_id)
            if bucket is None:
                bucket = self._chats[chat_id] = _Bucket(self._chat_rate, self._chat_burst, now)
            delay = max(bucket.reserve(now), self._bot.reserve(now))
        if delay > 0:
            await asyncio.sleep(delay)


def _is_blocked_error(exc: TelegramForbiddenError) -> bool:
    text = exc.message.lower()
    return "blocked by the user" in text or "user is deactivated" in text


# --- the channel --------------------------------------------------------------------------


class TelegramChannel(ChannelAdapter):
    """Channel `telegram`: webhook with a secret token, or long polling with only a token."""

    name: ClassVar[str] = CHANNEL

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        if settings.telegram_bot_token is None:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
        session.middleware(RetryRequests())
        try:
            self.bot = Bot(settings.telegram_bot_token.get_secret_value(), session=session)
        except TokenValidationError:
            raise ValueError("TELEGRAM_BOT_TOKEN is not a bot token (123456:ABC…)") from None
        self.dispatcher = Dispatcher(name="switchboard-telegram")
        self.dispatcher.include_routers(
            self._messages_router(),
            self._edits_router(),
            self._membership_router(),
            self._callbacks_router(),
        )
        self.pacer = SendPacer()
        self._polling: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    @property
    def webhook_mode(self) -> bool:
        return self.settings.telegram_webhook_secret is not None

    # --- dispatcher routers ---------------------------------------------------------------

    def _messages_router(self) -> Router:
        router = Router(name="messages")

        @router.message(F.chat.type == ChatType.PRIVATE)
        async def on_message(message: Message) -> None:
            await self._store(normalize_message(message))

        return router

    def _edits_router(self) -> Router:
        router = Router(name="edited-messages")

        @router.edited_message(F.chat.type == ChatType.PRIVATE)
        async def on_edit(message: Message) -> None:
            await self._store(normalize_message(message, edited=True))

        return router

    def _membership_router(self) -> Router:
        router = Router(name="my-chat-member")

        @router.my_chat_member(F.chat.type == ChatType.PRIVATE)
        async def on_membership(event: ChatMemberUpdated) -> None:
            status = event.new_chat_member.status
            if status == ChatMemberStatus.KICKED:
                blocked = True
            elif status == ChatMemberStatus.MEMBER:
                blocked = False
            else:
                return
            logger.info(
                "Telegram user {} {} the bot",
                event.from_user.id,
                "blocked" if blocked else "unblocked",
            )
            await self.context.set_blocked(
                channel=CHANNEL, external_user_id=str(event.from_user.id), blocked=blocked
            )

        return router

    def _callbacks_router(self) -> Router:
        router = Router(name="callback-queries")

        @router.callback_query()
        async def on_callback(query: CallbackQuery, bot: Bot) -> None:
            try:
                await self._store(normalize_callback(query))
            finally:
                # Stop the button's spinner whatever happened; a stale query gets a 400.
                try:
                    await bot(query.answer(), request_timeout=5)
                except (TelegramAPIError, AiogramError) as exc:
                    logger.warning("answerCallbackQuery failed: {}", exc)

        return router

    async def _store(self, inbound: InboundMessage | None) -> None:
        if inbound is None:
            return
        if any(a.model_extra and a.model_extra.get("file_unique_id") for a in inbound.attachments):
            # Fetched here, behind the ingest stream: the webhook has long been answered.
            inbound = await with_media(self.context, inbound, self._media_of)
        await self.context.handle_inbound(inbound)

    def _media_of(self, attachment: Attachment) -> tuple[str, Any] | None:
        """The unique id and the download of a Telegram file attachment (None: not a file)."""
        extra = attachment.model_extra or {}
        unique_id, file_id = extra.get("file_unique_id"), extra.get("file_id")
        if not isinstance(unique_id, str) or not isinstance(file_id, str):
            return None

        async def download(limit: int) -> FetchedMedia:
            return await self._download(file_id, limit)

        return unique_id, download

    async def _download(self, file_id: str, limit: int) -> FetchedMedia:
        """getFile, then the file from `/file/bot<token>/<path>`, stopped past `limit`."""
        found = await self.bot.get_file(file_id, request_timeout=MEDIA_TIMEOUT_S)
        if found.file_size is not None and found.file_size > limit:
            raise MediaTooLarge(f"{found.file_size} bytes")
        if not found.file_path:
            raise ValueError("getFile gave no file_path (a file over the Bot API's 20 MB)")
        url = self.bot.session.api.file_url(self.bot.token, found.file_path)
        data = bytearray()
        async for chunk in self.bot.session.stream_content(url=url, timeout=MEDIA_TIMEOUT_S):
            data += chunk
            if len(data) > limit:
                raise MediaTooLarge(f"over {limit} bytes")
        return FetchedMedia(bytes(data))

    # --- webhook --------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(tags=["telegram"])

        @router.post(WEBHOOK_PATH)
        async def telegram_webhook(request: Request) -> JSONResponse:
            self._check_secret(request.headers.get(SECRET_HEADER))
            body = await request.body()
            update = self._parse_update(body)
            try:
                update.event_type  # noqa: B018 - raises for an update type we do not know
            except UpdateTypeLookupError:
                return JSONResponse({"ok": True, "ignored": "unknown update type"})
            try:
                # Answered once durably appended; stored behind (`process_ingested`).
                await self.context.accept(
                    channel=CHANNEL,
                    key=str(update.update_id),
                    chat=chat_of(update),
                    payload=body,
                )
                return JSONResponse({"ok": True})
            except IngestUnavailable:
                pass
            try:
                await self.dispatcher.feed_update(self.bot, update)
            except Exception:
                # Storage is down: a non-2xx makes Telegram redeliver (dedup keeps it once).
                logger.exception("Telegram update {} not handled", update.update_id)
                raise HTTPException(503, "the update could not be stored; retry later") from None
            return JSONResponse({"ok": True})

        return router

    async def process_ingested(self, payload: bytes) -> None:
        """Feed an appended update to the dispatcher (normalize, store, block, answer buttons)."""
        await self.dispatcher.feed_update(self.bot, self._decode_update(payload))

    def _check_secret(self, given: str | None) -> None:
        secret = self.settings.telegram_webhook_secret
        if secret is None:
            raise HTTPException(
                403, "the webhook is off: TELEGRAM_WEBHOOK_SECRET is not set (long polling)"
            )
        if given is None:
            raise HTTPException(401, f"missing {SECRET_HEADER} header")
        if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
            raise HTTPException(403, f"wrong {SECRET_HEADER} header")

    def _parse_update(self, body: bytes) -> Update:
        if len(body) > MAX_BODY:
            raise HTTPException(413, "the update is too large")
        try:
            data = loads_bounded(body)
        except InputRejected as exc:
            raise HTTPException(400, str(exc)) from None
        except ValueError:
            raise HTTPException(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "the body must be a JSON object (a Telegram Update)")
        try:
            return Update.model_validate(data, context={"bot": self.bot})
        except (ValidationError, ValueError, TypeError) as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else []
            where = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:5])
            detail = "not a valid Telegram Update" + (f" ({where})" if where else "")
            raise HTTPException(422, detail) from None

    def _decode_update(self, body: bytes) -> Update:
        """An update the webhook checked before appending it; `ValueError` if it is not one."""
        try:
            return self._parse_update(body)
        except HTTPException as exc:
            raise ValueError(str(exc.detail)) from None

    # --- lifecycle ------------------------------------------------------------------------

    async def startup(self, *, inbound: bool = True) -> None:
        if not inbound:
            return  # sending needs only the Bot client, which exists from construction
        if self.webhook_mode:
            self._spawn(self._set_webhook(), "telegram-set-webhook")
        else:
            self._polling = asyncio.create_task(self._poll(), name="telegram-polling")

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _set_webhook(self) -> None:
        """Best effort: register our URL and secret with Telegram (logged, never fatal)."""
        secret = self.settings.telegram_webhook_secret
        assert secret is not None
        url = self.settings.public_base_url.rstrip("/") + WEBHOOK_PATH
        try:
            await self.bot.set_webhook(
                url=url,
                secret_token=secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
                request_timeout=10,
            )
            logger.info("Telegram webhook set to {}", url)
        except (TelegramAPIError, AiogramError) as exc:
            logger.warning("Telegram setWebhook({}) failed: {}; set it by hand", url, exc)

    async def _poll(self) -> None:
        """Long polling that confirms an update only once it is stored.

        aiogram's own loop moves the offset past an update before its handler runs and
        swallows the handler's error, so an update that failed to store (database down) was
        gone. Here an update that failed is asked for again (with backoff); the updates
        after it in the same batch are still handled and simply come again too (stored
        once: dedup). One that keeps failing while others store is given up on.
        """
        try:
            await self.bot.delete_webhook(drop_pending_updates=False, request_timeout=10)
        except (TelegramAPIError, AiogramError) as exc:
            logger.warning("Telegram deleteWebhook failed: {}; polling anyway", exc)
        logger.info("Telegram: long polling (no TELEGRAM_WEBHOOK_SECRET)")
        offset: int | None = None
        failures: dict[int, int] = {}
        backoff = 0.0
        while True:
            if backoff:
                await asyncio.sleep(backoff)
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=POLLING_TIMEOUT_S,
                    allowed_updates=ALLOWED_UPDATES,
                    request_timeout=POLLING_TIMEOUT_S + 10,
                )
            except (TelegramAPIError, AiogramError) as exc:
                logger.warning("Telegram getUpdates failed: {}; retrying", exc)
                backoff = min(max(backoff * 2, 1.0), MAX_POLL_BACKOFF_S)
                continue
            failed: list[int] = []
            for update in updates:
                try:
                    await self.dispatcher.feed_update(self.bot, update)
                    failures.pop(update.update_id, None)
                except Exception:
                    logger.exception("Telegram update {} not stored; retrying", update.update_id)
                    failures[update.update_id] = failures.get(update.update_id, 0) + 1
                    failed.append(update.update_id)
            if len(failed) < len(updates):
                # Storage works, so what still fails after a few tries is the update itself.
                for update_id in [u for u in failed if failures[u] >= MAX_UPDATE_FAILURES]:
                    logger.error("Telegram update {} dropped after repeated failures", update_id)
                    failed.remove(update_id)
                    del failures[update_id]
            if updates:
                offset = failed[0] if failed else updates[-1].update_id + 1
            backoff = min(max(backoff * 2, 0.5), MAX_POLL_BACKOFF_S) if failed else 0.0

    async def shutdown(self) -> None:
        task, self._polling = self._polling, None
        if task is not None:
            if not task.done():
                with contextlib.suppress(RuntimeError):  # "Polling is not started" yet
                    await asyncio.wait_for(self.dispatcher.stop_polling(), timeout=10)
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for pending in list(self._background):
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        await self.bot.session.close()

    # --- outbound -------------------------------------------------------------------------

    async def send(self, outbound: OutboundMessage) -> DeliveryResult:
        chat_id = private_chat_id(outbound.external_chat_id)
        if chat_id is None:
            return DeliveryResult(
                DeliveryStatus.FAILED,
                error=f"refused: {outbound.external_chat_id!r} is not a private chat",
            )
        files = [a for a in outbound.message.attachments if (a.model_extra or {}).get("media_id")]
        if files:
            return await self._send_files(chat_id, outbound, files)
        parts = split_message(outbound.message.text, TEXT_LIMIT)
        if not parts:
            return DeliveryResult(DeliveryStatus.FAILED, error="nothing to send: empty text")
        first_id: str | None = None
        buttons = outbound.message.quick_replies
        for number, part in enumerate(parts, start=1):
            await self.pacer.wait(chat_id)
            # Quick replies ride on the last part, under the text they answer.
            markup = inline_keyboard(buttons) if buttons and number == len(parts) else None
            try:
                sent = await self.bot.send_message(chat_id=chat_id, text=part, reply_markup=markup)
            except TelegramForbiddenError as exc:
                if _is_blocked_error(exc):
                    await self.context.set_blocked(
                        channel=CHANNEL, external_user_id=str(chat_id), blocked=True
                    )
                return self._failed(exc, number, len(parts), first_id)
            except (TelegramAPIError, AiogramError) as exc:
                return self._failed(exc, number, len(parts), first_id)
            if first_id is None:
                first_id = str(sent.message_id)
        return DeliveryResult(DeliveryStatus.SENT, provider_message_id=first_id)

    async def _send_files(
        self, chat_id: int, outbound: OutboundMessage, files: list[Attachment]
    ) -> DeliveryResult:
        """Photos with sendPhoto, other files with sendDocument; the text as the last one's
        caption when it fits, else as its own message after them."""
        text = outbound.message.text.strip()
        as_caption = len(text) <= CAPTION_LIMIT
        first_id: str | None = None
        for number, attachment in enumerate(files, start=1):
            media_id = str((attachment.model_extra or {})["media_id"])
            found = await self.context.media_bytes(media_id)
            if found is None:
                error = "refused: the attachment's file is gone (erased?)"
                return DeliveryResult(DeliveryStatus.FAILED, first_id, error)
            data, mime, name = found
            upload = BufferedInputFile(data, filename=name or f"file-{media_id}")
            caption = text if as_caption and number == len(files) and text else None
            await self.pacer.wait(chat_id)
            try:
                if mime in PHOTO_TYPES:
                    sent = await self.bot.send_photo(chat_id=chat_id, photo=upload, caption=caption)
                else:
                    sent = await self.bot.send_document(
                        chat_id=chat_id, document=upload, caption=caption
                    )
            except TelegramForbiddenError as exc:
                if _is_blocked_error(exc):
                    await self.context.set_blocked(
                        channel=CHANNEL, external_user_id=str(chat_id), blocked=True
                    )
                return self._failed(exc, number, len(files), first_id)
            except (TelegramAPIError, AiogramError) as exc:
                return self._failed(exc, number, len(files), first_id)
            first_id = first_id or str(sent.message_id)
        if text and not as_caption:
            for part in split_message(text, TEXT_LIMIT):
                await self.pacer.wait(chat_id)
                try:
                    await self.bot.send_message(chat_id=chat_id, text=part)
                except (TelegramAPIError, AiogramError) as exc:
                    return self._failed(exc, len(files) + 1, len(files) + 1, first_id)
        return DeliveryResult(DeliveryStatus.SENT, provider_message_id=first_id)

    @staticmethod
    def _failed(exc: Exception, number: int, total: int, first_id: str | None) -> DeliveryResult:
        error = str(exc)[:400]
        if total > 1:
            error = f"part {number} of {total}: {error}"
        logger.warning("Telegram send failed: {}", error)
        return DeliveryResult(DeliveryStatus.FAILED, provider_message_id=first_id, error=error)

    async def show_typing(self, external_chat_id: str) -> None:
        """Show "typing…" in a private chat for ~5 s; best effort, never raises."""
        chat_id = private_chat_id(external_chat_id)
        if chat_id is None:
            return
        try:
            await self.bot.send_chat_action(chat_id=chat_id, action="typing", request_timeout=5)
        except (TelegramAPIError, AiogramError) as exc:
            logger.debug("Telegram sendChatAction failed: {}", exc)
