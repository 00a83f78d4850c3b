"""The first answer starts at once; a burst that grows mid-answer gets one answer for all of it.

Through the real agent (langchain-openai over HTTP) and the scripted FakeOpenAI, whose first
answer streams slowly: the customer writes again while it streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from beanie import PydanticObjectId

from bot.answers.agent import AgentReplies
from bot.answers.engine import Engine, running_engine
from bot.answers.model_context import ModelContext
from bot.answers.replies import Reply, TokenSink
from bot.answers.worker import ReplyWorker
from bot.core.documents import Message
from bot.core.events import LocalSubscription
from bot.core.pipeline import handle_incoming_message
from bot.core.runtime import Core
from bot.core.types import Author, ConversationEvent, InboundMessage, MessageView
from bot.server.app import running_worker
from bot.server.bootstrap import running_core
from config import Settings
from tests.fakes.openai_server import FakeOpenAI, TextReply
from tests.support import CHANNEL, RecordingOutput, eventually, with_model

_ids = itertools.count(1)
SLOW = (
    "Thank you for writing to us today, I am looking at your order history right now and "
    "I can already see the kettle you ordered last week, let me check the parcel for you"
)
FINAL = "Order 1234 with the blue kettle left our warehouse yesterday and arrives on Friday."


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@contextlib.asynccontextmanager
async def model_core(settings: Settings) -> AsyncIterator[tuple[Core, Engine, RecordingOutput]]:
    async with (
        running_core(settings, configure_logging=False) as core,
        running_engine(core, replier=AgentReplies(settings, [])) as engine,
    ):
        core.outputs[CHANNEL] = output = RecordingOutput()
        try:
            yield core, engine, output
        finally:
            await core.mongo.drop_database(settings.mongodb_db)


async def say(core: Core, text: str) -> MessageView:
    result = await handle_incoming_message(
        InboundMessage(
            channel=CHANNEL,
            external_chat_id="chat-1",
            external_user_id="user-1",
            external_message_id=f"burst-{next(_ids)}",
            text=text,
            display_name="Ann",
            language="en",
        ),
        core=core,
    )
    assert result.created
    return result.message


async def next_event(sub: LocalSubscription, events: list[ConversationEvent]) -> ConversationEvent:
    event = await asyncio.wait_for(sub.get(), timeout=20)
    assert event is not None
    events.append(event)
    return event


async def test_a_burst_sent_mid_answer_gets_one_answer_and_no_partial_one(
    settings: Settings, fake: FakeOpenAI
) -> None:
    # The first answer streams a word every 50 ms; the second is the one for the burst.
    fake.script(TextReply(SLOW, token_delay=0.05), TextReply(FINAL))
    llm = with_model(settings, fake, llm_timeout_seconds=30)
    async with model_core(llm) as (core, engine, output):
        first = await say(core, "Hi, where is my kettle?")
        cid = first.conversation_id
        sub = core.bus.subscribe(cid, owner="test-widget")  # what a widget socket hears
        events: list[ConversationEvent] = []
        async with running_worker(core, engine):
            while (await next_event(sub, events)).type != "token":
                pass  # the first answer is streaming to the widget
            second = await say(core, "It is order 1234, a blue kettle")
            while True:
                event = await next_event(sub, events)
                if event.type == "message.updated" and event.data.get("status") == "sent":
                    break
        await sub.close()
        stored = await Message.find(
            Message.conversation_id == PydanticObjectId(cid), Message.author == Author.AI
        ).to_list()

    [answer] = stored  # nothing of the dropped answer was stored
    assert answer.text == FINAL
    assert answer.meta["answers"] == [first.seq, second.seq]
    assert [o.message.text for o in output.sent] == [FINAL]  # nor sent to the channel
    # The model's second call saw the whole burst.
    users = [m["content"] for m in fake.requests[1]["messages"] if m["role"] == "user"]
    assert users[-2:] == [first.text, second.text]
    # The draft streamed to the widget was declared superseded before the new answer streamed.
    tokens = [e for e in events if e.type == "token"]
    drafts = list(dict.fromkeys(e.data["message_id"] for e in tokens))
    assert drafts == [drafts[0], str(answer.id)]
    assert SLOW.startswith(
        "".join(e.data["text"] for e in tokens if e.data["message_id"] == drafts[0])
    )
    [retracted] = [e for e in events if e.type == "typing" and e.data.get("supersedes")]
    assert retracted.data["supersedes"] == drafts[0]
    first_new_token = next(e for e in tokens if e.data["message_id"] == str(answer.id))
    assert events.index(retracted) < events.index(first_new_token)


class RecordingReplies:
    """A generator that records the moment it was asked, as the loop's own sleep log sees it."""

    def __init__(self, sleeps: list[float]) -> None:
        self.sleeps = sleeps
        self.sleeps_before_answer: list[float] | None = None

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        self.sleeps_before_answer = list(self.sleeps)
        await on_token("Hello!")
        return Reply(text="Hello!")


async def test_the_first_answer_starts_without_waiting_at_default_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = Settings.model_fields["reply_debounce_ms"].default
    async with running_core(
        settings.model_copy(update={"reply_debounce_ms": default}), configure_logging=False
    ) as core:
        sleeps: list[float] = []
        real_sleep = asyncio.sleep
        job_task: list[asyncio.Task[Any]] = []

        async def recording_sleep(delay: float, *args: Any) -> Any:
            if asyncio.current_task() in job_task and delay > 0:
                sleeps.append(delay)  # only the answering task's own waits
            return await real_sleep(delay, *args)

        replies = RecordingReplies(sleeps)
        try:
            async with running_engine(core, replier=replies) as engine:
                core.outputs[CHANNEL] = RecordingOutput()
                question = await say(core, "Hello, is anyone there?")
                [job] = await core.queue.read("worker-a", count=10, block_ms=1000)
                monkeypatch.setattr(asyncio, "sleep", recording_sleep)
                task = asyncio.create_task(ReplyWorker(core, engine, name="worker-a").process(job))
                job_task.append(task)
                await task
                monkeypatch.setattr(asyncio, "sleep", real_sleep)

                async def answered() -> bool:
                    return bool(
                        await Message.find(
                            Message.conversation_id == PydanticObjectId(question.conversation_id),
                            Message.author == Author.AI,
                        ).to_list()
                    )

                await eventually(answered)
        finally:
            await core.mongo.drop_database(settings.mongodb_db)

    # Nothing waited for the rest of a possible burst before the answer was asked for.
    assert replies.sleeps_before_answer == []
