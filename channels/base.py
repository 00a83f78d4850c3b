"""The channel adapter interface: one module per channel implements `ChannelAdapter`.

An adapter has two sides, as in Rasa's input and output channels. Inbound, it verifies and
normalizes what the provider sends and hands an `InboundMessage` to the core through the
`ChannelContext` it was given; it never talks to the model or the panel. Outbound, `send()`
delivers one stored message and reports its delivery status.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from fastapi import APIRouter

from bot.core.types import (
    Attachment,
    ChannelContext,
    DeliveryResult,
    DeliveryStatus,
    InboundMessage,
    InputRejected,
    MediaDownload,
    OutboundMessage,
)
from config import Settings

NOTE_REFUSED = "refused: a private note is never sent to a customer"
_Send = Callable[[Any, OutboundMessage], Awaitable[DeliveryResult]]


def _refusing_notes(send: _Send) -> _Send:
    """`send` that refuses operators' private notes before the channel's own code runs."""

    @functools.wraps(send)
    async def guarded(self: Any, outbound: OutboundMessage) -> DeliveryResult:
        if outbound.message.private:
            return DeliveryResult(DeliveryStatus.FAILED, error=NOTE_REFUSED)
        return await send(self, outbound)

    return guarded


# A channel's reading of one attachment: its provider's unique file id and how to fetch it.
MediaOf = Callable[[Attachment], tuple[str, MediaDownload] | None]


async def with_media(
    context: ChannelContext, inbound: InboundMessage, media_of: MediaOf
) -> InboundMessage:
    """`inbound` with each file attachment fetched and stored once (or marked a placeholder).

    The attachment keeps what the channel said of it and gains `media_id` (stored; the panel
    shows it from `/api/media/{id}`) or `media_problem` (too_large, type_not_allowed, …).
    """
    attachments: list[Attachment] = []
    for attachment in inbound.attachments:
        found = media_of(attachment)
        if found is None:
            attachments.append(attachment)
            continue
        unique_id, download = found
        size = (attachment.model_extra or {}).get("size")
        stored = await context.store_media(
            channel=inbound.channel,
            unique_id=unique_id,
            owner=inbound.external_user_id,
            mime_type=attachment.mime_type,
            name=attachment.name,
            declared_size=size if isinstance(size, int) else None,
            download=download,
        )
        data = attachment.model_dump()
        if stored.media_id is not None:
            data["media_id"] = stored.media_id
        else:
            data["media_problem"] = stored.problem
        if stored.size is not None:
            data["size"] = stored.size
        if stored.mime_type and not attachment.mime_type:
            data["mime_type"] = stored.mime_type
        attachments.append(Attachment(**data))
    return inbound.model_copy(update={"attachments": attachments})


class ChannelAdapter(ABC):
    """Base of every channel: routes for inbound traffic and `send()` for outbound."""

    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every adapter's own `send` is wrapped: no channel can forget to refuse a note.
        super().__init_subclass__(**kwargs)
        if "send" in cls.__dict__:
            setattr(cls, "send", _refusing_notes(cls.__dict__["send"]))  # noqa: B010

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context

    @abstractmethod
    def router(self) -> APIRouter:
        """The HTTP / WebSocket routes this channel receives traffic on."""

    @abstractmethod
    async def send(self, outbound: OutboundMessage) -> DeliveryResult:
        """Deliver one message to the customer; never raises for a provider's refusal."""

    async def process_ingested(self, payload: bytes) -> None:
        """Store one update this channel appended to the ingest stream (`context.accept`).

        Runs in whichever process consumes the stream; raises `ValueError` (or
        `InputRejected`) for a payload that can never be stored, anything else to be retried.
        """
        raise InputRejected(f"the {self.name} channel appends nothing to the ingest stream")

    async def startup(self, *, inbound: bool = True) -> None:  # noqa: B027 - optional hook
        """Open clients; with `inbound`, also start receiving (polling, webhook set-up).

        A process that only sends (`python -m bot worker`) passes `inbound=False`, so two
        processes never poll one bot.
        """

    async def show_typing(self, external_chat_id: str) -> None:  # noqa: B027 - optional hook
        """Show the customer that an answer is being written, where the channel can."""

    async def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Close clients; called once on shutdown."""
