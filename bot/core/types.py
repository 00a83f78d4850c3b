"""Model types shared by the core and the channels: plain values and interfaces, no I/O.

Channels import only this module of `bot`; everything they need from the core reaches them
as a `ChannelContext` that the composition root builds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from bot.core.wire import INT64_MAX as INT64_MAX

# Channels read wire limits through this module, the one of `bot` they may import.
from bot.core.wire import MAX_JSON_DEPTH as MAX_JSON_DEPTH
from bot.core.wire import InputRejected as InputRejected
from bot.core.wire import loads_bounded as loads_bounded
from bot.core.wire import storable


class Author(StrEnum):
    CUSTOMER = "customer"
    AI = "ai"
    OPERATOR = "operator"
    SYSTEM = "system"


class Mode(StrEnum):
    AI = "ai"
    WAITING_OPERATOR = "waiting_operator"
    OPERATOR = "operator"
    CLOSED = "closed"


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # inbound, stored
    PENDING = "pending"  # outbound, stored, not yet handed to the channel
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class Attachment(BaseModel):
    """A file, image, location or other non-text part of a message."""

    model_config = ConfigDict(extra="allow")

    kind: str
    url: str | None = None
    mime_type: str | None = None
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        # A provider's field can hold what BSON cannot (a 2**70 file size): keep it as text.
        return storable(data) if isinstance(data, dict) else data


class Source(BaseModel):
    """A knowledge-base document an AI answer used."""

    title: str
    source: str
    # The knowledge base's confidence (0..1) behind the answer that cited it; operators see it.
    score: float | None = None

    @model_serializer(mode="wrap")
    def _without_missing_score(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An agent's sources carry no score: keep their wire shape {"title", "source"}.
        data: dict[str, Any] = handler(self)
        if data.get("score") is None:
            data.pop("score", None)
        return data


class QuickReply(BaseModel):
    """A button offered with a message; a press comes back as `text` (and `payload`)."""

    title: str = Field(min_length=1, max_length=64)
    payload: str | None = Field(default=None, max_length=64)


class MessageView(BaseModel):
    """A message as the API and every frame show it (the external contract's Message)."""

    id: str
    conversation_id: str
    seq: int
    author: Author
    text: str
    created_at: datetime
    status: DeliveryStatus
    client_id: str | None = None
    sources: list[Source] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    # An operators' private note (bot.core.notes): shown in the panel, refused by every
    # channel. Left out of the wire shape unless set.
    private: bool = False
    # Buttons offered with this message (Telegram inline keyboard, WhatsApp quick replies,
    # widget chips); a press arrives as an ordinary customer message.
    quick_replies: list[QuickReply] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _without_unset_extras(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Most messages are neither private nor offer buttons: their wire shape stays the
        # contract's Message.
        data: dict[str, Any] = handler(self)
        if not data.get("private"):
            data.pop("private", None)
        if not data.get("quick_replies"):
            data.pop("quick_replies", None)
        return data


class InboundMessage(BaseModel):
    """One customer message, normalized by its channel adapter."""

    channel: str
    external_chat_id: str
    external_user_id: str
    # Unique per channel: a redelivered webhook carries the same id and is stored once.
    external_message_id: str
    text: str = ""
    display_name: str | None = None
    language: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    client_id: str | None = None
    sent_at: datetime | None = None
    raw: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        # Stored as given otherwise: a lone surrogate or an 8-byte-plus integer would make
        # the database refuse the message, and the provider redeliver it forever.
        return storable(data) if isinstance(data, dict) else data


@dataclass(frozen=True, slots=True)
class InboundResult:
    """What `handle_incoming_message` did with one inbound message."""

    message: MessageView
    created: bool  # False when it was a re-delivery of a stored message


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A conversation a channel opened for a user (the widget's visitor session)."""

    conversation_id: str
    external_user_id: str
    mode: Mode


@dataclass(frozen=True, slots=True)
class HistoryPage:
    messages: list[MessageView]
    last_seq: int
    mode: Mode
    # Sequence numbers of the mode changes in the same range (their status was sent live).
    mode_seqs: list[int] = field(default_factory=list)
    # A page after a seq is cut at a limit: True when more messages follow the last one.
    has_more: bool = False


@dataclass(frozen=True, slots=True)
class ConversationEvent:
    """Something that happened in a conversation, fanned out to every process."""

    type: str  # message.created, message.updated, mode.changed, typing, token
    conversation_id: str
    seq: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Subscription(Protocol):
    """A live feed of one conversation's events; closed through the cleanup hooks."""

    def __aiter__(self) -> AsyncIterator[ConversationEvent]: ...

    async def close(self) -> None: ...


class IngestUnavailable(RuntimeError):
    """An update could not be appended to the ingest stream (Redis down, or the stream off).

    The channel then stores it before answering, as without the stream.
    """


class MediaTooLarge(Exception):
    """A download went past the size limit it was given (it was stopped there)."""


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    """The bytes of one file a channel downloaded, with the type its server named."""

    data: bytes
    mime_type: str | None = None


# A channel's download of one file, given the most bytes it may read (`MediaTooLarge` past it).
MediaDownload = Callable[[int], Awaitable[FetchedMedia]]


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """What became of an inbound file: stored (`media_id`) or a placeholder (`problem`)."""

    media_id: str | None
    size: int | None = None
    mime_type: str | None = None
    problem: str | None = None  # too_large, type_not_allowed, unavailable, off


class ChannelContext(Protocol):
    """What the core offers a channel adapter; built by the composition root."""

    async def handle_inbound(self, message: InboundMessage) -> InboundResult: ...

    async def accept(self, *, channel: str, key: str, chat: str, payload: bytes) -> bool:
        """Append a verified raw update durably; False for a delivery appended before.

        The channel's `process_ingested(payload)` stores it later, in order per `chat`.
        Raises `IngestUnavailable` when it could not be appended.
        """
        ...

    async def stored_message(self, *, channel: str, external_id: str) -> MessageView | None:
        """The message stored for this delivery, if it is stored yet."""
        ...

    async def open_session(
        self,
        *,
        channel: str,
        external_user_id: str,
        display_name: str | None,
        language: str | None,
    ) -> SessionInfo: ...

    async def history(
        self, conversation_id: str, *, after_seq: int | None, limit: int
    ) -> HistoryPage: ...

    async def owns_conversation(
        self, conversation_id: str, *, channel: str, external_chat_id: str
    ) -> bool:
        """True when the conversation exists and is this chat's on this channel."""
        ...

    async def subscribe(self, conversation_id: str, *, owner: str) -> Subscription: ...

    async def publish_typing(self, conversation_id: str, *, author: Author) -> None: ...

    async def release(self, owner: str) -> None: ...

    async def record_delivery(
        self,
        *,
        channel: str,
        provider_message_id: str,
        status: DeliveryStatus,
        error: str | None = None,
    ) -> bool:
        """A provider's delivery report for a message we sent; False if we know no such id."""
        ...

    async def set_blocked(self, *, channel: str, external_user_id: str, blocked: bool) -> None:
        """The user blocked (or unblocked) us: nothing is sent to a blocked contact."""
        ...

    async def allow(self, bucket: str, key: str, rate: str, *, client: str | None = None) -> bool:
        """Count one hit against a rate such as "20/minute"; False when over it."""
        ...

    async def outbound_for(
        self, *, channel: str, provider_message_id: str
    ) -> OutboundMessage | None:
        """The stored message a provider id belongs to, as it was sent (None if unknown)."""
        ...

    async def rebind_delivery(
        self, *, channel: str, provider_message_id: str, new_provider_message_id: str
    ) -> None:
        """The message was sent again (as a template): later reports carry the new id."""
        ...

    async def store_media(
        self,
        *,
        channel: str,
        unique_id: str,
        owner: str,
        mime_type: str | None,
        name: str | None,
        declared_size: int | None,
        download: MediaDownload,
    ) -> StoredMedia:
        """Fetch and keep one inbound file once per `(channel, unique_id)`, within the limits.

        Never raises for the file itself: too big, a forbidden type or a failed download
        come back as a placeholder (`problem`), so the message is stored all the same.
        """
        ...

    async def media_bytes(self, media_id: str) -> tuple[bytes, str, str | None] | None:
        """A stored file's bytes, MIME type and name (for sending it out); None if gone."""
        ...

    def media_link(self, media_id: str) -> str:
        """A signed, expiring public URL of a stored file (Twilio fetches MediaUrl from it)."""
        ...


# WhatsApp's customer-service window: free-form messages only this long after the
# customer's last message; later, an approved template.
CUSTOMER_WINDOW = timedelta(hours=24)


def window_closes_at(last_customer_message_at: datetime | None) -> datetime | None:
    """When the customer-service window closes (None: the customer never wrote)."""
    if last_customer_message_at is None:
        return None
    if last_customer_message_at.tzinfo is None:  # stored as naive UTC
        last_customer_message_at = last_customer_message_at.replace(tzinfo=UTC)
    return last_customer_message_at + CUSTOMER_WINDOW


def window_open(last_customer_message_at: datetime | None, now: datetime | None = None) -> bool:
    """True while a free-form message may reach the customer on a windowed channel."""
    closes = window_closes_at(last_customer_message_at)
    return closes is not None and (now or datetime.now(UTC)) < closes


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message the core asks a channel to deliver to a customer."""

    message: MessageView
    external_chat_id: str
    # When the customer last wrote (WhatsApp's 24-hour window), and their name.
    customer_last_wrote_at: datetime | None = None
    display_name: str | None = None
    # Send as the configured template, whatever the window (an operator asked for it).
    template: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    status: DeliveryStatus
    provider_message_id: str | None = None
    error: str | None = None


class OutputChannel(Protocol):
    """The sending side of a channel adapter."""

    @property
    def name(self) -> str: ...

    async def send(self, outbound: OutboundMessage) -> DeliveryResult: ...

    async def show_typing(self, external_chat_id: str) -> None: ...
