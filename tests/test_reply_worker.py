"""The reply worker over a real Valkey stream and a real database, with a scripted generator.

The generator is a tiny real implementation of the `ReplyGenerator` protocol: it records the
model context of every call, answers with canned text, and can be held on an asyncio.Event so
a test can act while an answer is being prepared.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import sys
from collections.abc import Callable
from datetime import timedelta

import pytest
from beanie import PydanticObjectId
from redis.exceptions import ResponseError

from bot.answers.engine import Engine
from bot.answers.model_context import ModelContext
from bot.answers.replies import Reply, TokenSink
from bot.answers.worker import ReplyWorker, consumer_is_gone, consumer_name
from bot.core.assignment import assign_waiting
from bot.core.cleanup import TransientState
from bot.core.conversations import append_message
from bot.core.documents import Conversation, Message, utcnow
from bot.core.modes import transition
from bot.core.pipeline import handle_incoming_message
from bot.core.queue import ReplyJob, ReplyQueue
from bot.core.runtime import Core
from bot.core.types import (
    Author,
    DeliveryStatus,
    InboundMessage,
    MessageView,
    Mode,
)
from bot.server.app import running_worker
from tests.support import CHANNEL, RecordingOutput, eventually

_message_ids = itertools.count(1)


class ScriptedReplies:
    """A `ReplyGenerator` that answers with canned text and can be held mid-answer."""

    def __init__(self) -> None:
        self.contexts: list[ModelContext] = []
        self.gate: asyncio.Event | None = None
        self.cancelled = 0
        self.finished = 0

    def hold(self) -> asyncio.Event:
        """Make every following answer wait until the returned event is set."""
        self.gate = asyncio.Event()
        return self.gate

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        self.contexts.append(context)
        number = len(self.contexts)
        try:
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        text = f"Answer number {number}."
        for word in text.split(" "):
            await on_token(word + " ")
        self.finished += 1
        return Reply(text=text)

    def user_texts(self, call: int) -> list[str]:
        """The customer turns the model saw in call number `call` (negative: from the end)."""
        return [turn.text for turn in self.contexts[call].turns if turn.role == "user"]


class NoAckQueue(ReplyQueue):
    """A worker that dies right before acknowledging: its jobs stay pending."""

    async def ack(self, job_id: str) -> None:
        return None


@pytest.fixture
def replies(engine: Engine) -> ScriptedReplies:
    scripted = ScriptedReplies()
    engine.replier = scripted
    return scripted


@pytest.fixture
def output(core: Core) -> RecordingOutput:
    recording = RecordingOutput()
    core.outputs[CHANNEL] = recording
    return recording


async def say(core: Core, text: str, *, chat: str = "chat-1") -> MessageView:
    """A customer message through the one inbound entry."""
    result = await handle_incoming_message(
        InboundMessage(
            channel=CHANNEL,
            external_chat_id=chat,
            external_user_id=f"user-{chat}",
            external_message_id=f"{chat}-{next(_message_ids)}",
            text=text,
            display_name="Ann",
            language="en",
        ),
        core=core,
    )
    assert result.created
    return result.message


async def until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    async def check() -> bool:
        return predicate()

    await eventually(check, timeout=timeout)


async def drained(core: Core) -> bool:
    """Every job is acknowledged (ack also deletes the entry) and none is pending."""
    if await core.redis.xlen(core.queue.stream):
        return False
    try:
        return await core.queue.pending_count() == 0
    except ResponseError:  # no group yet
        return True


async def ai_messages(conversation_id: str) -> list[Message]:
    return await Message.find(
        Message.conversation_id == PydanticObjectId(conversation_id),
        Message.author == Author.AI,
    ).to_list()


async def conversation(conversation_id: str) -> Conversation:
    found = await Conversation.get(PydanticObjectId(conversation_id))
    assert found is not None
    return found


async def read_one(core: Core, consumer: str) -> ReplyJob:
    jobs = await core.queue.read(consumer, count=10, block_ms=200)
    assert len(jobs) == 1
    return jobs[0]


async def reclaim_one(core: Core, consumer: str) -> ReplyJob:
    """Wait until `consumer` takes over a job left idle past reply_reclaim_idle_ms."""
    claimed: list[ReplyJob] = []

    async def check() -> bool:
        claimed.extend(
            await core.queue.reclaim(consumer, min_idle_ms=core.settings.reply_reclaim_idle_ms)
        )
        return bool(claimed)

    await eventually(check)
    assert len(claimed) == 1
    return claimed[0]


async def test_customer_message_gets_exactly_one_answer(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    async with running_worker(core, engine):
        question = await say(core, "Hello, where is my order?")
        cid = question.conversation_id

        async def answered() -> bool:
            return bool(await ai_messages(cid)) and await drained(core)

        await eventually(answered)

    [answer] = await ai_messages(cid)
    assert answer.text == "Answer number 1."
    assert answer.seq > question.seq
    assert answer.status is DeliveryStatus.SENT
    assert answer.external_id == f"reply:{cid}:{question.seq}"
    assert [o.message.id for o in output.sent] == [str(answer.id)]
    assert output.sent[0].external_chat_id == "chat-1"
    assert len(replies.contexts) == 1
    assert replies.user_texts(0) == ["Hello, where is my order?"]
    stored = await conversation(cid)
    assert stored.mode is Mode.AI
    assert stored.answered_seq == question.seq


async def test_burst_while_answer_is_prepared_gets_one_answer_that_saw_all_of_it(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    gate = replies.hold()
    async with running_worker(core, engine):
        first = await say(core, "Hi")
        cid = first.conversation_id
        await until(lambda: len(replies.contexts) == 1)  # answering "Hi" began at once
        await say(core, "I ordered a blue kettle")
        last = await say(core, "Order 1234, it has not arrived")
        await until(lambda: replies.contexts[-1].answering_through_seq == last.seq)
        gate.set()

        async def settled() -> bool:
            return (await conversation(cid)).answered_seq >= last.seq and await drained(core)

        await eventually(settled)

    # The answer to "Hi" was dropped when the burst grew; one answer covers all of it.
    assert replies.finished == 1
    assert replies.cancelled == len(replies.contexts) - 1 >= 1
    assert replies.user_texts(-1) == [
        "Hi",
        "I ordered a blue kettle",
        "Order 1234, it has not arrived",
    ]
    assert (
        replies.contexts[-1].question
        == "Hi\nI ordered a blue kettle\nOrder 1234, it has not arrived"
    )
    [answer] = await ai_messages(cid)
    assert answer.meta["answers"] == [first.seq, first.seq + 1, last.seq]
    assert answer.seq > last.seq
    assert answer.status is DeliveryStatus.SENT
    assert [o.message.id for o in output.sent] == [str(answer.id)]


async def test_a_message_that_arrives_as_the_answer_is_stored_gets_its_own_answer(
    core: Core,
    engine: Engine,
    replies: ScriptedReplies,
    output: RecordingOutput,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Too late to drop the answer (it is being stored): the message is numbered before the
    # answer, which never answered it, so it gets an answer of its own.
    import bot.answers.worker as worker_module

    late: list[MessageView] = []
    real_append = worker_module.append_fenced

    async def append_with_a_late_question(**kwargs: object) -> tuple[Message, bool]:
        if kwargs["author"] is Author.AI and not late:
            late.append(await say(core, "Also, can I pay by card?"))
        return await real_append(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(worker_module, "append_fenced", append_with_a_late_question)
    async with running_worker(core, engine):
        first = await say(core, "My kettle arrived broken, the lid " * 20 + "what can I do?")
        cid = first.conversation_id

        async def settled() -> bool:
            return len(await ai_messages(cid)) == 2 and await drained(core)

        await eventually(settled)

    [second] = late
    assert [c.question for c in replies.contexts] == [first.text, second.text]
    answers = sorted(await ai_messages(cid), key=lambda m: m.seq)
    assert [a.meta["answers"] for a in answers] == [[first.seq], [second.seq]]
    assert answers[0].seq > second.seq  # numbered after the question it did not answer
    # The model reads the second question after the first answer, as the last turn.
    turns = replies.contexts[1].turns
    assert (turns[-2].role, turns[-1].text) == ("assistant", second.text)
    stored = await conversation(cid)
    assert stored.mode is Mode.AI
    assert stored.answered_seq == second.seq


async def test_a_backlog_longer_than_the_history_window_is_answered_whole(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    first = await say(core, "Hello")  # no worker runs: an outage's backlog builds up
    cid = first.conversation_id
    backlog = [await say(core, f"<{n}>") for n in range(40)]
    async with running_worker(core, engine):

        async def settled() -> bool:
            return (await conversation(cid)).answered_seq >= backlog[-1].seq and await drained(core)

        await eventually(settled)

    [answer] = await ai_messages(cid)
    assert answer.meta["answers"] == [first.seq] + [m.seq for m in backlog]
    assert all(f"<{n}>" in replies.contexts[-1].question for n in range(40))


async def test_burst_within_the_debounce_gets_one_answer(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    core.settings = core.settings.model_copy(update={"reply_debounce_ms": 600})
    async with running_worker(core, engine):
        texts = ["Hello", "my parcel is late", "can you check?"]
        sent = [await say(core, text) for text in texts]
        cid = sent[0].conversation_id

        async def settled() -> bool:
            return bool(await ai_messages(cid)) and await drained(core)

        await eventually(settled)

    assert len(replies.contexts) == 1
    assert replies.user_texts(0) == texts
    assert len(await ai_messages(cid)) == 1
    assert (await conversation(cid)).answered_seq == sent[-1].seq


async def test_job_of_a_dead_consumer_is_reclaimed_and_answered_once(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    question = await say(core, "Is anyone there?")
    cid = question.conversation_id
    job = await read_one(core, "worker-a")  # worker A takes the job and dies
    # A live consumer's fresh job is not taken from it.
    assert (
        await core.queue.reclaim("worker-b", min_idle_ms=core.settings.reply_reclaim_idle_ms) == []
    )

    reclaimed = await reclaim_one(core, "worker-b")
    assert (reclaimed.conversation_id, reclaimed.seq) == (job.conversation_id, job.seq)
    await ReplyWorker(core, engine, name="worker-b").process(reclaimed)

    assert await drained(core)
    [answer] = await ai_messages(cid)
    assert answer.status is DeliveryStatus.SENT
    assert len(replies.contexts) == 1
    assert len(output.sent) == 1
    assert (await conversation(cid)).answered_seq == question.seq


@pytest.mark.parametrize("crash_before_answered_seq", [False, True])
async def test_worker_dying_after_storing_the_answer_does_not_store_a_second_one(
    core: Core,
    engine: Engine,
    replies: ScriptedReplies,
    output: RecordingOutput,
    crash_before_answered_seq: bool,
) -> None:
    question = await say(core, "Can I change my address?")
    cid = question.conversation_id
    dying = ReplyWorker(
        dataclasses.replace(core, queue=NoAckQueue(core.redis)), engine, name="worker-a"
    )
    await dying.process(await read_one(core, "worker-a"))
    assert len(await ai_messages(cid)) == 1
    assert await core.queue.pending_count() == 1  # never acknowledged
    if crash_before_answered_seq:
        # It died between storing the message and recording that the seq is answered.
        await Conversation.get_pymongo_collection().update_one(
            {"_id": PydanticObjectId(cid)}, {"$set": {"answered_seq": 0}}
        )

    await ReplyWorker(core, engine, name="worker-b").process(await reclaim_one(core, "worker-b"))

    assert await drained(core)
    [answer] = await ai_messages(cid)
    assert answer.text == "Answer number 1."
    assert [o.message.id for o in output.sent] == [str(answer.id)]
    assert (await conversation(cid)).answered_seq == question.seq


async def test_duplicate_jobs_for_one_seq_give_one_answer(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    question = await say(core, "What are your opening hours?")
    cid = question.conversation_id
    for _ in range(3):
        await core.queue.enqueue(cid, question.seq)
    async with running_worker(core, engine):

        async def settled() -> bool:
            return bool(await ai_messages(cid)) and await drained(core)

        await eventually(settled)

    assert len(await ai_messages(cid)) == 1
    assert len(replies.contexts) == 1
    assert len(output.sent) == 1


@pytest.mark.parametrize("where", ["same process", "another process"])
async def test_operator_takeover_cancels_the_answer_being_generated(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput, where: str
) -> None:
    gate = replies.hold()
    # Another process has its own transient state: only the mode.changed event reaches us.
    panel = core if where == "same process" else dataclasses.replace(core, state=TransientState())
    async with running_worker(core, engine):
        question = await say(core, "I want a refund")
        cid = question.conversation_id
        await until(lambda: len(replies.contexts) == 1)
        await transition(
            core=panel,
            conversation_id=PydanticObjectId(cid),
            to=Mode.OPERATOR,
            actor="operator:test",
            assignee_id=PydanticObjectId(),
        )
        await until(lambda: replies.cancelled == 1)
        await eventually(lambda: drained(core))
        gate.set()  # nothing is waiting any more; a stray answer would show up now

    assert replies.finished == 0
    assert await ai_messages(cid) == []
    stored = await conversation(cid)
    assert stored.mode is Mode.OPERATOR
    notices = await Message.find(
        Message.conversation_id == PydanticObjectId(cid), Message.author == Author.SYSTEM
    ).to_list()
    assert [n.meta.get("kind") for n in notices] == ["mode:operator"]
    assert core.state.size() == 0  # the cancel hook of the generation is gone


@pytest.mark.parametrize("mode", [Mode.WAITING_OPERATOR, Mode.OPERATOR])
async def test_jobs_of_a_chat_a_person_has_are_acknowledged_without_answering(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput, mode: Mode
) -> None:
    question = await say(core, "Hello?")  # queued while the chat was in AI mode
    cid = question.conversation_id
    await transition(
        core=core,
        conversation_id=PydanticObjectId(cid),
        to=mode,
        actor="system",
        assignee_id=PydanticObjectId() if mode is Mode.OPERATOR else None,
        notify=False,
    )
    if mode is Mode.WAITING_OPERATOR:  # waiting, but given to someone: no longer the AI's
        await assign_waiting(core, PydanticObjectId(cid), PydanticObjectId(), actor="system")
    later = await say(core, "Anyone?")  # not queued: the chat is not the AI's
    await core.queue.enqueue(cid, later.seq)  # a stray job for it anyway
    assert await core.redis.xlen(core.queue.stream) == 2

    async with running_worker(core, engine):
        await eventually(lambda: drained(core))

    assert replies.contexts == []
    assert await ai_messages(cid) == []
    assert (await conversation(cid)).mode is mode


async def test_sweep_requeues_a_conversation_whose_job_was_lost(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    question = await say(core, "Do you ship to Spain?")
    cid = question.conversation_id
    await core.redis.delete(core.queue.stream)  # the job is lost (stream and group gone)
    await core.queue.ensure_group()
    worker = ReplyWorker(core, engine, name="sweeper")
    # Only chats idle longer than reply_reclaim_idle_ms are swept.
    assert await worker.sweep() == 0

    async def swept() -> bool:
        return await worker.sweep() == 1

    await eventually(swept)
    async with running_worker(core, engine):

        async def answered() -> bool:
            return bool(await ai_messages(cid)) and await drained(core)

        await eventually(answered)

    assert len(await ai_messages(cid)) == 1
    assert (await conversation(cid)).answered_seq == question.seq
    assert await worker.sweep() == 0  # answered chats are left alone


async def test_worker_survives_redis_losing_its_data_and_connections(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    async with running_worker(core, engine):
        first = await say(core, "First question")
        cid = first.conversation_id
        await until(lambda: len(replies.contexts) == 1)
        await eventually(lambda: drained(core))
        # What a restart of an empty Redis looks like to clients: data and connections gone.
        await core.redis.flushdb()
        await core.redis.client_kill_filter(_type="normal", skipme=False)
        second = await say(core, "Second question")

        async def answered() -> bool:
            return len(await ai_messages(cid)) == 2 and await drained(core)

        await eventually(answered, timeout=15)

    assert (await conversation(cid)).answered_seq == second.seq
    assert replies.user_texts(1)[-1] == "Second question"


@pytest.mark.parametrize("named", ["another contact", "no contact", "garbage"])
async def test_the_answer_is_for_the_conversations_own_contact_whatever_the_job_names(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput, named: str
) -> None:
    other = await say(core, "hello", chat="chat-2")
    other_conversation = await conversation(other.conversation_id)
    question = await say(core, "Where is my parcel?")
    await core.redis.delete(core.queue.stream)  # only the job below is left to answer
    await core.queue.ensure_group()
    contact_id = {
        "another contact": str(other_conversation.contact_id),
        "no contact": None,
        "garbage": "not-an-id",
    }[named]
    await core.queue.enqueue(question.conversation_id, question.seq, contact_id=contact_id)
    async with running_worker(core, engine):
        await eventually(lambda: drained(core))
    [context] = replies.contexts
    assert context.agent.external_user_id == "user-chat-1"
    assert len(await ai_messages(question.conversation_id)) == 1


async def test_a_dead_workers_chat_lock_is_freed_with_its_jobs(
    core: Core,
    engine: Engine,
    replies: ScriptedReplies,
    output: RecordingOutput,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.answers.worker.DEAD_CONSUMER_MS", 300)
    question = await say(core, "Is anyone there?")
    cid = question.conversation_id
    await read_one(core, "worker-a")  # worker A takes the job, locks the chat and dies
    await core.redis.set(f"sb:lock:reply:{cid}", "worker-a 1f2e", px=15_000)
    # A lock that a live worker holds on another chat stays.
    await core.redis.set("sb:lock:reply:other-chat", "worker-c 3d4c", px=15_000)
    await asyncio.sleep(0.4)

    async with running_worker(core, engine):
        # Well inside the 15 s the dead worker's lock would otherwise still hold the chat.
        await eventually(lambda: drained(core), timeout=10)

    [answer] = await ai_messages(cid)
    assert answer.status is DeliveryStatus.SENT
    assert await core.redis.get("sb:lock:reply:other-chat") == b"worker-c 3d4c"


async def test_jobs_of_a_process_that_no_longer_exists_are_taken_without_waiting(
    core: Core,
) -> None:
    exited = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await exited.wait()
    alive, gone = consumer_name(), consumer_name()
    host_ns = alive.rsplit("-", 2)[0]
    alive = f"{host_ns}-1-aaaaaa"  # PID 1 is always there
    gone = f"{host_ns}-{exited.pid}-bbbbbb"
    for chat, consumer in (("chat-alive", alive), ("chat-gone", gone)):
        await say(core, "hello", chat=chat)
        await read_one(core, consumer)

    # Far inside the idle timeout: only the consumer whose process is gone counts as dead.
    claimed = await core.queue.claim_from_dead(
        "worker-b", dead_after_ms=60_000, known_dead=consumer_is_gone
    )
    assert [job.claimed_from for job in claimed] == [gone]
    assert not consumer_is_gone(alive)
    assert not consumer_is_gone(consumer_name())


class FailingReplies(ScriptedReplies):
    """A generator that fails on every call (a bug, a poison message)."""

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        self.contexts.append(context)
        raise RuntimeError("the model client blew up")


def dead_replies() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("switchboard_replies_total", {"outcome": "dead"}) or 0.0


async def system_notices(conversation_id: str) -> list[Message]:
    return await Message.find(
        Message.conversation_id == PydanticObjectId(conversation_id),
        Message.author == Author.SYSTEM,
    ).to_list()


async def test_a_reply_that_keeps_failing_is_parked_for_an_operator(
    core: Core, engine: Engine, output: RecordingOutput
) -> None:
    failing = FailingReplies()
    engine.replier = failing
    dead_before = dead_replies()
    async with running_worker(core, engine):
        question = await say(core, "Where is my order?")
        cid = question.conversation_id

        async def parked() -> bool:
            return (await conversation(cid)).mode is Mode.WAITING_OPERATOR and await drained(core)

        await eventually(parked, timeout=30)
        tries = len(failing.contexts)
        await asyncio.sleep(1)  # several reclaim rounds: nothing is tried again
        assert len(failing.contexts) == tries

    assert tries == core.settings.reply_max_attempts
    [notice] = await system_notices(cid)
    assert notice.meta["kind"] == "reply_dead"
    assert "the model client blew up" in notice.meta["reason"]
    assert notice.status is DeliveryStatus.SENT  # the customer is told
    assert dead_replies() == dead_before + 1
    assert await ReplyWorker(core, engine, name="sweeper").sweep() == 0
    assert not await ai_messages(cid)


async def test_a_message_whose_worker_dies_on_it_is_parked_not_retried_at_every_start(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    replies.hold()  # every answer hangs until its worker is gone (a hang, then a restart)
    question = await say(core, "h " * 3000)
    cid = question.conversation_id
    for start in range(core.settings.reply_max_attempts):
        worker = ReplyWorker(core, engine, name=f"start-{start}")
        task = asyncio.create_task(worker.run())
        await until(lambda n=start: len(replies.contexts) >= n + 1, timeout=30)
        await worker.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    async with running_worker(core, engine):

        async def parked() -> bool:
            return (await conversation(cid)).mode is Mode.WAITING_OPERATOR and await drained(core)

        await eventually(parked, timeout=30)
    assert len(replies.contexts) == core.settings.reply_max_attempts
    assert [n.meta["kind"] for n in await system_notices(cid)] == ["reply_dead"]


async def test_a_long_message_is_stored_whole_and_processed_in_part(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    text = "please help me " * 2000  # 30,000 characters
    async with running_worker(core, engine):
        question = await say(core, text)
        cid = question.conversation_id

        async def answered() -> bool:
            return bool(await ai_messages(cid)) and await drained(core)

        await eventually(answered)

    stored = await Message.get(PydanticObjectId(question.id))
    assert stored is not None and stored.text == text
    assert stored.operator_view()["truncated"] == {"length": len(text), "limit": 4096}
    assert replies.contexts[0].question == text[:4096].replace("\n", "")


async def test_an_answer_claimed_by_a_process_that_died_before_sending_is_sent_once(
    core: Core, engine: Engine, replies: ScriptedReplies, output: RecordingOutput
) -> None:
    exited = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await exited.wait()
    host_ns = consumer_name().rsplit("-", 2)[0]
    question = await say(core, "Hello?")
    chat = await conversation(question.conversation_id)
    # The dead process stored its answer, claimed it for sending, and was killed.
    answer, _ = await append_message(
        core=core, conversation=chat, author=Author.AI, text="Hello! How can I help?"
    )
    await answer.set(
        {
            "meta.claimed_at": utcnow(),
            "meta.claimed_by": f"{host_ns}-{exited.pid}-outbox",
            "created_at": utcnow() - timedelta(seconds=30),
        }
    )
    # A claim of a process that is alive (PID 1) is left to it.
    live, _ = await append_message(
        core=core, conversation=chat, author=Author.SYSTEM, text="being sent elsewhere"
    )
    await live.set(
        {
            "meta.claimed_at": utcnow(),
            "meta.claimed_by": f"{host_ns}-1-outbox",
            "created_at": utcnow() - timedelta(seconds=30),
        }
    )
    await core.redis.delete(core.queue.stream)  # no new activity in this chat
    await chat.set({"answered_seq": question.seq})
    async with running_worker(core, engine):
        await until(lambda: len(output.sent) >= 1)
        await asyncio.sleep(0.5)
    assert [o.message.id for o in output.sent] == [str(answer.id)]
    sent = await Message.get(answer.id)
    assert sent is not None and sent.status is DeliveryStatus.SENT
    from bot.core.outbox import sweep_outbox

    assert await sweep_outbox(core=core) == 0  # sent once
