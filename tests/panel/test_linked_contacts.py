"""One customer across channels (issue #24, item 5): an operator links a person's widget and
Telegram contacts, sees one history with the channel of each message, replies go where the
customer wrote last, and the link can be undone (identities are never merged)."""

from __future__ import annotations

import pytest

from bot.core.documents import Contact, Conversation
from bot.core.pipeline import handle_incoming_message
from bot.core.types import InboundMessage
from tests.panel.conftest import SignedIn
from tests.panel.helpers import Customer, customer_writes
from tests.support import LiveApp, widget_socket

pytestmark = pytest.mark.timeout(60)


async def contact_of(customer: Customer) -> str:
    chat = await Conversation.get(customer.conversation_id)
    assert chat is not None
    return str(chat.contact_id)


async def telegram_writes(app: LiveApp, user: str, text: str, n: int) -> str:
    """A Telegram customer writes; returns their contact id."""
    result = await handle_incoming_message(
        InboundMessage(
            channel="telegram",
            external_chat_id=user,
            external_user_id=user,
            external_message_id=f"{user}:{n}",
            text=text,
            display_name="Anna K",
        ),
        core=app.core,
    )
    chat = await Conversation.get(result.message.conversation_id)
    assert chat is not None
    return str(chat.contact_id)


async def test_linked_contacts_show_one_history_and_replies_go_where_the_customer_wrote_last(
    app: LiveApp, operator: SignedIn
) -> None:
    web = await customer_writes(app, "Anna", "Where is my order 1234?")
    web_contact = await contact_of(web)
    tg_contact = await telegram_writes(app, "tg-anna", "It is me again, from Telegram", 1)

    found = (await operator.client.get("/api/contacts", params={"q": "anna k"})).json()
    assert [c["id"] for c in found["items"]] == [tg_contact]

    linked = await operator.post(f"/api/contacts/{web_contact}/link", {"contact_id": tg_contact})
    assert linked.status_code == 200, linked.text
    person = linked.json()
    assert {c["channel"] for c in person["contacts"]} == {"web", "telegram"}
    assert all(c["linked"] for c in person["contacts"])
    assert person["reply_to"]["channel"] == "telegram"  # written last

    history = (await operator.client.get(f"/api/contacts/{tg_contact}/history")).json()
    customer_lines = [
        (m["channel"], m["text"]) for m in history["items"] if m["author"] == "customer"
    ]
    assert customer_lines == [
        ("web", "Where is my order 1234?"),
        ("telegram", "It is me again, from Telegram"),
    ]
    # Identities are kept: two contacts, each on its channel.
    assert await Contact.find({"person_id": {"$ne": None}}).count() == 2

    # The customer writes on the widget again: a reply now goes there, and reaches them.
    async with widget_socket(app, web.token) as ws:
        await ws.next()
        await ws.say("Still waiting for it")
        await ws.message("customer")
        target = (await operator.client.get(f"/api/contacts/{tg_contact}/person")).json()
        assert target["reply_to"] == {"conversation_id": web.conversation_id, "channel": "web"}
        sent = await operator.post(
            f"/api/conversations/{target['reply_to']['conversation_id']}/messages",
            {"text": "It ships today, Anna."},
        )
        assert sent.status_code == 200, sent.text
        assert (await ws.message("operator"))["text"] == "It ships today, Anna."

    undone = await operator.post(f"/api/contacts/{tg_contact}/unlink")
    assert [(c["id"], c["linked"]) for c in undone.json()["contacts"]] == [(tg_contact, False)]
    alone = (await operator.client.get(f"/api/contacts/{web_contact}/person")).json()
    assert [(c["id"], c["linked"]) for c in alone["contacts"]] == [(web_contact, False)]
    history = (await operator.client.get(f"/api/contacts/{web_contact}/history")).json()
    assert {m["channel"] for m in history["items"]} == {"web"}


async def test_links_that_make_no_sense_are_refused_with_a_reason(
    app: LiveApp, operator: SignedIn
) -> None:
    first = await contact_of(await customer_writes(app, "Bo", "I want to talk to a human"))
    second = await contact_of(await customer_writes(app, "Bo", "I want to talk to a human"))
    tg = await telegram_writes(app, "tg-bo", "hello", 1)

    itself = await operator.post(f"/api/contacts/{first}/link", {"contact_id": first})
    assert itself.status_code == 409 and "itself" in itself.json()["detail"]
    assert (await operator.post(f"/api/contacts/{first}/link", {"contact_id": tg})).is_success
    # A second widget contact would give the person two homes on one channel.
    twice = await operator.post(f"/api/contacts/{second}/link", {"contact_id": tg})
    assert twice.status_code == 409 and "one contact per channel" in twice.json()["detail"]
    unknown = await operator.post(f"/api/contacts/{first}/link", {"contact_id": "0" * 24})
    assert unknown.status_code == 404
    assert (await operator.client.get("/api/contacts/not-an-id/person")).status_code == 404
    # Regex characters are searched for as text.
    assert (await operator.client.get("/api/contacts", params={"q": ".*"})).json()["items"] == []

    anonymous = await app.client().get(f"/api/contacts/{first}/person")
    assert anonymous.status_code == 401
    no_csrf = await operator.client.post(f"/api/contacts/{first}/unlink")
    assert no_csrf.status_code == 403


async def test_erasing_one_of_two_linked_contacts_leaves_the_other_unlinked(
    app: LiveApp, operator: SignedIn, admin: SignedIn
) -> None:
    web = await contact_of(await customer_writes(app, "Cy", "I want to talk to a human"))
    tg = await telegram_writes(app, "tg-cy", "hello", 1)
    assert (await operator.post(f"/api/contacts/{web}/link", {"contact_id": tg})).is_success
    erased = await admin.post(f"/api/contacts/{tg}/erase")
    assert erased.status_code == 200, erased.text
    left = (await operator.client.get(f"/api/contacts/{web}/person")).json()
    assert [(c["id"], c["linked"]) for c in left["contacts"]] == [(web, False)]
