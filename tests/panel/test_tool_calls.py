"""Operators see what the AI did: its tool calls, and which notices were fallbacks."""

from __future__ import annotations

import asyncio

from beanie import PydanticObjectId

from bot.core.conversations import append_message
from bot.core.documents import Conversation
from bot.core.events import ALL_CONVERSATIONS
from bot.core.pipeline import handle_incoming_message
from bot.core.types import Author, InboundMessage
from tests.panel.conftest import SignedIn
from tests.panel.helpers import customer_writes
from tests.support import LiveApp

CALL = {
    "name": "order_status",
    "args": {"order_id": "A-1001"},
    "result": '{"status": "shipped"}',
    "error": None,
    "duration_ms": 12.5,
}


async def test_tool_calls_and_fallbacks_are_shown_to_operators_only(
    app: LiveApp, operator: SignedIn
) -> None:
    customer = await customer_writes(app, "Ann", "where is my order A-1001?")
    conversation = await Conversation.get(PydanticObjectId(customer.conversation_id))
    assert conversation is not None
    events = app.core.bus.subscribe(ALL_CONVERSATIONS, owner="test-tool-calls")
    try:
        await append_message(
            core=app.core,
            conversation=conversation,
            author=Author.AI,
            text="Your order has shipped.",
            meta={"tool_calls": [CALL]},
        )
        event = await asyncio.wait_for(events.get(), 5)
        while event is not None and event.type != "message.created":
            event = await asyncio.wait_for(events.get(), 5)
        assert event is not None
        # The customer's view of the message carries no tool calls; the panel's does.
        assert "tool_calls" not in event.data["message"]
        assert event.data["details"]["tool_calls"] == [CALL]
    finally:
        await events.close()

    response = await operator.client.get(f"/api/conversations/{customer.conversation_id}/messages")
    items = response.json()["items"]
    answer = next(m for m in items if m["author"] == "ai")
    assert answer["tool_calls"] == [CALL]
    notice = next(m for m in items if m["author"] == "system")
    assert notice["kind"] is not None  # the hand-off notice says why it was sent


async def test_a_customer_text_over_the_channels_limit_is_kept_whole_and_flagged(
    app: LiveApp, operator: SignedIn
) -> None:
    text = "my order is late " * 400  # 6,800 characters, over Telegram's 4,096
    result = await handle_incoming_message(
        InboundMessage(
            channel="telegram",
            external_chat_id="long-1",
            external_user_id="long-1",
            external_message_id="long-1:1",
            text=text,
        ),
        core=app.core,
    )
    response = await operator.client.get(
        f"/api/conversations/{result.message.conversation_id}/messages"
    )
    [stored] = [m for m in response.json()["items"] if m["author"] == "customer"]
    assert stored["text"] == text
    assert stored["truncated"] == {"length": len(text), "limit": 4096}
