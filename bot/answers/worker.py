"""The reply worker: consumes reply jobs and answers customers while their chat is in AI mode."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from loguru import logger
from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.answers.bursts import BurstWatch
from bot.answers.engine import Engine
from bot.answers.guardrails import (
    Action,
    GuardrailConfig,
    Guardrails,
    OutputPolicy,
    Verdict,
    embedders_for,
    refusal,
)
from bot.answers.model_context import ModelContext, build_model_context
from bot.answers.pii import redact_pii, restore_pii
from bot.answers.replies import Reply, ReplyFailed, ReplyUnavailable, TokenSink
from bot.core.assignment import after_hand_off
from bot.core.cleanup import conversation_scope
from bot.core.conversations import append_message, latest_messages
from bot.core.documents import Contact, Conversation, Message, PromptBlock, utcnow
from bot.core.fencing import AiFence, Fenced, ai_may_answer, append_fenced
from bot.core.i18n import detect_language, text_for
from bot.core.metrics import GUARDRAIL_VERDICTS, REPLIES, REPLY_SECONDS
from bot.core.modes import InvalidTransition, say_to_customer, transition
from bot.core.outbox import deliver_pending, sweep_outbox
from bot.core.processes import process_is_gone, process_name
from bot.core.queue import ReplyJob
from bot.core.runtime import Core
from bot.core.types import Author, ConversationEvent, Mode

HISTORY_LIMIT = 30
# An answer is started over at most this often for a growing burst; then it is stored and
# what came after it gets an answer of its own (a customer who keeps writing is answered).
MAX_RESTARTS = 5
# A restart reads until the message that grew the burst shows (10 ms apart), at most this often.
RESTART_READ_TRIES = 50
# Unanswered customer messages older than the history window read for one answer, at most.
OPEN_LIMIT = 500
# Live workers poll every half second; one silent this long is dead and its jobs are taken.
DEAD_CONSUMER_MS = 10_000
# How often a worker looks for dead ones: a restarted `serve` finds its predecessor dead
# within about this long of DEAD_CONSUMER_MS passing (one XINFO call each time).
DEAD_CHECK_INTERVAL_S = 1.0
# The per-conversation reply lock lives this long unless its holder renews it: a worker
# killed mid-answer blocks its chat for at most this long.
LOCK_TTL_MS = 15_000
_RENEW_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# One round trip per answer: tries at an earlier burst (answered since) start again from 0.
_COUNT_ATTEMPT = """
if redis.call('hget', KEYS[1], 'covered') ~= ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[1], 'covered', ARGV[1])
end
local n = redis.call('hincrby', KEYS[1], 'n', 1)
redis.call('expire', KEYS[1], ARGV[2])
return n
"""
# A lock's value starts with its holder's consumer name, so a worker that takes over a dead
# consumer's jobs also frees its chats at once instead of waiting out the lock's TTL.
_BREAK_LOCK_OF = """
local holder = redis.call('get', KEYS[1])
if holder and string.sub(holder, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def _lock_key(conversation_id: str) -> str:
    return f"sb:lock:reply:{conversation_id}"


def _attempts_key(conversation_id: str) -> str:
    return f"sb:reply-attempts:{conversation_id}"


# How long a chat's count of failed answers is kept (the sweep gives up after a day too).
ATTEMPTS_TTL_S = 86_400
# Outages, not the message: they do not count against it (the job is simply tried again).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    RedisConnectionError,
    RedisTimeoutError,
)


def _answer_meta(reply: Reply, verdicts: list[Verdict]) -> dict[str, Any]:
    """What operators see beside an AI answer: its tool calls, the guardrails' verdicts,
    or why it was replaced."""
    meta: dict[str, Any] = {}
    if reply.tool_calls:
        meta["tool_calls"] = [asdict(call) for call in reply.tool_calls]
    if verdicts:
        meta["guardrails"] = [v.as_meta() for v in verdicts]
    if reply.guardrail:
        meta.update(kind="guardrail", reason=reply.guardrail)
    else:
        if reply.abstained:
            meta["abstained"] = True  # a knowledge gap, counted on the analytics page
        if reply.quick_replies:
            meta["quick_replies"] = [q.model_dump(exclude_none=True) for q in reply.quick_replies]
    return meta


def pending_question(history: list[Message], *, answered_seq: int, pii_redaction: bool) -> str:
    """The customer's messages no answer has covered yet, as the model context will see them."""
    texts = [
        text
        for message in history
        if message.author is Author.CUSTOMER
        and message.seq > answered_seq
        and (text := message.processed_text)
    ]
    return "\n".join(redact_pii(t) if pii_redaction else t for t in texts)


def _count(verdicts: list[Verdict]) -> None:
    for verdict in verdicts:
        GUARDRAIL_VERDICTS.labels(verdict.rule or "none", verdict.action.value).inc()


def _secret_texts(blocks: list[PromptBlock]) -> list[str]:
    return [block.text for block in blocks if block.secret]


class Superseded(Exception):
    """The conversation left AI mode while its answer was being prepared."""


class BurstGrew(Exception):
    """The customer wrote again before the answer was stored: it is dropped, not sent."""


def consumer_name() -> str:
    """Host, PID namespace and PID of this process, and a random part."""
    return process_name()


def consumer_is_gone(name: str) -> bool:
    """True for a consumer of a process on this host that no longer exists."""
    return process_is_gone(name)


class ReplyWorker:
    """One consumer of the reply stream; runs several conversations' jobs at once."""

    def __init__(
        self, core: Core, engine: Engine, *, concurrency: int = 16, name: str | None = None
    ) -> None:
        self.core = core
        self.engine = engine
        self.name = name or consumer_name()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.guardrails = engine.guardrails or Guardrails(
            GuardrailConfig.from_settings(core.settings), embedders_for(engine.knowledge)
        )

    async def run(self) -> None:
        """Consume until `stop()`; survives Redis restarts."""
        settings = self.core.settings
        last_reclaim = last_sweep = last_dead_check = 0.0
        logger.info("reply worker {} started", self.name)
        while not self._stopping.is_set():
            try:
                await self.core.queue.ensure_group()
                now = time.monotonic()
                if now - last_dead_check > DEAD_CHECK_INTERVAL_S:
                    last_dead_check = now
                    for job in await self.core.queue.claim_from_dead(
                        self.name, dead_after_ms=DEAD_CONSUMER_MS, known_dead=consumer_is_gone
                    ):
                        if job.claimed_from:
                            await self.core.redis.eval(
                                _BREAK_LOCK_OF,
                                1,
                                _lock_key(job.conversation_id),
                                f"{job.claimed_from} ",
                            )
                        await self._spawn(job)
                if now - last_reclaim > settings.reply_reclaim_idle_ms / 2000:
                    last_reclaim = now
                    for job in await self.core.queue.reclaim(
                        self.name, min_idle_ms=settings.reply_reclaim_idle_ms
                    ):
                        await self._spawn(job)
                if now - last_sweep > 15:
                    last_sweep = now
                    await self.sweep()
                    await sweep_outbox(core=self.core)
                for job in await self.core.queue.read(self.name, count=10, block_ms=500):
                    await self._spawn(job)
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                logger.warning("reply worker lost Redis ({}); retrying", exc)
                await asyncio.sleep(1)
            except Exception:
                logger.exception("reply worker loop error")
                await asyncio.sleep(1)

    async def stop(self) -> None:
        self._stopping.set()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _spawn(self, job: ReplyJob) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._run_job(job), name=f"reply-{job.conversation_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_job(self, job: ReplyJob) -> None:
        try:
            await self.process(job)
        except asyncio.CancelledError:
            raise  # shutdown: the job stays pending and another worker reclaims it
        except Exception:
            # Left unacknowledged: reclaimed after the idle timeout and tried again.
            logger.exception("reply job {} failed", job.id)
            REPLIES.labels("error").inc()
        finally:
            self._slots.release()

    async def sweep(self) -> int:
        """Queue a job for every chat the AI answers whose last customer message has no answer.

        This covers jobs that never reached Redis or were lost with it.
        """
        now = utcnow()
        idle = timedelta(milliseconds=self.core.settings.reply_reclaim_idle_ms)
        while_waiting = self.core.settings.ai_helps_while_waiting
        modes = [Mode.AI.value] + ([Mode.WAITING_OPERATOR.value] if while_waiting else [])
        # One query per mode, each an equality on the (mode, last_customer_message_at)
        # index: with `$or` or `$in` the embedded server's planner scans the collection.
        recent: list[Conversation] = []
        for mode in modes:
            recent += await Conversation.find(
                {
                    "mode": mode,
                    "last_customer_message_at": {
                        "$gt": now - timedelta(days=1),
                        "$lt": now - idle,
                    },
                }
            ).to_list()
        stale = [c for c in recent if ai_may_answer(c, while_waiting=while_waiting)]
        queued = 0
        for conversation in stale:
            if conversation.last_customer_seq > conversation.answered_seq:
                await self.core.queue.enqueue(
                    str(conversation.id),
                    conversation.last_customer_seq,
                    contact_id=str(conversation.contact_id),
                )
                queued += 1
        if queued:
            logger.info("sweep queued {} unanswered conversation(s)", queued)
        return queued

    async def process(self, job: ReplyJob) -> None:
        """Answer one job (or see that it is already answered) and acknowledge it."""
        if job.text:
            # The input check's embedding runs while the lock is taken and the chat read;
            # the check itself still runs on what is read, and a question that differs
            # (a burst, an edit) is embedded again.
            question = redact_pii(job.text) if self.core.settings.pii_redaction else job.text
            self.guardrails.prefetch(question)
        token = f"{self.name} {uuid.uuid4().hex}"
        lock_key = _lock_key(job.conversation_id)
        # The chat's lock first, then one read: what is read under the lock is what counts.
        if not await self._acquire(lock_key, token):
            # Someone else is answering this chat; a fresh job comes back after them.
            await self.core.queue.enqueue(job.conversation_id, job.seq, contact_id=job.contact_id)
            await self.core.queue.ack(job.id)
            return
        heartbeat = asyncio.create_task(self._keep_claimed(job, lock_key, token))
        try:
            await self._answer(PydanticObjectId(job.conversation_id), job)
        except Exception as exc:
            await self._note_failure(job.conversation_id, exc)
            raise
        finally:
            heartbeat.cancel()
            await self.core.redis.eval(_RELEASE_LOCK, 1, lock_key, token)
        await self.core.queue.ack(job.id)

    async def _keep_claimed(self, job: ReplyJob, lock_key: str, token: str) -> None:
        """While a slow answer is prepared, keep its job and its chat's lock ours."""
        interval = min(self.core.settings.reply_reclaim_idle_ms, LOCK_TTL_MS) / 3000
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(RedisError):
                await self.core.queue.touch(self.name, job.id)
                await self.core.redis.eval(_RENEW_LOCK, 1, lock_key, token, LOCK_TTL_MS)

    async def _skip(self, conversation: Conversation | None) -> None:
        if conversation is not None:
            await deliver_pending(core=self.core, conversation=conversation)
        REPLIES.labels("skipped").inc()

    @staticmethod
    async def _contact(job: ReplyJob) -> Contact | None:
        """The contact the job names, if it names one (checked against the conversation)."""
        try:
            return await Contact.get(PydanticObjectId(job.contact_id)) if job.contact_id else None
        except InvalidId:
            return None

    def _ai_answers(self, conversation: Conversation) -> bool:
        return ai_may_answer(conversation, while_waiting=self.core.settings.ai_helps_while_waiting)

    def _needs_answer(self, conversation: Conversation, job: ReplyJob) -> bool:
        return self._ai_answers(conversation) and job.seq > conversation.answered_seq

    async def _acquire(self, key: str, token: str, wait_s: float = 10.0) -> bool:
        deadline = time.monotonic() + wait_s
        while True:
            if await self.core.redis.set(key, token, nx=True, px=LOCK_TTL_MS):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)

    async def _answer(self, conversation_id: PydanticObjectId, job: ReplyJob) -> None:
        """Answer at once; if the customer adds to the burst before the answer is stored,
        drop it (nothing of it is stored or sent) and answer the whole burst."""
        debounce = self.core.settings.reply_debounce_ms / 1000
        if debounce:
            conversation = await Conversation.get(conversation_id)
            if conversation is None or not self._needs_answer(conversation, job):
                await self._skip(conversation)
                return
            await asyncio.sleep(debounce)  # let the rest of a burst arrive (opt-in)
        # Listening before the first read: a message stored after it is either read or heard.
        watch = BurstWatch(self.core.bus, str(conversation_id))
        try:
            for restart in itertools.count():
                if restart >= MAX_RESTARTS:
                    watch.disarm()  # a customer who keeps writing still gets an answer
                if not await self._answer_burst(conversation_id, job, watch, restart=restart):
                    return
                REPLIES.labels("restarted").inc()
        finally:
            await watch.close()

    async def _answer_burst(
        self, conversation_id: PydanticObjectId, job: ReplyJob, watch: BurstWatch, *, restart: int
    ) -> bool:
        """One try at answering what is unanswered; True when the burst grew before it was
        stored (and nothing of it was), so the caller tries again over the whole burst."""
        started = time.perf_counter()
        conversation, contact, history, blocks = await self._read_burst(
            conversation_id, job, newest=watch.newest if restart else 0
        )
        if conversation is None or not self._needs_answer(conversation, job):
            await self._skip(conversation)
            return False
        if history and history[0].seq > conversation.answered_seq + 1:
            # A burst longer than the window (an outage's backlog): its older messages are
            # this answer's too, or they would count as answered unseen.
            history = await self._unanswered_before(conversation, history[0].seq) + history
        if contact is None or contact.id != conversation.contact_id:
            contact = await Contact.get(conversation.contact_id)
        settings = self.core.settings
        if not restart:  # a restart over a grown burst is the same try, not another one
            attempts = await self._count_attempt(conversation)
            if attempts > settings.reply_max_attempts:
                await self._park(conversation, contact, attempts - 1)
                return False
        language = contact.language if contact else None
        # The input stage runs before the search and the model: an attack reaches neither.
        verdict = await self.guardrails.check_input(
            pending_question(
                history,
                answered_seq=conversation.answered_seq,
                pii_redaction=settings.pii_redaction,
            ),
            display_name=contact.display_name if contact else None,
            previous_kinds=[m.meta.get("kind") for m in history if m.author is Author.AI],
        )
        verdicts = [verdict]
        if verdict.action is Action.HANDOFF:
            # The policy's hand-off, like any other: a system notice and the transition.
            _count(verdicts)
            REPLIES.labels("handoff").inc()
            question = pending_question(
                history, answered_seq=conversation.answered_seq, pii_redaction=False
            )
            await self._hand_off(
                conversation,
                language or detect_language(question),
                "waiting_operator",
                reason=verdict.reason or "hand-off policy",
                meta={"guardrails": [verdict.as_meta()]},
            )
            return False
        context = await build_model_context(
            conversation=conversation,
            contact=contact,
            history=history,
            blocks=blocks,
            knowledge=self.engine.knowledge if verdict.allowed else None,
            pii_redaction=settings.pii_redaction,
            history_budget_tokens=settings.history_budget_tokens,
            timezone=settings.timezone,
            business_hours=settings.business_hours,
        )
        if restart < MAX_RESTARTS:
            watch.arm(context.answering_through_seq)
        message_id = PydanticObjectId()
        self._show_typing(conversation)
        language = language or context.language
        try:
            if watch.grew:
                raise BurstGrew()
            if verdict.action is Action.REFUSE:
                reply = Reply(text=refusal(language), guardrail=verdict.reason)
            else:
                policy = self.guardrails.output_policy(
                    channel=conversation.channel,
                    instructions=context.instructions,
                    secret_texts=_secret_texts(blocks),
                    sources=[hit.source for hit in context.knowledge],
                    passages=[hit.text for hit in context.knowledge],
                )
                reply, checked = await self._generate_checked(
                    job.conversation_id,
                    context,
                    message_id,
                    policy,
                    language,
                    [m.text for m in history if m.author is Author.CUSTOMER and m.text],
                    watch,
                )
                verdicts += checked
        except BurstGrew:
            await self._retract(job.conversation_id, message_id)
            return True
        except Superseded:
            REPLIES.labels("superseded").inc()
            return False
        except ReplyUnavailable:
            REPLIES.labels("no_model").inc()
            if conversation.mode is Mode.WAITING_OPERATOR:
                await self._mark_answered(conversation)  # queued already, nothing to add
            else:
                await self._hand_off(conversation, language, "no_model", reason="no chat model")
            return False
        except ReplyFailed as exc:
            if watch.grew:  # the failure of an answer the burst made stale: answer it all
                await self._retract(job.conversation_id, message_id)
                return True
            logger.warning("AI reply failed for {}: {}", conversation_id, exc)
            REPLIES.labels("fallback").inc()
            await self._fall_back(conversation, language, reason=str(exc)[:200])
            return False
        fresh = await Conversation.get(conversation_id)
        if fresh is None or not self._ai_answers(fresh):
            REPLIES.labels("superseded").inc()
            return False
        if watch.grew or (restart < MAX_RESTARTS and await self._stored_after(fresh, context)):
            await self._retract(job.conversation_id, message_id)
            return True
        # Stored from here on: what arrives now is numbered after it and answered next.
        watch.disarm()
        _count(verdicts)
        if reply.guardrail:
            logger.warning("guardrail in {}: {}", conversation_id, reply.guardrail)
            REPLIES.labels("guardrail").inc()
        try:
            # Stored only while the chat is still the AI's, as it was when the job began.
            _, created = await append_fenced(
                core=self.core,
                fence=AiFence.of(conversation),
                conversation=fresh,
                author=Author.AI,
                text=reply.text,
                external_id=f"reply:{conversation_id}:{context.answering_through_seq}",
                sources=reply.sources,
                message_id=message_id,
                # What this answer answered, so a message it did not cover is never taken as done.
                meta={
                    **_answer_meta(reply, [v for v in verdicts if v.rule]),
                    "answers": context.answering_seqs,
                },
            )
        except Fenced:
            REPLIES.labels("superseded").inc()
            return False
        await Conversation.get_pymongo_collection().update_one(
            {"_id": conversation_id}, {"$max": {"answered_seq": context.answering_through_seq}}
        )
        await deliver_pending(core=self.core, conversation=conversation)
        REPLY_SECONDS.observe(time.perf_counter() - started)
        REPLIES.labels("answered" if created else "duplicate").inc()
        if reply.handoff_reason and created:
            # The answer itself told the customer; the transition only records and publishes.
            with contextlib.suppress(InvalidTransition):
                await transition(
                    core=self.core,
                    conversation_id=conversation_id,
                    to=Mode.WAITING_OPERATOR,
                    actor="ai",
                    reason=reply.handoff_reason,
                    notify=False,
                    fence=conversation.mode_version,
                )
        return False

    async def _read_burst(
        self, conversation_id: PydanticObjectId, job: ReplyJob, *, newest: int
    ) -> tuple[Conversation | None, Contact | None, list[Message], list[PromptBlock]]:
        """Everything an answer needs, in one round of reads; on a restart, once the message
        that grew the burst (`newest`) can be read."""
        for _ in range(RESTART_READ_TRIES):
            conversation, contact, history, blocks = await asyncio.gather(
                Conversation.get(conversation_id),
                self._contact(job),
                latest_messages(conversation_id, limit=HISTORY_LIMIT),
                self.core.prompts.enabled(),
            )
            if not newest or any(m.seq >= newest for m in history):
                break
            await asyncio.sleep(0.01)
        return conversation, contact, history, blocks

    @staticmethod
    async def _stored_after(conversation: Conversation, context: ModelContext) -> bool:
        """A customer message stored after the ones this answer covers (events can be lost).

        The counter moves before its message is stored; only a stored message counts (one
        still being stored is numbered before this answer and answered after it)."""
        if conversation.last_customer_seq <= context.answering_through_seq:
            return False
        newer = await Message.find_one(
            {
                "conversation_id": conversation.id,
                "author": Author.CUSTOMER.value,
                "seq": {"$gt": context.answering_through_seq},
            }
        )
        return newer is not None

    async def _retract(self, conversation_id: str, message_id: PydanticObjectId) -> None:
        """Tell the widget and the panel that the draft streamed under `message_id` is
        superseded: the AI is typing the answer to the whole burst instead."""
        with contextlib.suppress(RedisError):
            await self.core.bus.publish(
                ConversationEvent(
                    type="typing",
                    conversation_id=conversation_id,
                    data={"author": Author.AI.value, "supersedes": str(message_id)},
                )
            )

    @staticmethod
    async def _unanswered_before(conversation: Conversation, seq: int) -> list[Message]:
        """Customer messages after the last answered one and before `seq`, oldest first."""
        return (
            await Message.find(
                {
                    "conversation_id": conversation.id,
                    "author": Author.CUSTOMER.value,
                    "seq": {"$gt": conversation.answered_seq, "$lt": seq},
                }
            )
            .sort("+seq")
            .limit(OPEN_LIMIT)
            .to_list()
        )

    async def _count_attempt(self, conversation: Conversation) -> int:
        """Count one more try at answering what is unanswered; the count outlives a crash.

        Counted before the try, so a worker that hangs or dies on a message (a restart
        picks the same message up again) counts too; outages are taken back off.
        """
        key = _attempts_key(str(conversation.id))
        attempts = await self.core.redis.eval(
            _COUNT_ATTEMPT, 1, key, str(conversation.answered_seq), ATTEMPTS_TTL_S
        )
        return int(attempts)

    async def _note_failure(self, conversation_id: str, exc: Exception) -> None:
        """Keep a failed try's reason for the operator; an outage's try does not count."""
        key = _attempts_key(conversation_id)
        with contextlib.suppress(RedisError):
            if isinstance(exc, TRANSIENT_ERRORS):
                if int(await self.core.redis.hget(key, "n") or 0) > 0:
                    await self.core.redis.hincrby(key, "n", -1)
            else:
                await self.core.redis.hset(key, "error", f"{type(exc).__name__}: {exc}"[:300])

    async def _park(
        self, conversation: Conversation, contact: Contact | None, failures: int
    ) -> None:
        """Stop retrying a chat whose answer kept failing: an operator takes it from here.

        Its unanswered messages count as handled (the sweep leaves them), the customer is
        told, the panel shows the notice (kind `reply_dead`) and why, and it is counted.
        """
        assert conversation.id is not None
        raw_error = await self.core.redis.hget(_attempts_key(str(conversation.id)), "error")
        error = raw_error.decode() if isinstance(raw_error, bytes) else raw_error
        reason = f"the AI failed {failures} times" + (f": {error}" if error else "")
        logger.error("reply for {} parked: {}", conversation.id, reason)
        language = contact.language if contact else None
        await append_message(
            core=self.core,
            conversation=conversation,
            author=Author.SYSTEM,
            text=text_for("ai_failed", language),
            meta={"kind": "reply_dead", "reason": reason},
        )
        await self._mark_answered(conversation)
        await deliver_pending(core=self.core, conversation=conversation)
        with contextlib.suppress(InvalidTransition):
            await transition(
                core=self.core,
                conversation_id=conversation.id,
                to=Mode.WAITING_OPERATOR,
                actor="system",
                reason=reason[:200],
                notify=False,
                fence=conversation.mode_version,
            )
        await self.core.redis.delete(_attempts_key(str(conversation.id)))
        REPLIES.labels("dead").inc()

    @staticmethod
    async def _mark_answered(conversation: Conversation) -> None:
        """Count the customer's messages read with the chat as handled (no answer to come)."""
        await Conversation.get_pymongo_collection().update_one(
            {"_id": conversation.id}, {"$max": {"answered_seq": conversation.last_customer_seq}}
        )

    def _show_typing(self, conversation: Conversation) -> None:
        """The widget and the panel hear it on the bus; Telegram gets its typing action.

        In the background: neither a slow provider nor the bus may delay the answer itself.
        """
        output = self.core.output(conversation.channel)

        async def hint() -> None:
            try:
                await self.core.bus.publish(
                    ConversationEvent(
                        type="typing",
                        conversation_id=str(conversation.id),
                        data={"author": Author.AI.value},
                    )
                )
                if output is not None:
                    await output.show_typing(conversation.external_chat_id)
            except Exception as exc:  # a typing hint is never worth failing an answer for
                logger.debug("typing hint on {} failed: {}", conversation.channel, exc)

        task = asyncio.create_task(hint(), name=f"typing-{conversation.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _generate_checked(
        self,
        conversation_id: str,
        context: ModelContext,
        message_id: PydanticObjectId,
        policy: OutputPolicy,
        language: str | None,
        originals: list[str],
        watch: BurstWatch,
    ) -> tuple[Reply, list[Verdict]]:
        """The model's answer through the output stage: streamed only once checked."""
        guard = self.guardrails.stream(self._token_sink(conversation_id, message_id), policy)
        reply = await self._generate(conversation_id, context, guard, watch)
        outcome = await self.guardrails.check_output(
            reply.text, policy, language=language, stream=guard
        )
        if outcome.action is Action.ALLOW:
            text = outcome.text
            if self.core.settings.pii_redaction:
                # The model saw placeholders; the customer and operators see their values.
                text = restore_pii(text, originals)
            return replace(reply, text=text), outcome.verdicts
        failed = outcome.verdicts[0]
        handoff = failed.reason if outcome.action is Action.HANDOFF else reply.handoff_reason
        return (
            Reply(text=outcome.text, guardrail=failed.reason, handoff_reason=handoff),
            outcome.verdicts,
        )

    def _token_sink(self, conversation_id: str, message_id: PydanticObjectId) -> TokenSink:
        async def on_token(text: str) -> None:
            await self.core.bus.publish(
                ConversationEvent(
                    type="token",
                    conversation_id=conversation_id,
                    data={"message_id": str(message_id), "text": text},
                )
            )

        return on_token

    async def _generate(
        self, conversation_id: str, context: ModelContext, sink: TokenSink, watch: BurstWatch
    ) -> Reply:
        """Run the model in a task that a mode change (through the cleanup hooks) or a
        message that grows the burst cancels."""
        task = asyncio.create_task(self.engine.replier.generate(context, on_token=sink))
        scope = conversation_scope(conversation_id)
        hook_name = f"reply:{id(task)}"

        def cancel() -> None:
            task.cancel()

        self.core.state.register(scope, hook_name, cancel)
        watch.on_grow(cancel)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and not (current and current.cancelling()):
                if watch.grew:
                    raise BurstGrew() from None
                raise Superseded() from None
            raise
        finally:
            watch.on_grow(None)
            self.core.state.discard(scope, hook_name)

    async def _fall_back(
        self, conversation: Conversation, language: str | None, *, reason: str
    ) -> None:
        """The model failed: a safe answer, and by policy (AI_FALLBACK_HANDOFF) an operator."""
        if self.core.settings.ai_fallback_handoff:
            await self._hand_off(conversation, language, "ai_failed", reason=reason)
            return
        assert conversation.id is not None
        with contextlib.suppress(Fenced):
            await say_to_customer(
                core=self.core,
                conversation=conversation,
                text=text_for("ai_unavailable", language),
                kind="ai_failed",
                fence=AiFence.of(conversation),
            )
        await self._mark_answered(conversation)

    async def _hand_off(
        self,
        conversation: Conversation,
        language: str | None,
        notice: str,
        *,
        reason: str,
        meta: dict[str, Any] | None = None,
    ) -> None:
        assert conversation.id is not None
        waiting = conversation.mode is Mode.WAITING_OPERATOR
        try:
            await say_to_customer(
                core=self.core,
                conversation=conversation,
                # A chat the AI helps in while it waits is queued already: say so once more.
                text=text_for("still_waiting" if waiting else notice, language),
                kind=notice,
                meta=meta,
                fence=AiFence.of(conversation),
            )
        except Fenced:
            return  # an operator has the chat already
        if not waiting:
            try:
                await transition(
                    core=self.core,
                    conversation_id=conversation.id,
                    to=Mode.WAITING_OPERATOR,
                    actor="system",
                    reason=reason,
                    notify=False,
                    fence=conversation.mode_version,
                )
            except InvalidTransition:
                return
        # The notice answers what the customer wrote: an AI that helps while the chat waits
        # does not answer it again. (After the transition: a retry must still hand over.)
        await self._mark_answered(conversation)
        if not waiting:
            await after_hand_off(self.core, conversation.id, language)
