"""The core's side of the channel interface: what a channel adapter may ask of the core."""

from __future__ import annotations

import asyncio

from beanie import PydanticObjectId
from loguru import logger
from redis.exceptions import RedisError

from bot.core.cleanup import connection_scope
from bot.core.conversations import (
    find_or_create_contact,
    find_or_create_conversation,
    get_conversation,
    latest_messages,
    messages_after,
    set_message_status,
)
from bot.core.db import set_fields
from bot.core.documents import Contact, Conversation, Message, ModeChange
from bot.core.ingest import APPEND_TIMEOUT_S, INGESTED, IngestStream
from bot.core.media import read_media, signed_link, store_inbound
from bot.core.outbox import outbound_of
from bot.core.pipeline import handle_incoming_message
from bot.core.runtime import Core
from bot.core.types import (
    Author,
    ConversationEvent,
    DeliveryStatus,
    HistoryPage,
    InboundMessage,
    InboundResult,
    IngestUnavailable,
    MediaDownload,
    MessageView,
    OutboundMessage,
    SessionInfo,
    StoredMedia,
    Subscription,
)

RESUME_PAGE = 500
# Delivery reports only move a message forward; failure is final whenever it comes.
_STATUS_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.FAILED: 4,
}


class CoreChannelContext:
    """Implements `bot.core.types.ChannelContext` on top of the running core."""

    def __init__(self, core: Core | None = None) -> None:
        self._core = core
        self._ingest: IngestStream | None = None

    def bind(self, core: Core) -> None:
        """Channels are built with the app; the core they talk to exists once it starts."""
        self._core = core
        self._ingest = None

    @property
    def core(self) -> Core:
        if self._core is None:
            raise RuntimeError("the core is not running yet")
        return self._core

    async def handle_inbound(self, message: InboundMessage) -> InboundResult:
        return await handle_incoming_message(message, core=self.core)

    async def accept(self, *, channel: str, key: str, chat: str, payload: bytes) -> bool:
        core = self.core
        if not core.settings.ingest_stream:
            raise IngestUnavailable("the ingest stream is off (INGEST_STREAM=false)")
        if self._ingest is None:
            self._ingest = IngestStream(core.redis)
        try:
            async with asyncio.timeout(APPEND_TIMEOUT_S):
                entry_id = await self._ingest.append(
                    channel=channel,
                    key=key,
                    chat=chat,
                    payload=payload,
                    dedup_ttl_s=core.settings.ingest_dedup_ttl_s,
                )
        except (RedisError, OSError, TimeoutError) as exc:
            # Whether it was appended is unknown: storing it now is safe (dedup keeps one).
            logger.warning("ingest append failed ({}); storing {} update at once", exc, channel)
            INGESTED.labels(channel, "direct").inc()
            raise IngestUnavailable(str(exc)) from exc
        INGESTED.labels(channel, "appended" if entry_id else "duplicate").inc()
        return entry_id is not None

    async def stored_message(self, *, channel: str, external_id: str) -> MessageView | None:
        found = await Message.find_one({"channel": channel, "external_id": external_id})
        return None if found is None else found.view()

    async def open_session(
        self,
        *,
        channel: str,
        external_user_id: str,
        display_name: str | None,
        language: str | None,
    ) -> SessionInfo:
        contact = await find_or_create_contact(
            channel=channel,
            external_user_id=external_user_id,
            display_name=display_name,
            language=language,
        )
        conversation = await find_or_create_conversation(
            channel=channel, external_chat_id=external_user_id, contact=contact
        )
        return SessionInfo(
            conversation_id=str(conversation.id),
            external_user_id=external_user_id,
            mode=conversation.mode,
        )

    async def history(
        self, conversation_id: str, *, after_seq: int | None, limit: int
    ) -> HistoryPage:
        conversation = await get_conversation(conversation_id)
        if conversation is None:
            raise LookupError(f"conversation {conversation_id} does not exist")
        oid = PydanticObjectId(conversation_id)
        has_more = False
        if after_seq is None:
            messages = await latest_messages(oid, limit=limit)
            since = messages[0].seq - 1 if messages else 0
        else:
            # A socket that was away gets up to RESUME_PAGE at once; has_more says to ask again.
            page = max(limit, RESUME_PAGE)
            messages = await messages_after(oid, after_seq, limit=page + 1)
            has_more = len(messages) > page
            messages = messages[:page]
            since = after_seq
        span: dict[str, int] = {"$gt": since}
        if has_more:
            span["$lte"] = messages[-1].seq  # later changes belong to the next page
        changes = await ModeChange.find({"conversation_id": oid, "seq": span}).to_list()
        mode_seqs = [change.seq for change in changes]
        # The conversation was read first: a message stored since may be newer than its counter.
        last_seq = max([conversation.last_seq, *(m.seq for m in messages)])
        return HistoryPage(
            messages=[m.view() for m in messages],
            last_seq=last_seq,
            mode=conversation.mode,
            mode_seqs=mode_seqs,
            has_more=has_more,
        )

    async def owns_conversation(
        self, conversation_id: str, *, channel: str, external_chat_id: str
    ) -> bool:
        conversation = await get_conversation(conversation_id)
        return (
            conversation is not None
            and conversation.channel == channel
            and conversation.external_chat_id == external_chat_id
        )

    async def subscribe(self, conversation_id: str, *, owner: str) -> Subscription:
        return self.core.bus.subscribe(conversation_id, owner=owner)

    async def publish_typing(self, conversation_id: str, *, author: Author) -> None:
        await self.core.bus.publish(
            ConversationEvent(
                type="typing", conversation_id=conversation_id, data={"author": author.value}
            )
        )

    async def release(self, owner: str) -> None:
        await self.core.state.release(connection_scope(owner))

    async def record_delivery(
        self,
        *,
        channel: str,
        provider_message_id: str,
        status: DeliveryStatus,
        error: str | None = None,
    ) -> bool:
        message = await Message.find_one(
            {"channel": channel, "provider_message_id": provider_message_id}
        )
        if message is None:
            return False
        if _STATUS_RANK.get(status, 0) < _STATUS_RANK.get(message.status, 0):
            return True  # a late "sent" after "read": reports arrive out of order
        await set_message_status(core=self.core, message=message, status=status, error=error)
        return True

    async def set_blocked(self, *, channel: str, external_user_id: str, blocked: bool) -> None:
        await Contact.get_pymongo_collection().update_one(
            {"channel": channel, "external_user_id": external_user_id},
            {"$set": {"blocked": blocked}},
        )

    async def allow(self, bucket: str, key: str, rate: str, *, client: str | None = None) -> bool:
        return await self.core.limiter.allow(bucket, key, rate, client=client)

    async def outbound_for(
        self, *, channel: str, provider_message_id: str
    ) -> OutboundMessage | None:
        message = await Message.find_one(
            {"channel": channel, "provider_message_id": provider_message_id}
        )
        if message is None:
            return None
        conversation = await Conversation.get(message.conversation_id)
        if conversation is None:
            return None
        contact = await Contact.get(conversation.contact_id)
        return outbound_of(message, conversation, contact)

    async def rebind_delivery(
        self, *, channel: str, provider_message_id: str, new_provider_message_id: str
    ) -> None:
        message = await Message.find_one(
            {"channel": channel, "provider_message_id": provider_message_id}
        )
        if message is None:
            return
        # Sent as the template now: a failure of that one is final, never sent again.
        await set_fields(message, {"meta.template": True})
        await set_message_status(
            core=self.core,
            message=message,
            status=DeliveryStatus.SENT,
            provider_message_id=new_provider_message_id,
        )

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
        return await store_inbound(
            self.core.settings,
            channel=channel,
            unique_id=unique_id,
            owner=owner,
            mime_type=mime_type,
            name=name,
            declared_size=declared_size,
            download=download,
        )

    async def media_bytes(self, media_id: str) -> tuple[bytes, str, str | None] | None:
        found = await read_media(self.core.settings, media_id)
        if found is None:
            return None
        record, data = found
        return data, record.mime_type, record.name

    def media_link(self, media_id: str) -> str:
        return signed_link(self.core.settings, media_id).url
