"""Assignment (issue #25, item 5): presence from open panel sockets, hand-offs given to the
least loaded online operator, "Mine", assigning to someone else, and the customer told when a
person will answer when nobody can now."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.core.documents import Conversation, Message, utcnow
from bot.core.types import Author
from tests.panel.conftest import ADMIN, OPERATOR, SignedIn
from tests.panel.helpers import customer_writes, panel
from tests.support import LiveApp, eventually

pytestmark = pytest.mark.timeout(60)


@contextlib.asynccontextmanager
async def online(app: LiveApp, signed: SignedIn) -> AsyncIterator[None]:
    """The operator has the panel open (its socket keeps them online)."""
    async with panel(app, signed):

        async def present() -> bool:
            listed = (await signed.client.get("/api/operators/presence")).json()["items"]
            return any(o["id"] == signed.operator_id and o["status"] == "online" for o in listed)

        await eventually(present)
        yield


async def assignee_of(conversation_id: str) -> str | None:
    chat = await Conversation.get(conversation_id)
    assert chat is not None
    return str(chat.assignee_id) if chat.assignee_id else None


async def system_texts(conversation_id: str) -> list[str]:
    found = await Message.find(
        {"conversation_id": (await Conversation.get(conversation_id)).id,  # type: ignore[union-attr]
         "author": Author.SYSTEM.value}
    ).sort("+seq").to_list()
    return [m.text for m in found]


async def test_hand_offs_go_to_the_least_loaded_online_operator(
    app: LiveApp, operator: SignedIn, admin: SignedIn
) -> None:
    async with online(app, operator), online(app, admin):
        first = await customer_writes(app, "Ann", "I want to talk to a human")
        await eventually(lambda: _assigned(first.conversation_id))
        second = await customer_writes(app, "Ben", "I want to talk to a human")
        await eventually(lambda: _assigned(second.conversation_id))
        owners = {
            await assignee_of(first.conversation_id),
            await assignee_of(second.conversation_id),
        }
        # One chat each: the second goes to whoever had none.
        assert owners == {operator.operator_id, admin.operator_id}

        mine = (await operator.client.get("/api/conversations?assignee=me")).json()["items"]
        theirs = (await admin.client.get("/api/conversations?assignee=me")).json()["items"]
        assert len(mine) == 1 and len(theirs) == 1 and mine[0]["id"] != theirs[0]["id"]

        # The operator gives theirs to the admin: now the admin has both.
        response = await operator.post(
            f"/api/conversations/{mine[0]['id']}/assign", {"operator_id": admin.operator_id}
        )
        assert response.status_code == 200, response.text
        assert response.json()["assignee_id"] == admin.operator_id
        assert (await operator.client.get("/api/conversations?assignee=me")).json()["items"] == []
        listed = (await admin.client.get("/api/operators/presence")).json()["items"]
        load = {o["email"]: o["open_chats"] for o in listed}
        assert load == {ADMIN[0]: 2, OPERATOR[0]: 0}
    for chat in (first, second):  # nobody was told to wait for an absent team
        told = await system_texts(chat.conversation_id)
        assert not any("not here" in t or "busy" in t for t in told)


async def _assigned(conversation_id: str) -> bool:
    return await assignee_of(conversation_id) is not None


async def test_an_away_operator_gets_no_hand_off_and_the_customer_hears_when(
    app: LiveApp, operator: SignedIn
) -> None:
    async with online(app, operator):
        response = await operator.post("/api/me/presence", {"away": True})
        assert response.json()["status"] == "away"
        chat = await customer_writes(app, "Cleo", "I want to talk to a human")

        async def told() -> bool:
            return any("busy" in t for t in await system_texts(chat.conversation_id))

        await eventually(told)
        assert await assignee_of(chat.conversation_id) is None
        await operator.post("/api/me/presence", {"away": False})


async def test_outside_business_hours_the_customer_is_told_when_a_person_answers(
    app: LiveApp,
) -> None:
    tomorrow = (utcnow() + timedelta(days=1)).strftime("%a")
    settings = app.core.settings
    app.core.settings = settings.model_copy(update={"business_hours": f"{tomorrow} 09:00-17:00"})
    try:
        chat = await customer_writes(app, "Dora", "I want to talk to a human")
        expected = f"from 09:00 on {(utcnow() + timedelta(days=1)).strftime('%A')}"

        async def told() -> bool:
            return any(expected in t for t in await system_texts(chat.conversation_id))

        await eventually(told)
    finally:
        app.core.settings = settings


async def test_assigning_needs_a_waiting_or_taken_chat_and_a_known_operator(
    app: LiveApp, operator: SignedIn
) -> None:
    chat = await customer_writes(app, "Eve", "I want to talk to a human")
    unknown = await operator.post(
        f"/api/conversations/{chat.conversation_id}/assign", {"operator_id": "0" * 24}
    )
    assert unknown.status_code == 404
    await operator.post(f"/api/conversations/{chat.conversation_id}/close")
    closed = await operator.post(
        f"/api/conversations/{chat.conversation_id}/assign", {"operator_id": operator.operator_id}
    )
    assert closed.status_code == 409
    anonymous = await app.client().post(
        f"/api/conversations/{chat.conversation_id}/assign", json={"operator_id": "x"}
    )
    assert anonymous.status_code in (401, 403)
