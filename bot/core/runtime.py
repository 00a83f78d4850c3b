"""The running core: the shared clients and registries every service function receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bot.cleanup import TransientState
from bot.events import EventBus
from config import Settings

if TYPE_CHECKING:
    from bot.knowledge import KnowledgeSearch
    from bot.prompt_blocks import PromptBlockCache
    from bot.queue import ReplyQueue
    from bot.ratelimit import RateLimiter
    from bot.replies import ReplyGenerator
    from bot.types import OutputChannel


@dataclass
class Core:
    """Built once per process by the composition root; passed keyword-only to the services."""

    settings: Settings
    redis: Redis
    state: TransientState
    bus: EventBus
    queue: ReplyQueue
    replier: ReplyGenerator
    limiter: RateLimiter
    mongo: AsyncMongoClient[dict[str, object]]
    knowledge: KnowledgeSearch
    prompts: PromptBlockCache
    outputs: dict[str, OutputChannel] = field(default_factory=dict)

    def output(self, channel: str) -> OutputChannel | None:
        return self.outputs.get(channel)
