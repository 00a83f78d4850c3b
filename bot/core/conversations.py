"""Storage operations on contacts, conversations and messages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from bot.core.db import set_fields
from bot.core.documents import Contact, Conversation, Message, utcnow
from bot.core.types import Attachment, Author, ConversationEvent, DeliveryStatus, Source

if TYPE_CHECKING:
    from bot.core.runtime import Core

MESSAGE_CREATED = "message.created"
_DETAILS = ("tool_calls", "kind", "guardrails", "error", "truncated", "translation")
MESSAGE_UPDATED = "message.updated"


async def _insert_or_get(document: Contact | Conversation, key: dict[str, Any]) -> dict[str, Any]:
    """Create a document that is unique on `key`, or read the one a concurrent writer made.

    A plain insert, not an upsert: SecantusDB (the embedded database) serves inserts several
    times faster than find-and-modify, and the unique index makes the race safe. The loser
    of a race reads the winner's document once it is visible.
    """
    collection = type(document).get_pymongo_collection()
    raw: dict[str, Any] = document.model_dump(by_alias=True, exclude={"id"})
    try:
        result = await collection.insert_one(raw)
    except DuplicateKeyError:
        for attempt in range(20):
            found: dict[str, Any] | None = await collection.find_one(key)
            if found is not None:
                return found
            await asyncio.sleep(0.005 * (attempt + 1))
        raise RuntimeError(f"could not find or create {collection.name} {key}") from None
    raw["_id"] = result.inserted_id
    return raw


async def find_or_create_contact(
    *, channel: str, external_user_id: str, display_name: str | None, language: str | None
) -> Contact:
    """The contact for a channel identity; a newer display name or language updates it."""
    known = await Contact.find_one({"channel": channel, "external_user_id": external_user_id})
    fresh: dict[str, Any] = {}
    if display_name:
        fresh["display_name"] = display_name
    if language:
        fresh["language"] = language
    if known is None:
        key = {"channel": channel, "external_user_id": external_user_id}
        new = Contact(channel=channel, external_user_id=external_user_id, **fresh)
        known = Contact.model_validate(await _insert_or_get(new, key))
        assert isinstance(known, Contact)
        if all(getattr(known, name) == value for name, value in fresh.items()):
            return known
    changed = {name: value for name, value in fresh.items() if getattr(known, name) != value}
    if changed:
        await set_fields(known, changed)
    return known


async def find_or_create_conversation(
    *, channel: str, external_chat_id: str, contact: Contact
) -> Conversation:
    """The one conversation of a chat on a channel."""
    known = await Conversation.find_one({"channel": channel, "external_chat_id": external_chat_id})
    if known is not None:
        return known
    new = Conversation(
        channel=channel,
        external_chat_id=external_chat_id,
        contact_id=contact.id or PydanticObjectId(),
    )
    key = {"channel": channel, "external_chat_id": external_chat_id}
    return Conversation.model_validate(await _insert_or_get(new, key))  # type: ignore[no-any-return]


# What a compare-and-set on a conversation pins: these fields as read, in the filter of a plain
# update (next_seq, bot.core.modes). Not a find-and-modify: SecantusDB (the embedded database)
# writes a find-and-modify's document through a filter it answers by scanning the collection,
# so every message cost time in proportion to the number of chats. The index `id_pinned`
# holds exactly these fields and `_id`.
PINNED_FIELDS = ("last_seq", "mode", "mode_version", "assignee_id")
# A lost compare-and-set means another write to the same chat landed in between; a burst of
# a chat's own writes settles in a few rounds.
_SEQ_ATTEMPTS = 50


async def read_pinned(conversation_id: PydanticObjectId) -> dict[str, Any] | None:
    """The pinned fields of the conversation as stored now (None if there is none)."""
    found: dict[str, Any] | None = await Conversation.get_pymongo_collection().find_one(
        {"_id": conversation_id}, projection=dict.fromkeys(PINNED_FIELDS, 1)
    )
    return found


def pinned(raw: dict[str, Any]) -> dict[str, Any]:
    """The filter that matches this conversation only while its pinned fields are as read."""
    return {"_id": raw["_id"], **{name: raw.get(name) for name in PINNED_FIELDS}}


async def next_seq(
    conversation_id: PydanticObjectId,
    *,
    author: Author | None = None,
    at: datetime | None = None,
    only_if: Callable[[dict[str, Any]], bool] | None = None,
) -> int:
    """Reserve the next number of a conversation's shared message/mode sequence.

    With `author` and `at`, the same atomic update records the conversation's activity (one
    write per message instead of two). With `only_if`, only while the stored conversation
    passes it (LookupError otherwise): the pinned fields it may read cannot change between
    the check and the write.
    """
    collection = Conversation.get_pymongo_collection()
    for _ in range(_SEQ_ATTEMPTS):
        raw = await read_pinned(conversation_id)
        if raw is None or (only_if is not None and not only_if(raw)):
            raise LookupError(f"conversation {conversation_id} does not exist or does not match")
        seq = int(raw.get("last_seq") or 0) + 1
        changes: dict[str, Any] = {"$set": {"last_seq": seq}}
        if at is not None:
            changes["$max"] = {"last_message_at": at}
        if author is Author.CUSTOMER:
            changes["$set"].update(last_customer_seq=seq, last_customer_message_at=at)
            changes["$inc"] = {"unread_operator": 1}
        elif author is Author.OPERATOR:
            changes["$set"]["unread_operator"] = 0
        if (await collection.update_one(pinned(raw), changes)).matched_count:
            return seq
    raise RuntimeError(f"conversation {conversation_id}: too many concurrent writes")


async def append_message(
    *,
    core: Core,
    conversation: Conversation,
    author: Author,
    text: str,
    external_id: str | None = None,
    status: DeliveryStatus | None = None,
    client_id: str | None = None,
    operator_id: PydanticObjectId | None = None,
    attachments: list[Attachment] | None = None,
    sources: list[Source] | None = None,
    meta: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    message_id: PydanticObjectId | None = None,
    publish: bool = True,
    only_if: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[Message, bool]:
    """Store a message with the next seq and publish it; a known `external_id` is a no-op.

    Returns the stored message and whether it was new. Callers that expect duplicates look
    them up first (the unique index is the guarantee; a lost race costs a gap in seq).
    With `publish=False` the caller publishes it (`publish_created`) when it is ready; with
    `only_if`, the seq is reserved only while the conversation matches it (`next_seq`).
    """
    assert conversation.id is not None
    now = created_at or utcnow()
    seq = await next_seq(conversation.id, author=author, at=now, only_if=only_if)
    message = Message(
        id=message_id,
        conversation_id=conversation.id,
        seq=seq,
        author=author,
        text=text,
        channel=conversation.channel,
        external_id=external_id or f"sb:{uuid.uuid4().hex}",
        client_id=client_id,
        operator_id=operator_id,
        status=status
        or (DeliveryStatus.RECEIVED if author is Author.CUSTOMER else DeliveryStatus.PENDING),
        attachments=attachments or [],
        sources=sources or [],
        meta=meta or {},
        created_at=now,
        updated_at=now,
    )
    try:
        await message.insert()
    except DuplicateKeyError:
        # A concurrent delivery of the same inbound message won; ours leaves a gap in seq.
        existing = await Message.find_one(
            {"channel": conversation.channel, "external_id": message.external_id}
        )
        if existing is None:
            raise
        return existing, False
    if publish:
        await publish_created(core, message)
    return message, True


async def publish_created(core: Core, message: Message) -> None:
    """Tell every socket of the conversation about a stored message."""
    await core.bus.publish(
        ConversationEvent(
            type=MESSAGE_CREATED,
            conversation_id=str(message.conversation_id),
            seq=message.seq,
            # The widget reads `message`; the panel also gets the operator-only details.
            data={
                "message": message.view().model_dump(mode="json"),
                "details": {k: v for k, v in message.operator_view().items() if k in _DETAILS},
            },
        )
    )


async def set_message_status(
    *,
    core: Core,
    message: Message,
    status: DeliveryStatus,
    error: str | None = None,
    provider_message_id: str | None = None,
) -> None:
    """Record a delivery status change and tell the panel."""
    update: dict[str, Any] = {"status": status, "updated_at": utcnow(), "error": error}
    if provider_message_id is not None:
        update["provider_message_id"] = provider_message_id
    await set_fields(message, update)
    await core.bus.publish(
        ConversationEvent(
            type=MESSAGE_UPDATED,
            conversation_id=str(message.conversation_id),
            seq=None,
            data={"message_id": str(message.id), "status": status.value, "error": error},
        )
    )


async def messages_after(
    conversation_id: PydanticObjectId, after_seq: int, *, limit: int = 500
) -> list[Message]:
    """Messages with seq > after_seq, oldest first."""
    return (
        await Message.find({"conversation_id": conversation_id, "seq": {"$gt": after_seq}})
        .sort("+seq")
        .limit(limit)
        .to_list()
    )


async def latest_messages(
    conversation_id: PydanticObjectId, *, before_seq: int | None = None, limit: int = 50
) -> list[Message]:
    """The newest page of messages (older than `before_seq` if given), oldest first."""
    query = Message.find({"conversation_id": conversation_id})
    if before_seq is not None:
        query = Message.find({"conversation_id": conversation_id, "seq": {"$lt": before_seq}})
    page = await query.sort("-seq").limit(limit).to_list()
    page.reverse()
    return page


async def get_conversation(conversation_id: str | PydanticObjectId) -> Conversation | None:
    try:
        oid = PydanticObjectId(conversation_id)
    except Exception:
        return None
    return await Conversation.get(oid)
