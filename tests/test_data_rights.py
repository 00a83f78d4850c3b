"""Data rights from the command line, and retention run by the reply worker.

`python -m bot contacts export ID` / `erase ID` run as a user runs them (a child process
attached to the same MongoDB and Redis); the retention purge runs inside a real worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from bot.answers.engine import Engine
from bot.core.data_rights import erase_contact, purge_expired
from bot.core.documents import AuditEntry, Contact, Conversation, Message, ModeChange, utcnow
from bot.core.ingest import DEAD_STREAM, IngestStream
from bot.core.pipeline import handle_incoming_message
from bot.core.runtime import Core
from bot.core.types import Attachment, InboundMessage, Mode
from bot.server.app import running_worker
from config import Settings
from tests.support import CHANNEL, eventually

REPO = Path(__file__).resolve().parent.parent


async def _chat(
    core: Core, user: str, *texts: str, closed_days_ago: float | None = None, chat: str = ""
) -> str:
    """A conversation of `user` on the test channel; closed that long ago when given."""
    result = None
    chat = chat or f"chat-{user}"
    for i, text in enumerate(texts):
        result = await handle_incoming_message(
            InboundMessage(
                channel=CHANNEL, external_chat_id=chat, external_user_id=user,
                external_message_id=f"{chat}-{i}", text=text, display_name=f"Name {user}",
                attachments=[Attachment(kind="document", url=f"https://f.example/{user}.pdf")]
                if i == 0 else [],
            ),
            core=core,
        )
    assert result is not None
    conversation_id = result.message.conversation_id
    if closed_days_ago is not None:
        await Conversation.get_pymongo_collection().update_one(
            {"_id": (await Conversation.get(conversation_id)).id},  # type: ignore[union-attr]
            {"$set": {"mode": Mode.CLOSED.value,
                      "closed_at": utcnow() - timedelta(days=closed_days_ago)}},
        )
    return conversation_id


async def _contact_of(conversation_id: str) -> str:
    conversation = await Conversation.get(conversation_id)
    assert conversation is not None
    return str(conversation.contact_id)


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB", "REDIS"))}
    env.update(
        APP_ENV="test", DATA_DIR=str(settings.data_dir), LOG_LEVEL="WARNING",
        MONGODB_URI=str(settings.mongodb_uri), MONGODB_DB=settings.mongodb_db,
        REDIS_URL=str(settings.redis_url),
        JWT_SECRET=settings.jwt_secret.get_secret_value(),
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", "contacts", *args], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=90, check=False, stdin=subprocess.DEVNULL,
    )


async def test_cli_exports_then_erases_a_contact(core: Core, settings: Settings) -> None:
    conversation_id = await _chat(core, "u-aurelia", "I am Aurelia Pinchbeck", "second note")
    other = await _chat(core, "u-kept", "someone else entirely")
    contact_id = await _contact_of(conversation_id)
    out = settings.data_dir / "export.json"

    exported = _cli(settings, "export", contact_id, "--output", str(out))

    assert exported.returncode == 0, exported.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["contact"]["external_user_id"] == "u-aurelia"
    (conversation,) = data["conversations"]
    assert [m["text"] for m in conversation["messages"]] == ["I am Aurelia Pinchbeck",
                                                             "second note"]
    assert data["attachments"][0]["url"] == "https://f.example/u-aurelia.pdf"

    erased = _cli(settings, "erase", contact_id, "--yes")

    assert erased.returncode == 0, erased.stderr
    assert "1 contacts" in erased.stdout and "2 messages" in erased.stdout
    assert await Contact.find_one({"external_user_id": "u-aurelia"}) is None
    assert await Message.find_one({"text": "I am Aurelia Pinchbeck"}) is None
    assert await Conversation.get(other) is not None
    actions = [e.action for e in await AuditEntry.find({}).to_list()]
    assert actions.count("contact.export") == 1 and actions.count("contact.erase") == 1

    again = _cli(settings, "erase", contact_id, "--yes")
    assert again.returncode == 1 and "no contact" in again.stderr


async def test_erasure_drops_the_reply_jobs_a_worker_has_not_taken(core: Core) -> None:
    conversation_id = await _chat(core, "u-queued", "please answer me")
    kept = await _chat(core, "u-other", "me too")
    # No worker runs here: both chats' reply jobs wait in the stream.
    before = await core.redis.xrange(core.queue.stream)
    assert {e[1][b"conversation_id"].decode() for e in before} >= {conversation_id, kept}

    erased = await erase_contact(
        core=core, contact_id=await _contact_of(conversation_id), actor="test"
    )

    assert erased.reply_jobs >= 1
    left = await core.redis.xrange(core.queue.stream)
    assert {e[1][b"conversation_id"].decode() for e in left} == {kept}


async def test_retention_purges_old_closed_chats_only(core: Core) -> None:
    old = await _chat(core, "u-old", "an old closed chat", closed_days_ago=40)
    recent = await _chat(core, "u-recent", "closed last week", closed_days_ago=7)
    open_chat = await _chat(core, "u-open", "still talking")
    # One contact with an old closed chat and a live one keeps the contact and the live chat.
    mixed_old = await _chat(core, "u-mixed", "old part", closed_days_ago=90, chat="2023")
    mixed_live = await _chat(core, "u-mixed", "new part", chat="2026")
    assert mixed_live != mixed_old

    purged = await purge_expired(core=core, retention_days=30)

    assert purged.conversations == 2 and purged.contacts == 1
    for gone in (old, mixed_old):
        assert await Conversation.get(gone) is None
        assert await Message.find_one({"conversation_id": (await _oid(gone))}) is None
        assert await ModeChange.find_one({"conversation_id": (await _oid(gone))}) is None
    for kept in (recent, open_chat, mixed_live):
        assert await Conversation.get(kept) is not None
    assert await Contact.find_one({"external_user_id": "u-old"}) is None
    assert await Contact.find_one({"external_user_id": "u-mixed"}) is not None
    entry = await AuditEntry.find_one({"action": "retention.purge"})
    assert entry is not None and entry.details["conversations"] == 2


async def _oid(conversation_id: str) -> object:
    from beanie import PydanticObjectId

    return PydanticObjectId(conversation_id)


async def test_the_reply_worker_runs_retention_when_retention_days_is_set(
    core: Core, engine: Engine
) -> None:
    old = await _chat(core, "u-expired", "closed long ago", closed_days_ago=400)
    recent = await _chat(core, "u-fresh", "closed yesterday", closed_days_ago=1)
    core.settings = core.settings.model_copy(update={"retention_days": 365})

    async with running_worker(core, engine):

        async def purged() -> bool:
            return await Conversation.get(old) is None

        await eventually(purged)
    assert await Conversation.get(recent) is not None
    assert await Message.find_one({"text": "closed long ago"}) is None


async def test_a_contact_a_restore_brought_back_is_erased_again_by_its_logged_hash(
    core: Core,
) -> None:
    conversation_id = await _chat(core, "u-restored", "erase me for good")
    contact_id = await _contact_of(conversation_id)
    backup = await Contact.get_pymongo_collection().find_one({"_id": (await _oid(contact_id))})
    await erase_contact(core=core, contact_id=contact_id, actor="test")
    entry = await AuditEntry.find_one({"action": "contact.erase"})
    assert entry is not None and entry.subject is not None
    # A restore from a backup older than the erasure brings the contact back.
    await Contact.get_pymongo_collection().insert_one(backup)

    again = await erase_contact(core=core, contact_id=entry.subject, actor="test")

    assert again.contacts == 1
    assert await Contact.find_one({"external_user_id": "u-restored"}) is None


async def test_erasure_drops_the_contacts_raw_updates_waiting_or_dead_lettered(core: Core) -> None:
    erased_chat = await _chat(core, "u-raw", "hello")
    await _chat(core, "u-raw-kept", "hi")
    stream = IngestStream(core.redis)
    await stream.ensure_group()
    for key, chat, text in [
        ("raw-1", "chat-u-raw", "my card is 4111 1111 1111 1111"),
        ("raw-2", "chat-u-raw-kept", "kept update"),
        ("raw-3", "chat-u-raw", "call me on +49 170 1234567"),
    ]:
        await stream.append(
            channel=CHANNEL, key=key, chat=chat, payload=text.encode(), dedup_ttl_s=60
        )
    # The first one failed for good and went to the dead letters; the rest wait to be stored.
    (first,) = await stream.read("test", count=1, block_ms=10)
    await stream.dead_letter(first, "ValueError: could not be stored")

    async def payloads() -> bytes:
        raw = b""
        for name in (stream.stream, DEAD_STREAM):
            raw += b"|".join(f[b"payload"] for _, f in await core.redis.xrange(name))
        return raw

    assert b"4111" in await payloads() and b"+49 170" in await payloads()

    erased = await erase_contact(core=core, contact_id=await _contact_of(erased_chat), actor="t")

    assert erased.ingest_entries == 2
    left = await payloads()
    assert b"4111" not in left and b"+49 170" not in left
    assert b"kept update" in left
