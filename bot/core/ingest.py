"""Ingest: webhooks and widget messages are acknowledged once durably appended, stored behind.

A channel verifies and cheaply validates what a provider sent, then appends the raw update
to one Redis stream (AOF) and answers at once. The append is one Lua script: a dedup key per
delivery (Telegram update_id, Twilio MessageSid, widget client_id) taken with SET NX and a
TTL, then XADD, so a redelivery after the append is not appended again. Each entry also
names the previous entry of its chat (`prev`), which is how order per chat survives several
consumers: an entry is processed only once its predecessor has left the stream.

`IngestConsumer` (in `serve` and in `python -m bot worker`) reads the stream as a consumer
group, hands each entry to its channel's processor (normalize, then
`handle_incoming_message`, whose inbound claims and unique index store a message once), and
acknowledges and deletes it. An entry of a consumer that died stays pending and is taken
over, as reply jobs are (`bot.core.queue`): at once when its process is gone, else after
`RECLAIM_IDLE_MS`. An entry whose payload cannot be processed is moved to a dead-letter
stream (kept for inspection), never silently dropped; storage trouble is retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger
from prometheus_client import Counter, Gauge
from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError, ResponseError

from bot.core.inbound_claims import InboundBusy
from bot.core.processes import process_is_gone, process_name
from bot.core.queue import take_from_dead_consumers
from bot.core.wire import InputRejected

# One hash tag: the script's keys live in one slot (a Redis Cluster runs it too).
STREAM = "sb:{ingest}"
GROUP = "ingest"
DEAD_STREAM = "sb:{ingest}:dead"
SEEN_PREFIX = "sb:{ingest}:seen:"
LAST_PREFIX = "sb:{ingest}:last:"
DEAD_MAX_LEN = 10_000
# A chat's last entry id is kept this long after its last append (only order needs it).
LAST_TTL_S = 7 * 86_400
# A consumer polls at least every READ_BLOCK_MS: silent for DEAD_CONSUMER_MS, it is dead.
READ_BLOCK_MS = 250
DEAD_CONSUMER_MS = 15_000
# An entry pending this long with a live-looking consumer is taken over anyway.
RECLAIM_IDLE_MS = 30_000
SWEEP_S = 1.0
# Processing: chats handled at once, entries held in memory, how long an entry waits for a
# predecessor another consumer is storing before it is tried again later.
CONCURRENCY = 16
MAX_IN_FLIGHT = 256
PREV_WAIT_S = 1.0
RETRY_S = 0.2
MAX_RETRY_S = 5.0
# While this process's webhooks append (an append in the last PRESSURE_S), its consumer
# stores one entry at a time, pausing after each as long as it took (at most
# PRESSURE_PAUSE_S): answering providers comes first, storing goes on at half pace and
# catches up when the burst is over (the entries wait durably in the stream).
PRESSURE_S = 0.05
PRESSURE_PAUSE_S = 0.05
# A payload that fails this often for a reason other than storage is dead-lettered.
MAX_FAILURES = 5
APPEND_TIMEOUT_S = 3.0

INGESTED = Counter(
    "switchboard_ingest_total", "Inbound updates through the ingest stream", ["channel", "outcome"]
)
INGEST_BACKLOG = Gauge("switchboard_ingest_in_flight", "Ingest entries this process is processing")

# Storage trouble: the entry is tried again until it is stored, however long that takes.
TRANSIENT = (PyMongoError, RedisError, OSError, TimeoutError, InboundBusy)
# The payload itself is at fault: retrying cannot help.
POISON = (InputRejected, ValueError, LookupError)

_APPEND = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return false
end
local prev = redis.call('GET', KEYS[3]) or ''
local id = redis.call('XADD', KEYS[2], '*', 'channel', ARGV[2], 'chat', ARGV[3],
  'prev', prev, 'payload', ARGV[4])
redis.call('SET', KEYS[3], id, 'EX', ARGV[5])
return id
"""

Processor = Callable[[bytes], Awaitable[None]]

_last_append = [0.0]  # monotonic time of this process's latest append


def chat_digest(channel: str, chat: str) -> str:
    """The name a chat goes by in the stream and its keys (a digest: it may name a person)."""
    return hashlib.sha256(f"{channel}:{chat}".encode()).hexdigest()[:24]


def under_pressure() -> bool:
    """True while this process's channels are appending (a burst of webhooks)."""
    return time.monotonic() - _last_append[0] < PRESSURE_S


@dataclass(frozen=True, slots=True)
class IngestEntry:
    id: str
    channel: str
    chat: str
    prev: str | None
    payload: bytes


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(entry_id: Any, fields: Mapping[Any, Any] | None) -> IngestEntry | None:
    if not fields:
        return None
    data = {_text(k): v for k, v in fields.items()}
    payload = data.get("payload")
    if payload is None or "channel" not in data:
        return None
    return IngestEntry(
        id=_text(entry_id),
        channel=_text(data["channel"]),
        chat=_text(data.get("chat", b"")),
        prev=_text(data.get("prev", b"")) or None,
        payload=payload if isinstance(payload, bytes) else str(payload).encode(),
    )


class IngestStream:
    """The Redis side: the durable append with dedup, and the consumer group's operations."""

    def __init__(self, redis: Redis, *, stream: str = STREAM, group: str = GROUP) -> None:
        self._redis = redis
        self.stream = stream
        self.group = group
        self._script = redis.register_script(_APPEND)
        self._queued: list[tuple[list[Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def append(
        self, *, channel: str, key: str, chat: str, payload: bytes, dedup_ttl_s: int
    ) -> str | None:
        """Append one raw update; None when this delivery was appended before (a duplicate).

        Appends made while others are on their way go together in one pipeline: one round
        trip (and one AOF fsync) for a burst instead of one per update.
        """
        # Chat ids and delivery keys name people (a phone number, a visitor id): key names
        # carry only digests, so nothing of an erased contact stays readable in Redis.
        chat_key = chat_digest(channel, chat)
        seen_key = hashlib.sha256(f"{channel}:{key}".encode()).hexdigest()[:32]
        keys = [f"{SEEN_PREFIX}{channel}:{seen_key}", self.stream, f"{LAST_PREFIX}{chat_key}"]
        args = [dedup_ttl_s, channel, chat_key, payload, LAST_TTL_S]
        _last_append[0] = time.monotonic()
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append(([*keys, *args], done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="ingest-append")
        result = await done
        return None if result is None else _text(result)

    async def _flush(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                results = await self._run_batch([call for call, _ in batch])
            except BaseException as exc:
                results = [exc] * len(batch)
                if not isinstance(exc, Exception):
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(RedisError("the append was interrupted"))
                    raise
            for (_, done), result in zip(batch, results, strict=True):
                if done.done():
                    continue  # its request gave up (timeout, client gone)
                if isinstance(result, BaseException):
                    done.set_exception(result)
                else:
                    done.set_result(result)

    async def _run_batch(self, calls: list[list[Any]]) -> list[Any]:
        results = await self._pipeline(calls)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            # Redis restarted (scripts are not kept): load it, run the ones that did not run.
            await self._redis.script_load(_APPEND)
            again = await self._pipeline([calls[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return results

    async def _pipeline(self, calls: list[list[Any]]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for call in calls:
                pipe.evalsha(self._script.sha, 3, *call)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _group_call(self, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()  # the stream was lost (e.g. Redis restarted empty)
            return None

    async def read(
        self, consumer: str, *, count: int, block_ms: int, own: bool = False
    ) -> list[IngestEntry]:
        """New entries for this consumer, or with `own` the ones it holds already."""
        response = await self._group_call(
            self._redis.xreadgroup(
                self.group,
                consumer,
                {self.stream: "0" if own else ">"},
                count=count,
                block=None if own else block_ms,
            )
        )
        entries: list[IngestEntry] = []
        for _stream, items in list(response or []):
            for entry_id, fields in items:
                entry = _decode(entry_id, fields)
                if entry is not None:
                    entries.append(entry)
                elif fields is not None:  # not an entry of ours: it would never go away
                    await self.done(_text(entry_id))
        return entries

    async def reclaim(
        self, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> list[IngestEntry]:
        result = await self._group_call(
            self._redis.xautoclaim(
                self.stream, self.group, consumer, min_idle_time=min_idle_ms, count=count
            )
        )
        items = result[1] if result and len(result) > 1 else []
        return [e for entry_id, fields in items if (e := _decode(entry_id, fields)) is not None]

    async def claim_from_dead(self, consumer: str, *, dead_after_ms: int) -> list[IngestEntry]:
        """Every entry of consumers that stopped polling or whose process is gone."""
        claimed = await take_from_dead_consumers(
            self._redis,
            self.stream,
            self.group,
            consumer,
            dead_after_ms=dead_after_ms,
            known_dead=process_is_gone,
        )
        return [e for _, i, f in claimed if (e := _decode(i, f)) is not None]

    async def present(self, entry_id: str) -> bool:
        """True while an entry is in the stream (not yet processed and acknowledged)."""
        return bool(await self._redis.xrange(self.stream, min=entry_id, max=entry_id, count=1))

    async def done(self, entry_id: str) -> None:
        """Acknowledge and delete: a stream of only what is still to be stored."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, entry_id)
            pipe.xdel(self.stream, entry_id)
            await pipe.execute()

    async def forget_chats(self, chat_keys: set[str]) -> int:
        """Drop the entries of these chats (digests), still to store or dead-lettered: an
        erased contact's raw updates must not outlive them in Redis."""
        dropped = 0
        for stream in (self.stream, DEAD_STREAM):
            ids: list[Any] = []
            start = "-"
            while True:
                entries = await self._redis.xrange(stream, min=start, count=500) or []
                for entry_id, fields in entries:
                    chat = next((v for k, v in (fields or {}).items() if _text(k) == "chat"), b"")
                    if _text(chat) in chat_keys:
                        ids.append(entry_id)
                if len(entries) < 500:
                    break
                start = f"({_text(entries[-1][0])}"
            if ids:
                if stream == self.stream:
                    await self._redis.xack(stream, self.group, *ids)
                dropped += int(await self._redis.xdel(stream, *ids))
        if chat_keys:
            await self._redis.delete(*(f"{LAST_PREFIX}{key}" for key in chat_keys))
        return dropped

    async def dead_letter(self, entry: IngestEntry, error: str) -> None:
        await self._redis.xadd(
            DEAD_STREAM,
            {
                "id": entry.id,
                "channel": entry.channel,
                "chat": entry.chat,
                "payload": entry.payload,
                "error": error[:500],
            },
            maxlen=DEAD_MAX_LEN,
            approximate=True,
        )
        await self.done(entry.id)

    async def backlog(self) -> int:
        """Entries appended and not yet stored (for tests, health and benchmarks)."""
        return int(await self._redis.xlen(self.stream))


class IngestConsumer:
    """Stores what the channels appended: per chat in order, chats side by side, once."""

    def __init__(
        self,
        redis: Redis,
        processors: Mapping[str, Processor],
        *,
        name: str | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.stream = IngestStream(redis)
        self.processors = dict(processors)
        self.name = name or process_name("ingest")
        self._slots = asyncio.Semaphore(concurrency)
        self._yielding = asyncio.Lock()
        self._chains: dict[str, asyncio.Task[bool]] = {}
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[bool]] = set()
        self._failures: dict[str, int] = {}
        self._retry_at: float | None = None
        self._storage_failures = 0
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Read, take over from the dead, retry what is held back; until `stop`."""
        loop = asyncio.get_running_loop()
        backoff = 0.0
        last_sweep = 0.0
        while not self._stopping.is_set():
            try:
                if backoff:
                    await asyncio.sleep(backoff)
                await self.stream.ensure_group()
                while not self._stopping.is_set():
                    now = loop.time()
                    if now - last_sweep >= SWEEP_S:
                        last_sweep = now
                        await self._sweep()
                    if self._retry_at is not None and now >= self._retry_at:
                        self._retry_at = None
                        held = await self.stream.read(self.name, count=1000, block_ms=0, own=True)
                        for entry in held:
                            self._schedule(entry)
                    room = MAX_IN_FLIGHT - len(self._in_flight)
                    if room <= 0:
                        await asyncio.sleep(0.01)
                        continue
                    entries = await self.stream.read(
                        self.name, count=min(room, 100), block_ms=READ_BLOCK_MS
                    )
                    for entry in entries:
                        self._schedule(entry)
                    backoff = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or restarting: keep trying
                backoff = min(max(backoff * 2, 0.2), MAX_RETRY_S)
                logger.warning("ingest consumer: {}; again in {:.1f}s", exc, backoff)

    async def _sweep(self) -> None:
        taken = await self.stream.claim_from_dead(self.name, dead_after_ms=DEAD_CONSUMER_MS)
        taken += await self.stream.reclaim(self.name, min_idle_ms=RECLAIM_IDLE_MS)
        for entry in sorted(taken, key=lambda e: _order(e.id)):
            self._schedule(entry)

    def _schedule(self, entry: IngestEntry) -> None:
        if entry.id in self._in_flight:
            return
        self._in_flight.add(entry.id)
        INGEST_BACKLOG.inc()
        before = self._chains.get(entry.chat)
        task = asyncio.create_task(self._handle(entry, before), name=f"ingest-{entry.id}")
        self._chains[entry.chat] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(entry, done))

    def _finished(self, entry: IngestEntry, task: asyncio.Task[bool]) -> None:
        self._tasks.discard(task)
        self._in_flight.discard(entry.id)
        INGEST_BACKLOG.dec()
        if self._chains.get(entry.chat) is task:
            del self._chains[entry.chat]

    async def _handle(self, entry: IngestEntry, before: asyncio.Task[bool] | None) -> bool:
        """Process one entry after the one before it; True once it left the stream."""
        if before is not None:
            with contextlib.suppress(BaseException):
                if not await asyncio.shield(before):
                    # Our own predecessor was held back: so is this one, to keep the order.
                    self._hold_back()
                    return False
        try:
            if entry.prev is not None and not await self._predecessor_gone(entry.prev):
                self._hold_back()
                return False
            async with self._slots:
                if not under_pressure():
                    return await self._process(entry)
                async with self._yielding:
                    started = time.monotonic()
                    stored = await self._process(entry)
                    # At most half the time: storing keeps up with a steady trickle.
                    await asyncio.sleep(min(time.monotonic() - started, PRESSURE_PAUSE_S))
                    return stored
        except RedisError as exc:
            logger.warning("ingest entry {} held back: {}", entry.id, exc)
            self._hold_back(storage=True)
            return False

    async def _predecessor_gone(self, prev: str) -> bool:
        """Wait a little for another consumer storing the chat's previous entry."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PREV_WAIT_S
        delay = 0.005
        while await self.stream.present(prev):
            if loop.time() > deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return True

    async def _process(self, entry: IngestEntry) -> bool:
        processor = self.processors.get(entry.channel)
        if processor is None:
            await self._dead(entry, f"no channel {entry.channel!r} in this process")
            return True
        try:
            await processor(entry.payload)
        except TRANSIENT as exc:
            logger.warning("ingest entry {} ({}) not stored yet: {}", entry.id, entry.channel, exc)
            self._hold_back(storage=True)
            return False
        except POISON as exc:
            await self._dead(entry, f"{type(exc).__name__}: {exc}")
            return True
        except Exception as exc:
            failures = self._failures[entry.id] = self._failures.get(entry.id, 0) + 1
            logger.exception(
                "ingest entry {} ({}) failed ({} times)", entry.id, entry.channel, failures
            )
            if failures >= MAX_FAILURES:
                await self._dead(entry, f"{type(exc).__name__}: {exc}")
                return True
            self._hold_back()
            return False
        self._failures.pop(entry.id, None)
        self._storage_failures = 0
        await self.stream.done(entry.id)
        INGESTED.labels(entry.channel, "stored").inc()
        return True

    async def _dead(self, entry: IngestEntry, error: str) -> None:
        # Never the payload in the log: it is what a customer wrote.
        logger.error("ingest entry {} ({}) dead-lettered: {}", entry.id, entry.channel, error[:200])
        self._failures.pop(entry.id, None)
        await self.stream.dead_letter(entry, error)
        INGESTED.labels(entry.channel, "dead").inc()

    def _hold_back(self, *, storage: bool = False) -> None:
        """Leave the entry pending; this consumer tries its held entries again soon."""
        if storage:
            self._storage_failures += 1
        delay = min(RETRY_S * 2 ** min(self._storage_failures, 5), MAX_RETRY_S)
        due = asyncio.get_running_loop().time() + delay
        if self._retry_at is None or due < self._retry_at:
            self._retry_at = due

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a grace period
        """Stop reading; let entries in progress finish (the rest stay pending for others)."""
        self._stopping.set()
        tasks = list(self._tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
