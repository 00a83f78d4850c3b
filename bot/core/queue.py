"""Reply jobs on a Redis stream with a consumer group: at least once, reclaimed from the dead."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

STREAM = "sb:reply-jobs"
GROUP = "reply-workers"
# Acknowledged jobs are trimmed; an approximate cap keeps the stream small.
MAX_LEN = 100_000


@dataclass(frozen=True, slots=True)
class ReplyJob:
    id: str
    conversation_id: str
    seq: int  # the customer message that asked for a reply
    # Lets the worker read the contact together with the conversation (absent in old jobs).
    contact_id: str | None = None
    # The question's text when it was queued: a hint that lets the worker start on it (the
    # input guardrail's embedding) while it reads the chat. What counts is what it reads.
    text: str | None = None
    # The dead consumer this job was taken from (see `claim_from_dead`).
    claimed_from: str | None = None
    deliveries: int = 1


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def take_from_dead_consumers(
    redis: Redis,
    stream: str,
    group: str,
    consumer: str,
    *,
    dead_after_ms: int,
    known_dead: Callable[[str], bool],
) -> list[tuple[str, Any, Any]]:
    """Claim for `consumer` every pending entry of the group's dead consumers, as
    (dead consumer, entry id, fields), and forget the consumers left with nothing.

    Dead: silent for `dead_after_ms`, or named by `known_dead` (a process known gone)."""
    try:
        consumers = await redis.xinfo_consumers(stream, group)
    except ResponseError:
        return []
    claimed: list[tuple[str, Any, Any]] = []
    for info in consumers:
        name = _text(info["name"])
        if name == consumer:
            continue
        if int(info.get("idle", 0)) < dead_after_ms and not known_dead(name):
            continue
        pending = await redis.xpending_range(
            stream, group, min="-", max="+", count=1000, consumername=name
        )
        ids: list[Any] = [entry["message_id"] for entry in pending]
        if ids:
            taken: list[Any] = await redis.xclaim(
                stream, group, consumer, min_idle_time=0, message_ids=ids
            )
            claimed += [(name, entry_id, fields) for entry_id, fields in taken]
        if len(ids) >= int(info.get("pending", 0)):
            await redis.xgroup_delconsumer(stream, group, name)
    return claimed


def _decode(entry_id: Any, fields: dict[Any, Any]) -> ReplyJob | None:
    data = {_text(k): _text(v) for k, v in fields.items()}
    try:
        return ReplyJob(
            id=_text(entry_id),
            conversation_id=data["conversation_id"],
            seq=int(data["seq"]),
            contact_id=data.get("contact_id") or None,
            text=data.get("text") or None,
        )
    except (KeyError, ValueError):
        return None


class ReplyQueue:
    """Producer and consumer side of the reply job stream."""

    def __init__(self, redis: Redis, *, stream: str = STREAM, group: str = GROUP) -> None:
        self._redis = redis
        self.stream = stream
        self.group = group

    async def ensure_group(self) -> None:
        """Create the stream and its consumer group once; harmless when they exist."""
        try:
            await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def enqueue(
        self,
        conversation_id: str,
        seq: int,
        *,
        contact_id: str | None = None,
        text: str | None = None,
    ) -> str:
        fields: dict[Any, Any] = {"conversation_id": conversation_id, "seq": str(seq)}
        if contact_id:
            fields["contact_id"] = contact_id
        if text:
            # Acknowledged jobs are deleted and an erasure drops waiting ones: the text is
            # in Redis only while its answer is on its way.
            fields["text"] = text
        entry_id = await self._redis.xadd(
            self.stream,
            fields,
            maxlen=MAX_LEN,
            approximate=True,
        )
        return _text(entry_id)

    async def read(self, consumer: str, *, count: int = 10, block_ms: int = 1000) -> list[ReplyJob]:
        """New jobs for this consumer; they stay pending until `ack`."""
        try:
            response = await self._redis.xreadgroup(
                self.group, consumer, {self.stream: ">"}, count=count, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()  # the stream was lost (e.g. Redis restarted empty)
            return []
        jobs: list[ReplyJob] = []
        streams: list[Any] = list(response or [])
        for _stream, entries in streams:
            for entry_id, fields in entries:
                job = _decode(entry_id, fields)
                if job is None:  # not ours to read: drop it rather than retry it forever
                    await self.ack(_text(entry_id))
                else:
                    jobs.append(job)
        return jobs

    async def reclaim(self, consumer: str, *, min_idle_ms: int, count: int = 10) -> list[ReplyJob]:
        """Take over jobs that another (dead) consumer held longer than `min_idle_ms`."""
        try:
            result = await self._redis.xautoclaim(
                self.stream,
                self.group,
                consumer,
                min_idle_time=min_idle_ms,
                start_id="0-0",
                count=count,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return []
        entries = result[1] if len(result) > 1 else []
        jobs: list[ReplyJob] = []
        for entry_id, fields in entries:
            if fields is None:
                continue
            job = _decode(entry_id, fields)
            if job is not None:
                jobs.append(job)
        return jobs

    async def claim_from_dead(
        self,
        consumer: str,
        *,
        dead_after_ms: int,
        known_dead: Callable[[str], bool] = lambda name: False,
    ) -> list[ReplyJob]:
        """Take every job of consumers that stopped polling, and forget those consumers.

        A live worker polls the stream at least every second, so a consumer silent for
        `dead_after_ms` belonged to a process that died (killed mid-reply): its jobs need not
        wait out the idle timeout of `reclaim`. Consumers `known_dead` says are gone are taken
        at once (a Redis that restarted counts every consumer's silence from its restart).
        """
        jobs: list[ReplyJob] = []
        for name, entry_id, fields in await take_from_dead_consumers(
            self._redis,
            self.stream,
            self.group,
            consumer,
            dead_after_ms=dead_after_ms,
            known_dead=known_dead,
        ):
            job = _decode(entry_id, fields) if fields else None
            if job is not None:
                jobs.append(dataclasses.replace(job, claimed_from=name))
        return jobs

    async def touch(self, consumer: str, job_id: str) -> None:
        """Reset a job's idle time: its consumer is alive and still working on it."""
        await self._redis.xclaim(
            self.stream, self.group, consumer, min_idle_time=0, message_ids=[job_id], justid=True
        )

    async def ack(self, job_id: str) -> None:
        await self._redis.xack(self.stream, self.group, job_id)
        await self._redis.xdel(self.stream, job_id)

    async def pending_count(self) -> int:
        info = await self._redis.xpending(self.stream, self.group)
        return int(info.get("pending", 0)) if isinstance(info, dict) else 0
