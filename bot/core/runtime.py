"""The running core: the shared clients and registries every service function receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bot.core.cleanup import TransientState
from bot.core.events import EventBus
from config import Settings

if TYPE_CHECKING:
    from bot.core.prompt_blocks import PromptBlockCache
    from bot.core.queue import ReplyQueue
    from bot.core.ratelimit import RateLimiter
    from bot.core.types import OutputChannel


@dataclass
class Core:
    """Built once per process by the composition root; passed keyword-only to the services."""

    settings: Settings
    redis: Redis
    state: TransientState
    bus: EventBus
    queue: ReplyQueue
    limiter: RateLimiter
    mongo: AsyncMongoClient[dict[str, object]]
    prompts: PromptBlockCache
    outputs: dict[str, OutputChannel] = field(default_factory=dict)
    # Redis key patterns of caches keyed by what customers wrote (the knowledge base's search
    # cache): dropped when a contact is erased. Set by the composition root.
    derived_caches: tuple[str, ...] = ()

    def output(self, channel: str) -> OutputChannel | None:
        return self.outputs.get(channel)
