"""Watching a conversation for customer messages that join a burst while it is answered.

The reply worker answers a customer's first message at once instead of waiting for the rest
of a burst. If the customer writes again before the answer is stored, the answer in flight
is cancelled (nothing of it is stored or sent) and the worker answers the whole burst.
The watch hears `message.created` events on the bus, which reaches every process: the
message may have come in through any API process.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from bot.core.events import EventBus
from bot.core.types import Author

_MESSAGE_CREATED = "message.created"


class BurstWatch:
    """The newest customer message heard in one conversation, and a hook for when it passes
    what the answer in flight covers."""

    def __init__(self, bus: EventBus, conversation_id: str) -> None:
        self._sub = bus.subscribe(conversation_id, owner=f"burst:{uuid.uuid4().hex}")
        self.newest = 0  # the newest customer seq heard since the watch began
        self._covered: int | None = None
        self._on_grow: Callable[[], Any] | None = None
        self._task = asyncio.create_task(self._listen(), name=f"burst-{conversation_id}")

    @property
    def grew(self) -> bool:
        """A customer message newer than what the armed answer covers was heard."""
        return self._covered is not None and self.newest > self._covered

    def arm(self, covered: int) -> None:
        """The answer being prepared covers the customer's messages up to `covered`."""
        self._covered = covered

    def disarm(self) -> None:
        """From here on the answer is stored whatever arrives (its messages get their own)."""
        self._covered = None
        self._on_grow = None

    def on_grow(self, hook: Callable[[], Any] | None) -> None:
        """Call `hook` (once) as soon as the burst grows; at once if it already has."""
        self._on_grow = hook
        self._fire()

    def _fire(self) -> None:
        if self.grew and self._on_grow is not None:
            hook, self._on_grow = self._on_grow, None
            hook()

    async def _listen(self) -> None:
        async for event in self._sub:
            if event.type != _MESSAGE_CREATED:
                continue  # a `resync` (missed events) is covered by the check before storing
            message = event.data.get("message") or {}
            if message.get("author") != Author.CUSTOMER.value:
                continue
            seq: Any = event.seq if event.seq is not None else message.get("seq")
            with contextlib.suppress(TypeError, ValueError):
                self.newest = max(self.newest, int(seq))
                self._fire()

    async def close(self) -> None:
        self._on_grow = None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._sub.close()
