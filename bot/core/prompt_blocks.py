"""The enabled prompt blocks, cached per process until any process changes one.

Every reply needs them and they change rarely, so a reply reads one Redis key instead of
the collection. Whoever edits a block stamps that key with a fresh random value (not a
counter: a Redis that restarted empty must not bring back a value a cache already holds);
blocks written to MongoDB behind the platform's back show up within `MAX_AGE_S`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.core.documents import PromptBlock

VERSION_KEY = "sb:prompt-blocks:version"
MAX_AGE_S = 30.0


async def load_enabled() -> list[PromptBlock]:
    """The enabled blocks from storage, in their order."""
    return await PromptBlock.find(PromptBlock.enabled == True).sort("+order").to_list()  # noqa: E712


def scoped(blocks: Sequence[PromptBlock], channel: str, language: str | None) -> list[PromptBlock]:
    """The blocks that apply to a chat: unscoped ones and those of its channel and language."""
    return [
        block
        for block in blocks
        if block.channel in (None, "", channel) and block.language in (None, "", language)
    ]


class PromptBlockCache:
    """`enabled()` for the reply path; `changed()` after every edit."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._blocks: list[PromptBlock] | None = None
        self._version: bytes | str | None = None
        self._loaded_at = 0.0

    async def enabled(self) -> list[PromptBlock]:
        try:
            version = await self._redis.get(VERSION_KEY)
        except RedisError:
            return await load_enabled()  # no way to know what changed: read it
        fresh = time.monotonic() - self._loaded_at < MAX_AGE_S
        if self._blocks is not None and fresh and version == self._version:
            return self._blocks
        # Tagged with the version read before the blocks: an edit racing this read leaves
        # a newer version behind, and the next call reads again.
        blocks = await load_enabled()
        self._blocks, self._version, self._loaded_at = blocks, version, time.monotonic()
        return blocks

    async def changed(self) -> None:
        """Tell every process's cache that the blocks changed."""
        self._blocks = None
        await self._redis.set(VERSION_KEY, uuid.uuid4().hex)
