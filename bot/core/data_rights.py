"""Data rights and retention: export a contact's data, erase a contact, purge old closed chats.

Erasure deletes rather than anonymises: the contact, its conversations (with their summaries),
messages (with attachments and tool calls) and mode changes go from MongoDB; from Redis go
the reply jobs that name its conversations, every key that names the contact or one of its
conversations (chat locks, per-chat rate-limit windows), and the caches keyed by what
customers wrote (`Core.derived_caches`, the knowledge base's search cache). The operator
panel's search reads the messages and contacts collections themselves, so it forgets with
them. Each action leaves one `AuditEntry` that names the contact only by a keyed hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.core import inbound_claims, linked_contacts
from bot.core.cleanup import conversation_scope
from bot.core.documents import (
    AuditEntry,
    Contact,
    Conversation,
    MediaFile,
    Message,
    ModeChange,
    Note,
    utcnow,
)
from bot.core.ingest import IngestStream, chat_digest
from bot.core.media import erase_media
from bot.core.runtime import Core
from bot.core.types import Mode
from config import with_installation_secrets

# How often a worker looks for closed conversations past RETENTION_DAYS, and the Redis lock
# that makes one worker of many do it.
RETENTION_INTERVAL_S = 3600.0
RETENTION_LOCK = "sb:retention:lock"
_SCAN_COUNT = 500


class ContactNotFound(LookupError):
    """No contact has this id."""


@dataclass(frozen=True)
class Erased:
    """What one erasure or purge removed."""

    contacts: int = 0
    conversations: int = 0
    messages: int = 0
    mode_changes: int = 0
    redis_keys: int = 0
    reply_jobs: int = 0
    ingest_entries: int = 0
    media_files: int = 0

    def __add__(self, other: Erased) -> Erased:
        return Erased(
            contacts=self.contacts + other.contacts,
            conversations=self.conversations + other.conversations,
            messages=self.messages + other.messages,
            mode_changes=self.mode_changes + other.mode_changes,
            redis_keys=self.redis_keys + other.redis_keys,
            reply_jobs=self.reply_jobs + other.reply_jobs,
            ingest_entries=self.ingest_entries + other.ingest_entries,
            media_files=self.media_files + other.media_files,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "contacts": self.contacts,
            "conversations": self.conversations,
            "messages": self.messages,
            "mode_changes": self.mode_changes,
            "redis_keys": self.redis_keys,
            "reply_jobs": self.reply_jobs,
            "ingest_entries": self.ingest_entries,
            "media_files": self.media_files,
        }


def contact_ref(core: Core, contact_id: str) -> str:
    """A keyed hash of a contact id for the audit log.

    Whoever holds JWT_SECRET and a contact id can check that this contact was erased; the log
    alone does not say who it was.
    """
    # The CLI's settings may not carry the generated secret yet; the same DATA_DIR gives the
    # same one the server uses.
    secret = with_installation_secrets(core.settings).jwt_secret
    assert secret is not None  # with_installation_secrets always fills it in
    key = secret.get_secret_value().encode()
    return hmac.new(key, f"contact:{contact_id}".encode(), hashlib.sha256).hexdigest()[:32]


async def _contact(contact_id: str, core: Core | None = None) -> Contact:
    """The contact of an id, or (with `core`) of the keyed hash an audit entry names."""
    if core is not None and len(contact_id) == 32 and _is_hex(contact_id):
        found = await _contact_of_ref(core, contact_id)
        if found is not None:
            return found
    try:
        oid = PydanticObjectId(contact_id)
    except (InvalidId, TypeError, ValueError):
        raise ContactNotFound(f"no contact with id {contact_id!r}") from None
    contact = await Contact.get(oid)
    if contact is None:
        raise ContactNotFound(f"no contact with id {contact_id!r}")
    return contact


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


async def _contact_of_ref(core: Core, ref: str) -> Contact | None:
    """After a restore, the contacts erased since the backup are back; the audit log (and the
    app log) of the erasure name them by their keyed hash only: find them by it."""
    collection = Contact.get_pymongo_collection()
    async for row in collection.find({}, projection={"_id": 1}):
        if hmac.compare_digest(contact_ref(core, str(row["_id"])), ref):
            return await Contact.get(row["_id"])
    return None


def _dump(document: Any) -> dict[str, Any]:
    data: dict[str, Any] = document.model_dump(mode="json", by_alias=False)
    data["id"] = str(document.id)
    data.pop("revision_id", None)
    return data


async def export_contact(*, core: Core, contact_id: str, actor: str) -> dict[str, Any]:
    """Everything stored about one contact, as JSON-ready data (and an audit entry).

    Conversations carry their messages (every field, attachments and the AI's tool calls
    included) and mode changes in sequence order; `attachments` lists every attachment again
    with the message it came with.
    """
    contact = await _contact(contact_id)
    conversations = await Conversation.find({"contact_id": contact.id}).sort("created_at").to_list()
    exported: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    for conversation in conversations:
        messages = await Message.find({"conversation_id": conversation.id}).sort("seq").to_list()
        changes = await ModeChange.find({"conversation_id": conversation.id}).sort("seq").to_list()
        item = _dump(conversation)
        item["messages"] = [_dump(m) for m in messages]
        item["mode_changes"] = [_dump(c) for c in changes]
        exported.append(item)
        for message in messages:
            for attachment in message.attachments:
                attachments.append(
                    {
                        "conversation_id": str(conversation.id),
                        "message_id": str(message.id),
                        "seq": message.seq,
                        **attachment.model_dump(mode="json"),
                    }
                )
    await _audit(core, "contact.export", actor, contact_id, {"conversations": len(exported)})
    return {
        "exported_at": utcnow().isoformat(),
        "contact": _dump(contact),
        "conversations": exported,
        "attachments": attachments,
    }


async def erase_contact(*, core: Core, contact_id: str, actor: str) -> Erased:
    """Remove one contact and everything of theirs from MongoDB and Redis (see the module).

    `contact_id` may also be the keyed hash an earlier erasure logged (to erase again what a
    restored backup brought back).
    """
    contact = await _contact(contact_id, core)
    conversations = await Conversation.find({"contact_id": contact.id}).to_list()
    conversation_ids = [c.id for c in conversations if c.id is not None]
    # Their photos and files first: the messages are what names them.
    media = await _media_files(conversation_ids, owner=(contact.channel, contact.external_user_id))
    erased = Erased(media_files=await erase_media(core.settings, media))
    erased += await _delete_conversations(core, conversation_ids)
    erased += Erased(ingest_entries=await _drop_ingest_entries(core, conversations))
    names = [str(contact.id), *(str(c) for c in conversation_ids)]
    erased += Erased(
        contacts=await _delete_many(Contact, {"_id": contact.id}),
        redis_keys=await _forget_keys(core.redis, names, core.derived_caches),
        reply_jobs=await _drop_reply_jobs(
            core, {str(c) for c in conversation_ids}, str(contact.id)
        ),
    )
    await linked_contacts.release(contact.person_id)  # the links go with the contact
    await _audit(core, "contact.erase", actor, str(contact.id), erased.as_dict())
    logger.info("erased contact {}: {}", contact_ref(core, str(contact.id)), erased.as_dict())
    return erased


async def purge_expired(*, core: Core, retention_days: int, actor: str = "worker") -> Erased:
    """Delete closed conversations closed more than `retention_days` ago.

    A contact left without any conversation goes too (with its Redis keys); one who still has
    a conversation keeps their contact record.
    """
    cutoff = utcnow() - timedelta(days=retention_days)
    expired = await Conversation.find(
        {"mode": Mode.CLOSED.value, "closed_at": {"$lt": cutoff}}
    ).to_list()
    if not expired:
        return Erased()
    conversation_ids = [c.id for c in expired if c.id is not None]
    media = await _media_files(conversation_ids)
    erased = Erased(media_files=await erase_media(core.settings, media))
    erased += await _delete_conversations(core, conversation_ids)
    erased += Erased(ingest_entries=await _drop_ingest_entries(core, expired))
    contact_ids = {c.contact_id for c in expired}
    orphans = [
        contact_id
        for contact_id in contact_ids
        if await Conversation.find_one({"contact_id": contact_id}) is None
    ]
    if orphans:
        erased += Erased(contacts=await _delete_many(Contact, {"_id": {"$in": orphans}}))
    names = [*(str(c) for c in conversation_ids), *(str(c) for c in orphans)]
    erased += Erased(
        redis_keys=await _forget_keys(core.redis, names, ()),
        reply_jobs=await _drop_reply_jobs(core, {str(c) for c in conversation_ids}, None),
    )
    await _audit(
        core, "retention.purge", actor, None, {**erased.as_dict(), "retention_days": retention_days}
    )
    logger.info("retention: purged {}", erased.as_dict())
    return erased


async def run_retention(core: Core, *, interval_s: float = RETENTION_INTERVAL_S) -> None:
    """The worker's retention loop: a purge at start and every `interval_s` after.

    Several workers may run it; a Redis lock held for the interval lets one of them purge.
    """
    days = core.settings.retention_days
    if days is None:
        return
    while True:
        try:
            lock_ms = max(1, int(interval_s * 1000) - 1)
            if await core.redis.set(RETENTION_LOCK, "1", nx=True, px=lock_ms):
                await purge_expired(core=core, retention_days=days)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("retention purge failed; retried at the next interval")
        await asyncio.sleep(interval_s)


# ---------------------------------------------------------------------------------- helpers


async def _media_files(
    conversation_ids: list[PydanticObjectId], *, owner: tuple[str, str] | None = None
) -> list[MediaFile]:
    """The stored files of these conversations (attached to their messages or uploaded to
    them) and, with `owner`, every file that customer sent on their channel."""
    ids: set[PydanticObjectId] = set()
    if conversation_ids:
        async for doc in Message.get_pymongo_collection().find(
            {"conversation_id": {"$in": conversation_ids}}, {"attachments": 1}
        ):
            for attachment in doc.get("attachments") or []:
                if isinstance(attachment, dict) and attachment.get("media_id"):
                    with contextlib.suppress(InvalidId, TypeError):
                        ids.add(PydanticObjectId(attachment["media_id"]))
    clauses: list[dict[str, Any]] = []
    if ids:
        clauses.append({"_id": {"$in": list(ids)}})
    if conversation_ids:
        clauses.append({"conversation_id": {"$in": conversation_ids}})
    if owner is not None:
        clauses.append({"channel": owner[0], "owner": owner[1]})
    found: dict[Any, MediaFile] = {}
    for clause in clauses:  # one query per clause: the embedded server plans $or poorly
        for record in await MediaFile.find(clause).to_list():
            found[record.id] = record
    return list(found.values())


async def _delete_many(document: Any, query: dict[str, Any]) -> int:
    result = await document.get_pymongo_collection().delete_many(query)
    return int(result.deleted_count)


async def _delete_conversations(core: Core, ids: list[PydanticObjectId]) -> Erased:
    if not ids:
        return Erased()
    within = {"conversation_id": {"$in": ids}}
    deliveries = [
        (doc["channel"], doc["external_id"])
        async for doc in Message.get_pymongo_collection().find(
            {**within, "external_id": {"$ne": None}}, {"channel": 1, "external_id": 1}
        )
    ]
    await inbound_claims.forget(deliveries)
    # Messages and mode changes before the conversation: a crash in between leaves a
    # conversation to find and erase again, never messages nobody can reach.
    messages = await _delete_many(Message, within)
    changes = await _delete_many(ModeChange, within)
    await _delete_many(Note, within)  # operators' notes about these chats go with them
    conversations = await _delete_many(Conversation, {"_id": {"$in": ids}})
    for conversation_id in ids:
        # Sockets and streams of these chats in this process let go of them.
        with contextlib.suppress(Exception):
            await core.state.release(conversation_scope(str(conversation_id)))
    return Erased(conversations=conversations, messages=messages, mode_changes=changes)


async def _forget_keys(redis: Redis, names: Iterable[str], patterns: Iterable[str]) -> int:
    """Delete every key that contains one of `names` (ObjectId strings) or matches a pattern.

    One pass over the keyspace however many names: a contact may have many conversations.
    """
    wanted = [name.encode() for name in names if name]
    deleted = 0
    batch: list[bytes] = []
    if wanted:
        async for key in redis.scan_iter(count=_SCAN_COUNT):
            if any(name in key for name in wanted):
                batch.append(key)
    for pattern in patterns:
        batch.extend([key async for key in redis.scan_iter(match=pattern, count=_SCAN_COUNT)])
    for start in range(0, len(batch), _SCAN_COUNT):
        deleted += int(await redis.delete(*batch[start : start + _SCAN_COUNT]))
    return deleted


async def _drop_reply_jobs(core: Core, conversation_ids: set[str], contact_id: str | None) -> int:
    """Remove the stream entries (pending or not) that name these conversations or contact."""
    queue = core.queue
    dropped: list[Any] = []
    start = "-"
    try:
        while True:
            entries = await core.redis.xrange(queue.stream, min=start, count=_SCAN_COUNT)
            if not entries:
                break
            for entry_id, fields in entries:
                data = {_text(k): _text(v) for k, v in (fields or {}).items()}
                if data.get("conversation_id") in conversation_ids or (
                    contact_id is not None and data.get("contact_id") == contact_id
                ):
                    dropped.append(entry_id)
            if len(entries) < _SCAN_COUNT:
                break
            start = f"({_text(entries[-1][0])}"
        if dropped:
            await core.redis.xack(queue.stream, queue.group, *dropped)
            await core.redis.xdel(queue.stream, *dropped)
    except RedisError as exc:
        # Without Redis there is nothing to drop; the jobs would find no conversation anyway.
        logger.warning("reply jobs not checked for erased conversations: {}", exc)
        return 0
    return len(dropped)


async def _drop_ingest_entries(core: Core, conversations: Iterable[Conversation]) -> int:
    """Their raw updates still in the ingest stream or its dead letters (texts, phone numbers)."""
    chats: set[str] = set()
    for conversation in conversations:
        chats.add(chat_digest(conversation.channel, conversation.external_chat_id))
        # The widget orders its appends by the conversation's own id.
        chats.add(chat_digest(conversation.channel, str(conversation.id)))
    try:
        return await IngestStream(core.redis).forget_chats(chats)
    except RedisError as exc:
        logger.warning("ingest entries not checked for erased conversations: {}", exc)
        return 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _audit(
    core: Core, action: str, actor: str, contact_id: str | None, details: dict[str, Any]
) -> None:
    subject = contact_ref(core, contact_id) if contact_id is not None else None
    await AuditEntry(action=action, actor=actor, subject=subject, details=details).insert()


async def audit_log(*, limit: int = 100) -> list[AuditEntry]:
    """The newest audit entries first."""
    return await AuditEntry.find({}).sort("-created_at").limit(max(1, min(limit, 1000))).to_list()
