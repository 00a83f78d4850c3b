"""The AI never talks over a person: its messages are fenced on the conversation's mode.

The AI speaks in AI mode, and in a chat that waits for a person nobody has taken or been
given yet (`AI_HELPS_WHILE_WAITING`). An AI answer takes an `AiFence` (the conversation's
`mode_version` then) when its job starts. Every mode change bumps the version
(`bot.core.modes.transition`), and an operator's reply or take-over is a mode change.
The fence is checked where it matters:

- storing: the message's seq is reserved by one conditional update on the conversation
  (its mode and the fence's version), and read back after the insert; a take-over that
  came in between deletes the message before anyone is told of it;
- sending: just before the channel's `send()` the outbox checks the fence again (the
  version is kept on the message); a message that fails it is marked failed, never sent;
- ordering: a conversation's outbound messages leave one at a time (a short Redis lock),
  so an AI answer that passed its check reaches the customer before the "operator joined"
  notice or the operator's first reply, never after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beanie import PydanticObjectId
from loguru import logger
from redis.exceptions import RedisError

from bot.core.conversations import append_message, publish_created, read_pinned
from bot.core.documents import Conversation, Message
from bot.core.types import Author, Mode, Source

if TYPE_CHECKING:
    from bot.core.runtime import Core

# Where a fenced message keeps the version it was stored under (operators never see it).
FENCE_META = "ai_fence"
WITHHELD = "not sent: an operator took the chat before it went out"
# A conversation's sends are serialized by this lock; a holder that died frees it after
# SEND_LOCK_TTL_MS, and a sender waits at most SEND_LOCK_WAIT_S before going on unordered.
SEND_LOCK_TTL_MS = 15_000
SEND_LOCK_WAIT_S = 5.0
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def ai_may_answer(conversation: Conversation, *, while_waiting: bool) -> bool:
    """True while the AI is the one to answer this chat's customer."""
    if conversation.mode is Mode.AI:
        return True
    return (
        while_waiting
        and conversation.mode is Mode.WAITING_OPERATOR
        and conversation.assignee_id is None
    )


class Fenced(Exception):
    """The conversation left the AI (or changed hands) since the fence was taken."""


@dataclass(frozen=True, slots=True)
class AiFence:
    """The AI's right to speak in one conversation, as of one mode version."""

    conversation_id: PydanticObjectId
    version: int

    @classmethod
    def of(cls, conversation: Conversation) -> AiFence:
        """The fence of a conversation as read now (its mode is the caller's to check)."""
        assert conversation.id is not None
        return cls(conversation.id, conversation.mode_version)

    def admits(self, stored: dict[str, Any]) -> bool:
        """True if the conversation as stored (its `PINNED_FIELDS`) is still the AI's here.

        Every mode change bumps the version, so the version pins the mode the fence was
        taken in; a waiting chat given to an operator (no mode change) is out too.
        Conversations stored before the version existed count as version 0.
        """
        if (stored.get("mode_version") or 0) != self.version:
            return False
        mode = stored.get("mode")
        return mode == Mode.AI.value or (
            mode == Mode.WAITING_OPERATOR.value and stored.get("assignee_id") is None
        )

    async def holds(self) -> bool:
        """True while the conversation is still the AI's at this version."""
        stored = await read_pinned(self.conversation_id)
        return stored is not None and self.admits(stored)


async def append_fenced(
    *,
    core: Core,
    fence: AiFence,
    conversation: Conversation,
    author: Author,
    text: str,
    external_id: str | None = None,
    sources: list[Source] | None = None,
    meta: dict[str, Any] | None = None,
    message_id: PydanticObjectId | None = None,
) -> tuple[Message, bool]:
    """Store an AI-side message and publish it, only while the fence holds; else `Fenced`.

    Returns the message and whether it is new (a known `external_id` is the stored one).
    """
    try:
        message, created = await append_message(
            core=core,
            conversation=conversation,
            author=author,
            text=text,
            external_id=external_id,
            sources=sources,
            meta={**(meta or {}), FENCE_META: fence.version},
            message_id=message_id,
            publish=False,
            only_if=fence.admits,  # the seq is reserved only while the fence holds
        )
    except LookupError as exc:
        raise Fenced(f"conversation {fence.conversation_id} is no longer the AI's") from exc
    if not created:
        return message, False
    if not await fence.holds():
        # A take-over landed between the seq and the insert: nobody has heard of this
        # message yet, and nobody will.
        await Message.get_pymongo_collection().delete_one({"_id": message.id})
        raise Fenced(f"conversation {fence.conversation_id} was taken while storing")
    await publish_created(core, message)
    return message, True


async def may_send(message: Message) -> bool:
    """False for a fenced message whose conversation has left the AI since it was stored."""
    version = message.meta.get(FENCE_META)
    if not isinstance(version, int):
        return True
    return await AiFence(message.conversation_id, version).holds()


@contextlib.asynccontextmanager
async def ordered_sends(core: Core, conversation_id: PydanticObjectId) -> AsyncIterator[None]:
    """Hold the conversation's send lock (best effort: without Redis, sends go unordered)."""
    key = f"sb:lock:send:{conversation_id}"
    token = uuid.uuid4().hex
    held = False
    deadline = time.monotonic() + SEND_LOCK_WAIT_S
    try:
        while True:
            if await core.redis.set(key, token, nx=True, px=SEND_LOCK_TTL_MS):
                held = True
                break
            if time.monotonic() > deadline:
                logger.warning("send lock of {} still held; sending unordered", conversation_id)
                break
            await asyncio.sleep(0.01)
    except RedisError as exc:
        logger.warning("send lock of {} unavailable ({}); sending unordered", conversation_id, exc)
    try:
        yield
    finally:
        if held:
            with contextlib.suppress(RedisError):
                await core.redis.eval(_RELEASE, 1, key, token)
