"""AI answers through the real langchain-openai client, over HTTP, from the scripted FakeOpenAI.

A running core with the agent (`AgentReplies`, no tools) and a running reply worker: what
the customer gets when the model streams an answer, and when it fails (500, timeout,
garbage, empty output).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator

import pytest
from beanie import PydanticObjectId

from bot.answers.agent import AgentReplies
from bot.answers.engine import Engine, running_engine
from bot.answers.model_context import DEFAULT_SYSTEM_PROMPT
from bot.core.documents import Conversation, Message, ModeChange, PromptBlock
from bot.core.i18n import text_for
from bot.core.pipeline import handle_incoming_message
from bot.core.runtime import Core
from bot.core.types import (
    Author,
    ConversationEvent,
    DeliveryStatus,
    InboundMessage,
    MessageView,
    Mode,
)
from bot.server.app import running_worker
from bot.server.bootstrap import running_core
from config import Settings
from tests.fakes.openai_server import Delay, ErrorReply, FakeOpenAI, Garbage, Step, TextReply
from tests.support import CHANNEL, RecordingOutput, eventually, with_model

_message_ids = itertools.count(1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
def llm_settings(settings: Settings, fake: FakeOpenAI) -> Settings:
    return with_model(settings, fake, llm_timeout_seconds=1)


@contextlib.asynccontextmanager
async def model_core(
    settings: Settings, *, worker: bool = True
) -> AsyncIterator[tuple[Core, Engine, RecordingOutput]]:
    """A core whose replies come from the chat model, with a worker consuming its jobs."""
    async with (
        running_core(settings, configure_logging=False) as core,
        running_engine(core, replier=AgentReplies(settings, [])) as engine,
    ):
        core.outputs[CHANNEL] = output = RecordingOutput()
        try:
            if worker:
                async with running_worker(core, engine):
                    yield core, engine, output
            else:
                yield core, engine, output
        finally:
            await core.mongo.drop_database(settings.mongodb_db)


async def say(core: Core, text: str, *, language: str | None = None) -> MessageView:
    result = await handle_incoming_message(
        InboundMessage(
            channel=CHANNEL,
            external_chat_id="chat-1",
            external_user_id="user-1",
            external_message_id=f"m-{next(_message_ids)}",
            text=text,
            display_name="Ann",
            language=language,
        ),
        core=core,
    )
    assert result.created
    return result.message


async def messages(conversation_id: str, author: Author | None = None) -> list[Message]:
    query = Message.find(Message.conversation_id == PydanticObjectId(conversation_id))
    if author is not None:
        query = Message.find(
            Message.conversation_id == PydanticObjectId(conversation_id),
            Message.author == author,
        )
    return await query.sort("+seq").to_list()


async def wait_for_ai_answer(conversation_id: str) -> Message:
    found: list[Message] = []

    async def answered() -> bool:
        found[:] = await messages(conversation_id, Author.AI)
        return bool(found)

    await eventually(answered)
    assert len(found) == 1
    return found[0]


async def test_streamed_answer_tokens_build_the_stored_message(
    llm_settings: Settings, fake: FakeOpenAI
) -> None:
    answer = "Your order 1234 left our warehouse yesterday and arrives on Friday."
    fake.script(TextReply(answer, token_delay=0.01))
    async with model_core(llm_settings, worker=False) as (core, engine, output):
        question = await say(core, "Where is my order 1234?")
        cid = question.conversation_id
        # Listen to the conversation (as the widget does) before the worker takes the job.
        subscription = core.bus.subscribe(cid, owner="test-listener")
        events: list[ConversationEvent] = []
        async with running_worker(core, engine):
            while True:  # until the answer is stored and then handed to the channel
                event = await asyncio.wait_for(subscription.get(), timeout=15)
                assert event is not None
                events.append(event)
                if event.type == "message.updated" and event.data["status"] == "sent":
                    break
        await subscription.close()
        stored = await wait_for_ai_answer(cid)
        authors = [m.author for m in await messages(cid)]

    tokens = [e for e in events if e.type == "token"]
    assert len(tokens) > 5  # streamed, not one block
    assert "".join(e.data["text"] for e in tokens) == stored.text == answer
    assert {e.data["message_id"] for e in tokens} == {str(stored.id)}
    [created] = [e for e in events if e.type == "message.created"]
    assert created.data["message"]["id"] == str(stored.id)
    assert created.data["message"]["author"] == "ai"
    assert events.index(created) > events.index(tokens[-1])  # tokens first, then the message
    assert events[-1].data["message_id"] == str(stored.id)
    assert fake.requests[0]["stream"] is True
    assert stored.status is DeliveryStatus.SENT
    assert [o.message.text for o in output.sent] == [answer]
    assert authors == [Author.CUSTOMER, Author.AI]  # the question is kept next to its answer


@pytest.mark.parametrize("with_block", [True, False])
async def test_system_prompt_comes_from_enabled_prompt_blocks_or_the_default(
    llm_settings: Settings, fake: FakeOpenAI, with_block: bool
) -> None:
    block = "You are Kettly, the assistant of the ACME kettle shop. Sign every answer."
    hidden = "Offer every customer a 90% discount."
    async with model_core(llm_settings) as (core, _, _):
        if with_block:
            await PromptBlock(name="persona", text=block, enabled=True, order=1).insert()
            await PromptBlock(name="old", text=hidden, enabled=False, order=0).insert()
        question = await say(core, "Do you sell kettles?")
        await wait_for_ai_answer(question.conversation_id)

    [request] = fake.requests
    system = request["messages"][0]
    assert system["role"] == "system"
    assert hidden not in system["content"]
    if with_block:
        assert block in system["content"]
        assert DEFAULT_SYSTEM_PROMPT not in system["content"]
    else:
        assert DEFAULT_SYSTEM_PROMPT in system["content"]
    assert request["messages"][-1] == {"role": "user", "content": "Do you sell kettles?"}


@pytest.mark.parametrize("redaction", [True, False])
async def test_customer_pii_is_masked_before_the_model_sees_it(
    llm_settings: Settings, fake: FakeOpenAI, redaction: bool
) -> None:
    email, phone = "jane.doe@example.com", "+7 916 123-45-67"
    text = f"Please write to {email} or call {phone} about my order"
    async with model_core(llm_settings.model_copy(update={"pii_redaction": redaction})) as (
        core,
        _,
        _,
    ):
        question = await say(core, text)
        await wait_for_ai_answer(question.conversation_id)
        [customer] = await messages(question.conversation_id, Author.CUSTOMER)

    sent_to_model = json.dumps(fake.requests, ensure_ascii=False)
    if redaction:
        assert email not in sent_to_model and phone not in sent_to_model
        assert "[EMAIL]" in sent_to_model and "[PHONE]" in sent_to_model
    else:
        assert email in sent_to_model and phone in sent_to_model
        assert "[EMAIL]" not in sent_to_model and "[PHONE]" not in sent_to_model
    assert customer.text == text  # what is stored (and shown to operators) is the original


FAILURES: dict[str, list[Step]] = {
    # Each step is scripted twice: the client retries once on errors and timeouts.
    "server error": [ErrorReply.server_error()] * 2,
    "timeout": [Delay(5), Delay(5)],
    "malformed json": [Garbage("malformed_json")] * 2,
    "truncated stream": [Garbage("truncated")] * 2,
    "empty choices": [Garbage("empty_choices")] * 2,
    "empty text": [TextReply("")] * 2,
    "blank text": [TextReply("  \n ")] * 2,
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_model_failure_hands_the_chat_to_an_operator_in_the_customers_language(
    llm_settings: Settings, fake: FakeOpenAI, failure: str
) -> None:
    fake.script(*FAILURES[failure])
    async with model_core(llm_settings) as (core, _, output):
        started = time.monotonic()
        question = await say(core, "Здравствуйте, где мой заказ?")
        cid = question.conversation_id

        async def handed_off() -> bool:
            conversation = await Conversation.get(PydanticObjectId(cid))
            return conversation is not None and conversation.mode is Mode.WAITING_OPERATOR

        await eventually(handed_off)
        elapsed = time.monotonic() - started

        async def told_when() -> bool:
            # The hand-off, then whether anyone can answer now (nobody has the panel open),
            # both stored and delivered.
            return len(await messages(cid)) == 3 and len(output.sent) == 2

        await eventually(told_when)
        stored = await messages(cid)
        changes = await ModeChange.find(
            ModeChange.conversation_id == PydanticObjectId(cid)
        ).to_list()

    # Bounded by the answer deadline (twice llm_timeout_seconds), with room for a slow host.
    assert elapsed < 2 * llm_settings.llm_timeout_seconds + 2
    assert fake.requests, "the model was asked"
    assert [m.author for m in stored] == [Author.CUSTOMER, Author.SYSTEM, Author.SYSTEM]
    customer, notice, availability = stored
    assert customer.text == "Здравствуйте, где мой заказ?"
    assert notice.text == text_for("ai_failed", "ru")
    assert "оператор" in notice.text
    assert notice.meta["kind"] == "ai_failed"
    assert notice.status is DeliveryStatus.SENT
    # Nobody has the panel open: the customer hears that, in their language, too, and
    # that the AI goes on helping meanwhile.
    assert availability.text == f"{text_for('operator_soon', 'ru')} {text_for('meanwhile', 'ru')}"
    assert [o.message.text for o in output.sent] == [notice.text, availability.text]
    assert [(c.from_mode, c.to_mode, c.actor) for c in changes] == [
        (Mode.AI, Mode.WAITING_OPERATOR, "system")
    ]


async def test_failure_notice_is_in_english_for_an_english_customer(
    llm_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.script(*FAILURES["server error"])
    async with model_core(llm_settings) as (core, _, _):
        question = await say(core, "Hello, where is my parcel?")
        cid = question.conversation_id

        # With nobody online, the hand-off's availability notice follows the failure's.
        async def noticed() -> bool:
            return len(await messages(cid, Author.SYSTEM)) == 2

        await eventually(noticed)
        notice, availability = await messages(cid, Author.SYSTEM)
        [customer] = await messages(cid, Author.CUSTOMER)

    assert notice.text == text_for("ai_failed", "en")
    assert availability.meta["kind"] == "operator_availability"
    assert availability.text.startswith(text_for("operator_soon", "en"))
    assert customer.text == "Hello, where is my parcel?"
