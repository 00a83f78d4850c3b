"""Assemble and tear down the core of one process: servers, database, Redis, bus, queue."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from loguru import logger
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bot.cleanup import TransientState
from bot.db import connect_db
from bot.embedded import resolve_endpoints
from bot.events import EventBus
from bot.knowledge import KnowledgeSearch, NoKnowledge
from bot.queue import ReplyQueue
from bot.ratelimit import RateLimiter
from bot.replies import ReplyGenerator
from bot.runtime import Core
from config import Settings
from config.logging import setup_logging
from config.sentry import setup_sentry


def default_replier(settings: Settings, knowledge: KnowledgeSearch) -> ReplyGenerator:
    """The agent with its tools when a chat model is configured, else knowledge-base answers."""
    if settings.llm_configured:
        from bot.agent import AgentReplies
        from bot.tools import builtin_tools

        return AgentReplies(
            settings, builtin_tools(knowledge, pii_redaction=settings.pii_redaction)
        )
    from bot.kb_answers import KnowledgeAnswers

    return KnowledgeAnswers(knowledge)


@contextlib.asynccontextmanager
async def running_core(
    settings: Settings, *, replier: ReplyGenerator | None = None, configure_logging: bool = True
) -> AsyncIterator[Core]:
    """The core of one process; local servers are started (or attached to) when embedded."""
    if configure_logging:
        setup_logging(settings)
        setup_sentry(settings)
    settings, servers = await resolve_endpoints(settings)
    assert settings.mongodb_uri is not None and settings.redis_url is not None
    mongo: AsyncMongoClient[dict[str, object]] | None = None
    redis: Redis | None = None
    state = TransientState()
    bus: EventBus | None = None
    try:
        mongo = await connect_db(settings.mongodb_uri, settings.mongodb_db)
        redis = Redis.from_url(
            settings.redis_url,
            health_check_interval=15,
            socket_keepalive=True,
            retry_on_timeout=True,
        )
        bus = EventBus(redis, state)
        await bus.start()
        queue = ReplyQueue(redis)
        await queue.ensure_group()
        knowledge: KnowledgeSearch = NoKnowledge()
        core = Core(
            settings=settings,
            redis=redis,
            state=state,
            bus=bus,
            queue=queue,
            replier=replier or default_replier(settings, knowledge),
            limiter=RateLimiter(settings.redis_url),
            mongo=mongo,
            knowledge=knowledge,
        )
        yield core
    finally:
        await state.release_all()
        if bus is not None:
            await bus.stop()
        if redis is not None:
            await redis.aclose()
        if mongo is not None:
            await mongo.close()
        if servers is not None:
            await servers.stop()
        logger.info("core stopped")
