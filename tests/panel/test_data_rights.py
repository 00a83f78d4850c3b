"""Data rights in the panel: an admin exports a contact's data and erases a contact.

The erasure test then reads every collection of the database and every Redis key with its
value, and finds nothing of the erased contact, while the other customer is untouched.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from bot.core.data_rights import contact_ref
from bot.core.documents import AuditEntry, Conversation
from bot.core.pipeline import handle_incoming_message
from bot.core.types import Attachment, InboundMessage
from tests.panel.conftest import SignedIn
from tests.panel.helpers import Customer, customer_writes
from tests.support import LiveApp, eventually, widget_socket

ERASED_TEXT = "my card number is on the parcel, ask Zinaida Quokkova"
KEPT_TEXT = "Where is my order, Bartholomew Kestrel here"


async def _contact_id(conversation_id: str) -> str:
    conversation = await Conversation.get(conversation_id)
    assert conversation is not None
    return str(conversation.contact_id)


async def _a_chat_with_everything(app: LiveApp, admin: SignedIn) -> tuple[Customer, list[str]]:
    """A widget customer: messages, a hand-off, an operator reply, a photo; what names them."""
    customer = await customer_writes(app, "Zinaida Quokkova", ERASED_TEXT)
    conversation_id = customer.conversation_id
    reply = await admin.post(
        f"/api/conversations/{conversation_id}/messages", {"text": "Zinaida, I am looking"}
    )
    assert reply.status_code == 200, reply.text
    conversation = await Conversation.get(conversation_id)
    assert conversation is not None
    await handle_incoming_message(
        InboundMessage(
            channel=conversation.channel,
            external_chat_id=conversation.external_chat_id,
            external_user_id=conversation.external_chat_id,
            external_message_id="photo-quokkova-1",
            text="here is the label",
            attachments=[Attachment(kind="photo", url="https://files.example/quokkova.jpg")],
        ),
        core=app.core,
    )
    contact_id = await _contact_id(conversation_id)
    names = [contact_id, conversation_id, conversation.external_chat_id, "Quokkova",
             "quokkova.jpg", "here is the label", "photo-quokkova-1", ERASED_TEXT,
             customer.token.split(".")[1]]
    return customer, names


async def _everything_in_mongo(app: LiveApp) -> str:
    database = app.core.mongo[app.core.settings.mongodb_db]
    dump: list[Any] = []
    for name in await database.list_collection_names():
        dump.append(name)
        dump.extend(await database[name].find({}).to_list(length=None))
    return json.dumps(dump, default=str, ensure_ascii=False)


async def _everything_in_redis(redis: Redis) -> str:
    dump: list[Any] = []
    async for key in redis.scan_iter(count=1000):
        kind = (await redis.type(key)).decode()
        dump.append(key)
        if kind == "string":
            dump.append(await redis.get(key))
        elif kind == "hash":
            dump.append(await redis.hgetall(key))
        elif kind == "list":
            dump.append(await redis.lrange(key, 0, -1))
        elif kind == "set":
            dump.append(await redis.smembers(key))
        elif kind == "zset":
            dump.append(await redis.zrange(key, 0, -1, withscores=True))
        elif kind == "stream":
            dump.append(await redis.xrange(key))
            for group in await redis.xinfo_groups(key):
                dump.append(await redis.xpending_range(key, group["name"], "-", "+", 10_000))
    return repr(dump)


async def test_admin_exports_a_contacts_messages_mode_changes_and_attachments(
    app: LiveApp, admin: SignedIn
) -> None:
    customer, _ = await _a_chat_with_everything(app, admin)
    contact_id = await _contact_id(customer.conversation_id)

    response = await admin.client.get(f"/api/contacts/{contact_id}/export")

    assert response.status_code == 200, response.text
    data = response.json()
    assert data["contact"]["id"] == contact_id
    assert data["contact"]["display_name"] == "Zinaida Quokkova"
    (conversation,) = data["conversations"]
    assert conversation["id"] == customer.conversation_id
    texts = [m["text"] for m in conversation["messages"]]
    assert ERASED_TEXT in texts and "Zinaida, I am looking" in texts
    assert "here is the label" in texts
    authors = {m["author"] for m in conversation["messages"]}
    assert {"customer", "operator"} <= authors
    seqs = [m["seq"] for m in conversation["messages"]]
    assert seqs == sorted(seqs)
    moves = [(c["from_mode"], c["to_mode"]) for c in conversation["mode_changes"]]
    assert ("ai", "waiting_operator") in moves and ("waiting_operator", "operator") in moves
    assert [a["url"] for a in data["attachments"]] == ["https://files.example/quokkova.jpg"]
    assert data["attachments"][0]["conversation_id"] == customer.conversation_id
    entry = await AuditEntry.find_one({"action": "contact.export"})
    assert entry is not None and entry.actor == f"operator:{admin.operator_id}"


async def test_erasure_leaves_nothing_of_the_contact_in_mongodb_or_redis(
    app: LiveApp, admin: SignedIn
) -> None:
    erased, names = await _a_chat_with_everything(app, admin)
    kept = await customer_writes(app, "Bartholomew Kestrel", KEPT_TEXT)
    redis = app.core.redis
    # What else Redis may hold about the chat: a reply job waiting for a worker, and an entry of
    # the knowledge base's search cache (keyed by a customer's question).
    contact_id = names[0]
    await app.core.queue.enqueue(erased.conversation_id, 99, contact_id=contact_id)
    await redis.set("kb:SwitchboardKB:search:v1.1:0123456789abcdef", "[]")
    before = await _everything_in_mongo(app)
    assert all(name in before for name in names[:2])
    assert erased.conversation_id in await _everything_in_redis(redis)
    search = await admin.client.get("/api/conversations", params={"q": "Quokkova"})
    assert [c["id"] for c in search.json()["items"]] == [erased.conversation_id]

    response = await admin.post(f"/api/contacts/{contact_id}/erase")

    assert response.status_code == 200, response.text
    counts = response.json()["erased"]
    assert counts["contacts"] == 1 and counts["conversations"] == 1
    assert counts["messages"] >= 4 and counts["mode_changes"] >= 2
    mongo, in_redis = await _everything_in_mongo(app), await _everything_in_redis(redis)
    for name in names:
        assert name not in mongo, f"{name!r} is still in MongoDB"
        assert name not in in_redis, f"{name!r} is still in Redis"
    assert "kb:SwitchboardKB:search:" not in in_redis
    # The other customer keeps everything.
    assert KEPT_TEXT in mongo and kept.conversation_id in mongo
    # Operators' search and lists forget the chat; its history is gone for the widget too.
    search = await admin.client.get("/api/conversations", params={"q": "Quokkova"})
    assert search.json()["items"] == []
    listed = await admin.client.get("/api/conversations")
    assert [c["id"] for c in listed.json()["items"]] == [kept.conversation_id]
    gone = await admin.client.get(f"/api/conversations/{erased.conversation_id}")
    assert gone.status_code == 404
    # The audit log records it, naming the contact only by its keyed hash.
    entry = await AuditEntry.find_one({"action": "contact.erase"})
    assert entry is not None
    assert entry.subject == contact_ref(app.core, contact_id)
    assert entry.actor == f"operator:{admin.operator_id}"
    log = await admin.client.get("/api/audit-log")
    assert log.status_code == 200
    assert "contact.erase" in [item["action"] for item in log.json()["items"]]


async def test_an_erased_visitor_who_comes_back_starts_afresh(
    app: LiveApp, admin: SignedIn
) -> None:
    customer = await customer_writes(app, "Zinaida Quokkova", ERASED_TEXT)
    contact_id = await _contact_id(customer.conversation_id)
    assert (await admin.post(f"/api/contacts/{contact_id}/erase")).status_code == 200

    async with app.client() as client:
        again = await client.post("/api/widget/sessions", json={"token": customer.token})
    if again.status_code == 200:
        async with widget_socket(app, again.json()["token"]) as ws:
            history = await ws.next()
        assert history["type"] == "history"
        assert all(ERASED_TEXT not in m["text"] for m in history["messages"])
    else:
        assert again.status_code in (401, 404), again.text

    async def nothing_left() -> bool:
        return ERASED_TEXT not in await _everything_in_mongo(app)

    await eventually(nothing_left)


async def test_only_admins_export_or_erase_and_writes_need_the_csrf_token(
    app: LiveApp, admin: SignedIn, operator: SignedIn
) -> None:
    customer = await customer_writes(app, "Zinaida Quokkova", ERASED_TEXT)
    contact_id = await _contact_id(customer.conversation_id)

    assert (await operator.client.get(f"/api/contacts/{contact_id}/export")).status_code == 403
    assert (await operator.post(f"/api/contacts/{contact_id}/erase")).status_code == 403
    assert (await operator.client.get("/api/audit-log")).status_code == 403
    no_token = await admin.client.post(f"/api/contacts/{contact_id}/erase")
    assert no_token.status_code == 403
    async with app.client() as anonymous:
        assert (await anonymous.get(f"/api/contacts/{contact_id}/export")).status_code == 401
    for unknown in ("0123456789abcdef01234567", "not-an-id"):
        missing = await admin.post(f"/api/contacts/{unknown}/erase")
        assert missing.status_code == 404 and "no contact" in missing.json()["detail"]
    assert ERASED_TEXT in await _everything_in_mongo(app)
