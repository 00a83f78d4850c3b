"""The agent end to end: the real langchain-openai client and create_agent over HTTP to the
scripted fake OpenAI server, inside the real app, seen from a widget."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from beanie import PydanticObjectId
from langchain.tools import ToolRuntime, tool

from bot.answers.agent import AgentReplies
from bot.answers.agent_context import AgentContext
from bot.answers.knowledge import KnowledgeHit
from bot.answers.tools import builtin_tools
from bot.core.documents import Conversation, Message, ModeChange
from bot.core.types import Author, Mode
from config import Settings
from tests.fakes.openai_server import (
    FakeOpenAI,
    TextReply,
    ToolCall,
    ToolCallReply,
)
from tests.support import (
    LiveApp,
    eventually,
    live_app,
    new_session,
    widget_socket,
    with_model,
)

SHIPPING = KnowledgeHit(
    text="Orders ship within 2 business days. Delivery in Europe takes 3-5 days.",
    title="Shipping policy",
    source="shipping.md",
    score=0.91,
    language="en",
)


class Shelf:
    """A small real knowledge base: passages whose words overlap the query."""

    def __init__(self, *hits: KnowledgeHit, broken: bool = False) -> None:
        self.hits = list(hits)
        self.broken = broken
        self.queries: list[str] = []

    async def search(
        self, query: str, *, k: int = 5, language: str | None = None
    ) -> list[KnowledgeHit]:
        self.queries.append(query)
        if self.broken:
            raise ConnectionError("vector store is down")
        words = {w.lower().strip("?.,!") for w in query.split()}
        return [h for h in self.hits if words & set(h.text.lower().replace(".", "").split())][:k]


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def llm_settings(settings: Settings, fake: FakeOpenAI) -> Settings:
    return with_model(settings, fake, llm_timeout_seconds=2.0, agent_max_model_calls=3)


@pytest.fixture
def shelf() -> Shelf:
    return Shelf(SHIPPING)


@pytest.fixture
async def app(llm_settings: Settings, shelf: Shelf) -> AsyncIterator[LiveApp]:
    replier = AgentReplies(llm_settings, builtin_tools(shelf, pii_redaction=True))
    async with live_app(llm_settings, replier=replier) as running:
        yield running


async def ask(app: LiveApp, text: str) -> tuple[dict[str, Any], str]:
    """Send one widget message; return the first answer (AI or system) and the chat id."""
    session = await new_session(app, name="Ann", language="en")
    async with widget_socket(app, session["token"]) as ws:
        await ws.next()
        await ws.say(text)
        frame = await ws.until(
            lambda f: f["type"] == "message" and f["message"]["author"] in ("ai", "system")
        )
        return frame["message"], session["conversation_id"]


async def test_answer_cites_the_knowledge_the_tool_returned(
    app: LiveApp, fake: FakeOpenAI, shelf: Shelf
) -> None:
    fake.script(
        ToolCallReply(
            [ToolCall("search_knowledge_base", {"query": "how long does delivery take"})]
        ),
        lambda body: TextReply(
            "Delivery in Europe takes 3-5 days [shipping.md]."
            if "3-5 days" in tool_messages(body)[-1]["content"]
            else "I do not know."
        ),
    )
    answer, _ = await ask(app, "How long does delivery take?")
    assert answer["text"] == "Delivery in Europe takes 3-5 days [shipping.md]."
    assert answer["sources"] == [{"title": "Shipping policy", "source": "shipping.md"}]
    stored = await Message.get(PydanticObjectId(answer["id"]))
    assert stored is not None
    (call,) = stored.meta["tool_calls"]
    assert call["name"] == "search_knowledge_base"
    assert "3-5 days" in call["result"] and call["error"] is None
    # The model was given the tool's definition and the customer's words.
    first = fake.requests[0]
    assert {t["function"]["name"] for t in first["tools"]} == {
        "search_knowledge_base",
        "handoff_to_operator",
    }
    assert any("delivery" in str(m.get("content", "")) for m in first["messages"])


async def test_parallel_tool_calls_then_hand_off(app: LiveApp, fake: FakeOpenAI) -> None:
    fake.script(
        ToolCallReply(
            [
                ToolCall("search_knowledge_base", {"query": "refund for damaged parcel"}),
                ToolCall("handoff_to_operator", {"reason": "damaged parcel, wants a refund"}),
            ]
        ),
        TextReply("I'm sorry about the parcel. An operator will continue here."),
    )
    answer, conversation_id = await ask(app, "My parcel arrived damaged, I want my money back")
    assert answer["author"] == "ai"
    assert len(tool_messages(fake.requests[1])) == 2
    conversation_oid = PydanticObjectId(conversation_id)

    async def handed_off() -> bool:
        conversation = await Conversation.get(conversation_oid)
        return conversation is not None and conversation.mode is Mode.WAITING_OPERATOR

    await eventually(handed_off)
    change = await ModeChange.find_one(ModeChange.conversation_id == conversation_oid)
    assert change is not None and change.actor == "ai"
    assert change.reason == "damaged parcel, wants a refund"


async def test_a_failing_tool_is_explained_not_crashed(
    app: LiveApp, fake: FakeOpenAI, shelf: Shelf
) -> None:
    shelf.broken = True
    fake.script(
        ToolCallReply([ToolCall("search_knowledge_base", {"query": "delivery"})]),
        lambda body: TextReply(
            "I can't check that right now, sorry."
            if "failed" in tool_messages(body)[-1]["content"]
            else "unexpected"
        ),
    )
    answer, _ = await ask(app, "delivery times?")
    assert answer["author"] == "ai"
    assert answer["text"] == "I can't check that right now, sorry."
    stored = await Message.get(PydanticObjectId(answer["id"]))
    assert stored is not None
    assert "ConnectionError" in stored.meta["tool_calls"][0]["error"]


async def test_a_tool_loop_ends_in_the_fallback(app: LiveApp, fake: FakeOpenAI) -> None:
    looping = ToolCallReply([ToolCall("search_knowledge_base", {"query": "again"})])
    fake.script(*([looping] * 6))
    answer, conversation_id = await ask(app, "tell me everything")
    assert answer["author"] == "system"
    assert "operator" in answer["text"]
    assert len(fake.requests) == 3  # AGENT_MAX_MODEL_CALLS
    conversation_oid = PydanticObjectId(conversation_id)

    async def handed_off() -> bool:
        conversation = await Conversation.get(conversation_oid)
        return conversation is not None and conversation.mode is Mode.WAITING_OPERATOR

    await eventually(handed_off)
    ai_messages = Message.find(
        Message.conversation_id == conversation_oid, Message.author == Author.AI
    )
    assert await ai_messages.count() == 0


async def test_the_customer_identity_reaches_tools_from_the_run_not_the_model(
    llm_settings: Settings, fake: FakeOpenAI
) -> None:
    seen: list[str] = []

    @tool
    async def whoami(customer_id: str, runtime: ToolRuntime[AgentContext]) -> str:
        """Look up the current customer."""
        seen.append(runtime.context.external_user_id)
        return json.dumps({"customer": runtime.context.external_user_id})

    fake.script(
        ToolCallReply([ToolCall("whoami", {"customer_id": "somebody-else"})]),
        TextReply("Done."),
    )
    replier = AgentReplies(llm_settings, [whoami])
    async with live_app(llm_settings, replier=replier) as running:
        await ask(running, "who am I?")
    assert len(seen) == 1 and seen[0] != "somebody-else"
    # The tool schema the model saw has no runtime argument.
    params = fake.requests[0]["tools"][0]["function"]["parameters"]["properties"]
    assert set(params) == {"customer_id"}


async def test_tool_calls_past_the_limit_are_refused_with_a_message(
    llm_settings: Settings, fake: FakeOpenAI, shelf: Shelf
) -> None:
    limited = llm_settings.model_copy(update={"agent_max_tool_calls": 1})
    fake.script(
        ToolCallReply(
            [
                ToolCall("search_knowledge_base", {"query": "delivery"}),
                ToolCall("search_knowledge_base", {"query": "shipping"}),
            ]
        ),
        TextReply("Delivery takes 3-5 days."),
    )
    replier = AgentReplies(limited, builtin_tools(shelf, pii_redaction=True))
    async with live_app(limited, replier=replier) as running:
        answer, _ = await ask(running, "delivery?")
    assert answer["text"] == "Delivery takes 3-5 days."
    assert shelf.queries == ["delivery"]  # the second search never ran
    results = tool_messages(fake.requests[1])
    assert len(results) == 2
    assert any("limit" in str(m["content"]).lower() for m in results)
