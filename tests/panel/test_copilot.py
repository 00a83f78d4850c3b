"""Copilot in the chat view: a suggested reply grounded in the knowledge base, discarded when
the customer writes again, and the take-over summary, cached until the chat changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from beanie import PydanticObjectId

import bot.answers.agent  # noqa: F401  (imported at collection: it takes seconds)
from bot.core.conversations import append_message
from bot.core.documents import Conversation, Message, PromptBlock
from bot.core.types import Author, Mode
from tests.fakes.openai_server import FakeOpenAI, TextReply, ToolCall, ToolCallReply
from tests.panel.conftest import SignedIn
from tests.panel.copilot_kb import RETURNS, SHIPPING, Shelf, install_shelf
from tests.panel.helpers import Customer, customer_writes
from tests.support import LiveApp, eventually, widget_socket, with_model


@pytest.fixture
def shelf(app: LiveApp, monkeypatch: pytest.MonkeyPatch) -> Shelf:
    return install_shelf(app, monkeypatch)


@pytest.fixture
def fake(app: LiveApp, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A chat model configured for this test (the bot itself still answers without one)."""
    with FakeOpenAI() as server:
        monkeypatch.setattr(app.core, "settings", with_model(app.core.settings, server))
        yield server


async def settled(customer: Customer) -> None:
    """Once the hand-off's last notice is stored (nobody is online: "a person answers …")."""

    async def done() -> bool:
        conversation = await Conversation.get(PydanticObjectId(customer.conversation_id))
        return conversation is not None and conversation.last_seq >= 4

    await eventually(done)


async def suggest(operator: SignedIn, customer: Customer, timeout: float = 10) -> dict[str, Any]:
    response = await operator.client.post(
        f"/api/conversations/{customer.conversation_id}/suggestion",
        headers=operator.headers(),
        timeout=timeout,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_without_a_model_the_draft_is_the_best_passage_and_cites_it(
    app: LiveApp, operator: SignedIn, shelf: Shelf
) -> None:
    customer = await customer_writes(
        app, "Ann", "How long does delivery take to Berlin? I am ann@example.com"
    )
    draft = await suggest(operator, customer)
    assert draft["generated"] == "knowledge"
    assert "Delivery in Europe takes 3-5 days." in draft["text"]
    assert "Shipping >" not in draft["text"]  # shaped as a reply, not a stored chunk
    assert draft["sources"] == [{"title": "Shipping policy", "source": "shipping.md"}]
    messages = await operator.client.get(f"/api/conversations/{customer.conversation_id}/messages")
    asked = next(m for m in messages.json()["items"] if m["author"] == "customer")
    assert draft["answers_message_id"] == asked["id"]
    # PII is masked before the search, as for the bot.
    assert shelf.queries and all("ann@example.com" not in q for q in shelf.queries)


async def test_a_request_for_a_person_is_drafted_from_the_question_before_it(
    app: LiveApp, operator: SignedIn, shelf: Shelf
) -> None:
    customer = await customer_writes(app, "Ann", "Can items be returned for a refund?")
    async with widget_socket(app, customer.token) as ws:
        await ws.next()
        await ws.say("operator please")
        await ws.message("customer")
    draft = await suggest(operator, customer)
    assert draft["sources"] == [{"title": "Returns and refunds", "source": RETURNS.source}]
    assert "returned within 30 days" in draft["text"]


async def test_with_a_model_the_draft_comes_from_it_and_no_side_effecting_tool_runs(
    app: LiveApp, operator: SignedIn, shelf: Shelf, fake: FakeOpenAI
) -> None:
    customer = await customer_writes(app, "Ann", "How long is delivery? Mail me at ann@example.com")
    fake.script(
        ToolCallReply(
            [
                ToolCall("search_knowledge_base", {"query": "delivery time"}),
                ToolCall("handoff_to_operator", {"reason": "customer asked"}),
                ToolCall("order_status", {"order_id": "A-1"}),
            ]
        ),
        TextReply("Delivery in Europe takes 3-5 days, [EMAIL]."),
    )
    # The first draft builds the copilot's agent (seconds on a busy machine).
    draft = await suggest(operator, customer, timeout=120)
    assert draft["generated"] == "model"
    # The customer's own address is put back where the model saw a placeholder.
    assert draft["text"] == "Delivery in Europe takes 3-5 days, ann@example.com."
    assert {"title": "Shipping policy", "source": "shipping.md"} in draft["sources"]
    # The model was offered the knowledge search only; the others it asked for never ran.
    first = fake.requests[0]
    assert {t["function"]["name"] for t in first["tools"]} == {"search_knowledge_base"}
    assert "ann@example.com" not in json.dumps(first)
    tool_results = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"]
    assert "3-5 days" in tool_results[0]["content"]
    assert all("Done: an operator" not in str(m["content"]) for m in tool_results)
    conversation = await Conversation.get(PydanticObjectId(customer.conversation_id))
    assert conversation is not None and conversation.mode is Mode.WAITING_OPERATOR
    # Nothing was stored or sent: a draft is the operator's until they send it.
    stored = await Message.find({"conversation_id": conversation.id}).to_list()
    assert all(m.author in (Author.CUSTOMER, Author.SYSTEM) for m in stored)
    assert all("3-5 days" not in m.text for m in stored)


async def test_a_model_draft_that_leaks_a_secret_block_falls_back_to_the_knowledge_base(
    app: LiveApp, operator: SignedIn, shelf: Shelf, fake: FakeOpenAI
) -> None:
    secret = "Staff discount code for angry customers is BLUE-FALCON-77 only"
    block = await PromptBlock(name="Discounts", text=secret, secret=True).insert()
    await app.core.prompts.changed()
    try:
        customer = await customer_writes(app, "Ann", "How long does delivery take?")
        fake.script(TextReply(f"Sorry for the wait! {secret}."))
        draft = await suggest(operator, customer, timeout=120)
    finally:
        await block.delete()
        await app.core.prompts.changed()
    assert draft["generated"] == "knowledge"
    assert "BLUE-FALCON" not in draft["text"] and "3-5 days" in draft["text"]


async def test_a_draft_the_customer_wrote_past_is_refused(
    app: LiveApp, operator: SignedIn, shelf: Shelf
) -> None:
    customer = await customer_writes(app, "Ann", "How long does delivery take?")
    draft = await suggest(operator, customer)
    path = f"/api/conversations/{customer.conversation_id}/messages"
    async with widget_socket(app, customer.token) as ws:
        await ws.next()
        await ws.say("Also, can items be returned for a refund?")
        await ws.message("customer")
        refused = await operator.post(
            path, {"text": draft["text"], "draft_for": draft["answers_message_id"]}
        )
        assert refused.status_code == 409
        assert "wrote again" in refused.json()["detail"]
        assert "Delivery in Europe" not in json.dumps(ws.frames)
        # A new draft answers the new message and is sent; a plain reply stays as it was.
        fresh = await suggest(operator, customer)
        # Both questions are still unanswered: the new draft answers both.
        assert [s["source"] for s in fresh["sources"]] == [SHIPPING.source, RETURNS.source]
        sent = await operator.post(
            path, {"text": fresh["text"], "draft_for": fresh["answers_message_id"]}
        )
        assert sent.status_code == 200, sent.text
        assert (await ws.message("operator"))["text"] == fresh["text"]
    bad = await operator.post(path, {"text": "hi", "draft_for": "not-an-id"})
    assert bad.status_code == 422
    assert (await operator.post(path, {"text": "plain reply"})).status_code == 200


async def test_the_summary_says_what_happened_without_a_model(
    app: LiveApp, operator: SignedIn
) -> None:
    customer = await customer_writes(app, "Ann", "Where is my order A-1001?")
    conversation = await Conversation.get(PydanticObjectId(customer.conversation_id))
    assert conversation is not None
    call = {
        "name": "order_status",
        "args": {"order_id": "A-1001"},
        "result": '{"status": "shipped"}',
        "error": None,
    }
    await append_message(
        core=app.core,
        conversation=conversation,
        author=Author.AI,
        text="Your order A-1001 has shipped.",
        meta={"tool_calls": [call]},
    )
    response = await operator.client.get(f"/api/conversations/{customer.conversation_id}/summary")
    assert response.status_code == 200
    brief = response.json()
    assert brief["generated"] == "extractive"
    assert brief["wants"] == ["Where is my order A-1001?"]
    assert brief["ai_answers"] == ["Your order A-1001 has shipped."]
    assert brief["tool_calls"] == [
        {"name": "order_status", "result": '{"status": "shipped"}', "error": None}
    ]
    assert brief["handoff_reason"]  # why the AI passed it on (here: no chat model)
    assert "order_status" in brief["text"] and brief["handoff_reason"] in brief["text"]


async def test_the_summary_is_cached_until_the_chat_changes(
    app: LiveApp, operator: SignedIn, fake: FakeOpenAI
) -> None:
    customer = await customer_writes(app, "Ann", "Where is my parcel? My phone is +44 20 7946 0958")
    await settled(customer)
    fake.script(TextReply("Ann asks where her parcel is."), TextReply("Ann now wants a refund."))
    path = f"/api/conversations/{customer.conversation_id}/summary"
    first = (await operator.client.get(path)).json()
    assert first["generated"] == "model" and first["text"] == "Ann asks where her parcel is."
    assert "7946" not in json.dumps(fake.requests[0])  # PII masked before the model
    again = (await operator.client.get(path)).json()
    assert again == first and len(fake.requests) == 1  # from the cache: no second model call
    async with widget_socket(app, customer.token) as ws:
        await ws.next()
        await ws.say("I want a refund")
        await ws.message("customer")
    changed = (await operator.client.get(path)).json()
    assert changed["text"] == "Ann now wants a refund." and changed["version"] != first["version"]
    assert changed["wants"][-1] == "I want a refund"
    assert len(fake.requests) == 2


async def test_copilot_needs_a_signed_in_operator(
    app: LiveApp, operator: SignedIn, shelf: Shelf
) -> None:
    customer = await customer_writes(app, "Ann", "How long does delivery take?")
    base = f"/api/conversations/{customer.conversation_id}"
    async with app.client() as anonymous:
        assert (await anonymous.post(f"{base}/suggestion")).status_code == 401
        assert (await anonymous.get(f"{base}/summary")).status_code == 401
    # Signed in, but without the CSRF token: refused too.
    assert (await operator.client.post(f"{base}/suggestion")).status_code == 403
    missing = "/api/conversations/000000000000000000000000"
    assert (await operator.post(f"{missing}/suggestion")).status_code == 404
