"""Conversation events fanned out through Redis pub/sub so any process can reach any socket.

Each process holds one Redis subscription and routes events to its local subscribers by
conversation id; a thousand sockets cost one Redis connection, not a thousand. An event is
handed to this process's own subscribers at once and sent through Redis to the others: a
streamed token reaches a socket in the same process without a Redis round trip, and the
process skips its own events when Redis echoes them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from loguru import logger
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.core.cleanup import TransientState, connection_scope, conversation_scope
from bot.core.types import ConversationEvent

EVENTS_CHANNEL = "sb:events"
ALL_CONVERSATIONS = "*"
MODE_CHANGED = "mode.changed"
RESYNC = "resync"

EVENT_QUEUE_OVERFLOWS = Counter(
    "switchboard_event_queue_overflows_total",
    "Sockets that fell behind their event queue and were resynced from storage",
)


def encode_event(event: ConversationEvent, *, origin: str = "") -> str:
    return json.dumps(
        {
            "type": event.type,
            "conversation_id": event.conversation_id,
            "seq": event.seq,
            "data": event.data,
            "origin": origin,
        },
        default=str,
        ensure_ascii=False,
    )


def decode_event(raw: str | bytes) -> tuple[ConversationEvent, str]:
    """The event and the id of the bus that published it."""
    body: dict[str, Any] = json.loads(raw)
    event = ConversationEvent(
        type=str(body["type"]),
        conversation_id=str(body["conversation_id"]),
        seq=body.get("seq"),
        data=dict(body.get("data") or {}),
    )
    return event, str(body.get("origin") or "")


class LocalSubscription:
    """A bounded queue of one subscriber; if it overflows, the reader resyncs from storage.

    A socket that cannot keep up (a slow client while a long answer streams) must not hold
    unbounded memory, so events past `maxsize` are dropped. Its next `get()` then returns a
    single `resync` event instead of what was still queued: everything queued is older
    than what was dropped, so the reader's refill from storage covers it all.
    """

    def __init__(self, bus: EventBus, key: str, owner: str, maxsize: int = 1000) -> None:
        self.id = uuid.uuid4().hex
        self.key = key
        self.owner = owner
        self._bus = bus
        self._queue: asyncio.Queue[ConversationEvent | None] = asyncio.Queue(maxsize)
        # Set when events may have been missed (queue overflow, Redis reconnect).
        self.needs_resync = False
        self.closed = False

    def _offer(self, event: ConversationEvent | None) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            if event is None:
                # The end must get through: the reader would otherwise wait forever.
                self._queue.get_nowait()
                self._queue.put_nowait(None)
            elif not self.needs_resync:
                EVENT_QUEUE_OVERFLOWS.inc()
            self.needs_resync = True

    def mark_gap(self) -> None:
        self.needs_resync = True
        self._offer(ConversationEvent(type="resync", conversation_id=self.key))  # wakes get()

    async def get(self) -> ConversationEvent | None:
        """The next event, a `resync` after missed events, or None once closed."""
        if not self.needs_resync:
            if self.closed and self._queue.empty():
                return None
            event = await self._queue.get()
            if event is None or event.type != RESYNC:
                return event
        self.needs_resync = False
        while not self._queue.empty():
            if self._queue.get_nowait() is None:
                return None
        return ConversationEvent(type=RESYNC, conversation_id=self.key)

    async def __aiter__(self) -> AsyncIterator[ConversationEvent]:
        while True:
            event = await self.get()
            if event is None:
                return
            yield event

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._bus._remove(self)
        self._offer(None)


class EventBus:
    """Publishes events to Redis and delivers the ones it hears to local subscribers."""

    def __init__(self, redis: Redis, state: TransientState) -> None:
        self._redis = redis
        self._state = state
        self.id = uuid.uuid4().hex  # marks this process's events so it skips their echo
        self._subs: dict[str, dict[str, LocalSubscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="event-bus")
            await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for subs in list(self._subs.values()):
            for sub in list(subs.values()):
                await sub.close()

    async def publish(self, event: ConversationEvent) -> None:
        """Send an event to every process; a Redis outage loses only the push to other processes.

        Local subscribers get the event as it went over the wire (decoded from the same
        JSON), so they see one shape whichever process published it.
        """
        raw = encode_event(event, origin=self.id)
        await self._dispatch(decode_event(raw)[0])
        try:
            await self._redis.publish(EVENTS_CHANNEL, raw)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            logger.warning("event {} not published: {}", event.type, exc)

    def subscribe(self, conversation_id: str, *, owner: str) -> LocalSubscription:
        """Events of one conversation (or of all, with `ALL_CONVERSATIONS`) for one owner."""
        sub = LocalSubscription(self, conversation_id, owner)
        self._subs.setdefault(conversation_id, {})[sub.id] = sub
        self._state.register(connection_scope(owner), f"sub:{sub.id}", sub.close)
        return sub

    def _remove(self, sub: LocalSubscription) -> None:
        subs = self._subs.get(sub.key)
        if subs is not None:
            subs.pop(sub.id, None)
            if not subs:
                del self._subs[sub.key]
        self._state.discard(connection_scope(sub.owner), f"sub:{sub.id}")

    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    async def _dispatch(self, event: ConversationEvent) -> None:
        if event.type == MODE_CHANGED:
            # Whatever this process held for the old mode (typing, a reply stream) ends here.
            await self._state.release(conversation_scope(event.conversation_id))
        for key in (event.conversation_id, ALL_CONVERSATIONS):
            for sub in list(self._subs.get(key, {}).values()):
                sub._offer(event)

    def _mark_all_gaps(self) -> None:
        for subs in self._subs.values():
            for sub in subs.values():
                sub.mark_gap()

    async def _listen(self) -> None:
        backoff = 0.2
        first = True
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(EVENTS_CHANNEL)
                self._ready.set()
                if not first:
                    logger.info("event bus reconnected to Redis")
                    self._mark_all_gaps()
                first = False
                backoff = 0.2
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    try:
                        event, origin = decode_event(item["data"])
                    except (ValueError, KeyError, TypeError):
                        logger.warning("dropped a malformed event")
                        continue
                    if origin != self.id:  # our own were delivered when published
                        await self._dispatch(event)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                logger.warning("event bus lost Redis ({}); retrying in {:.1f}s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
