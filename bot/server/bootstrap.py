"""Assemble and tear down the core of one process: servers, database, Redis, bus, queue."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from loguru import logger
from pymongo import AsyncMongoClient
from redis.asyncio import BlockingConnectionPool, Redis

from bot.core.cleanup import TransientState
from bot.core.db import connect_db
from bot.core.events import EventBus
from bot.core.prompt_blocks import PromptBlockCache
from bot.core.queue import ReplyQueue
from bot.core.ratelimit import RateLimiter
from bot.core.runtime import Core
from bot.server.embedded import resolve_endpoints
from config import Settings
from config.logging import setup_logging
from config.sentry import setup_sentry

REDIS_POOL_WAIT_S = 5.0


def derived_caches() -> tuple[str, ...]:
    """Redis key patterns of caches keyed by customers' words, for `Core.derived_caches`.

    Imported here, not at the top: the knowledge base's package takes seconds to import, and
    only the processes that can erase a contact (the app, `contacts erase`) need this.
    """
    from bot.answers.chat_brief import SUMMARY_CACHE_PATTERN
    from rag.settings import KBSettings

    return (KBSettings().search_cache_pattern(), SUMMARY_CACHE_PATTERN)


@contextlib.asynccontextmanager
async def running_core(
    settings: Settings,
    *,
    configure_logging: bool = True,
) -> AsyncIterator[Core]:
    """The core of one process; local servers are started (or attached to) when embedded."""
    if configure_logging:
        setup_logging(settings)
        setup_sentry(settings)
    settings, servers = await resolve_endpoints(settings)
    assert settings.mongodb_uri is not None and settings.redis_url is not None
    mongo: AsyncMongoClient[dict[str, object]] | None = None
    redis: Redis | None = None
    pool: BlockingConnectionPool | None = None
    state = TransientState()
    bus: EventBus | None = None
    try:
        mongo = await connect_db(settings.mongodb_uri, settings.mongodb_db)
        # One pool for the process (commands, pub/sub, rate limits): a caller waits up to
        # REDIS_POOL_WAIT_S for a free connection instead of failing with "Too many
        # connections" the moment a burst outgrows it.
        pool = BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            timeout=REDIS_POOL_WAIT_S,
            health_check_interval=15,
            socket_keepalive=True,
            retry_on_timeout=True,
        )
        redis = Redis(connection_pool=pool)
        bus = EventBus(redis, state)
        await bus.start()
        queue = ReplyQueue(redis)
        await queue.ensure_group()
        core = Core(
            settings=settings,
            redis=redis,
            state=state,
            bus=bus,
            queue=queue,
            limiter=RateLimiter(
                settings.redis_url,
                exempt_loopback=settings.app_env != "prod",
                connection_pool=pool,
            ),
            mongo=mongo,
            prompts=PromptBlockCache(redis),
        )
        yield core
    finally:
        await state.release_all()
        if bus is not None:
            await bus.stop()
        if redis is not None:
            await redis.aclose()
        if pool is not None:
            await pool.disconnect()
        if mongo is not None:
            await mongo.close()
        if servers is not None:
            await servers.stop()
        logger.info("core stopped")
