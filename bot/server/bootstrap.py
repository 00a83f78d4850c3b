"""Assemble and tear down the core of one process: servers, database, Redis, bus, queue."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from langchain_core.tools import BaseTool
from loguru import logger
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bot.cleanup import TransientState
from bot.db import connect_db
from bot.embedded import resolve_endpoints
from bot.events import EventBus
from bot.knowledge import KnowledgeSearch, RagKnowledge
from bot.prompt_blocks import PromptBlockCache
from bot.queue import ReplyQueue
from bot.ratelimit import RateLimiter
from bot.replies import ReplyGenerator
from bot.runtime import Core
from config import Settings
from config.logging import setup_logging
from config.sentry import setup_sentry
from config.settings import SettingsError


async def agent_tools(
    settings: Settings, knowledge: KnowledgeSearch, stack: contextlib.AsyncExitStack
) -> list[BaseTool]:
    """Built-in tools, HTTP actions from HTTP_ACTIONS_FILE and MCP tools from MCP_SERVERS."""
    from bot.http_actions import (
        HttpActionConfigError,
        build_http_action_tools,
        load_http_actions,
        template_variables,
    )
    from bot.mcp_tools import McpConfigError, load_mcp_tools, parse_mcp_servers
    from bot.tools import builtin_tools

    tools = builtin_tools(knowledge, pii_redaction=settings.pii_redaction)
    variables = template_variables(settings)
    try:
        if settings.http_actions_file is not None:
            actions = load_http_actions(settings.http_actions_file)
            client = await stack.enter_async_context(httpx.AsyncClient(follow_redirects=False))
            tools += build_http_action_tools(actions, client=client, variables=variables)
        servers = parse_mcp_servers(settings.mcp_servers)
        if servers:
            tools += await load_mcp_tools(servers, variables=variables)
    except (HttpActionConfigError, McpConfigError) as exc:
        raise SettingsError(f"configuration error: {exc}") from None
    return tools


async def default_replier(
    settings: Settings, knowledge: KnowledgeSearch, stack: contextlib.AsyncExitStack
) -> ReplyGenerator:
    """The agent with its tools when a chat model is configured, else knowledge-base answers."""
    if settings.llm_configured:
        from bot.agent import AgentReplies

        return AgentReplies(settings, await agent_tools(settings, knowledge, stack))
    from bot.kb_answers import KnowledgeAnswers

    return KnowledgeAnswers(knowledge)


@contextlib.asynccontextmanager
async def running_core(
    settings: Settings,
    *,
    replier: ReplyGenerator | None = None,
    knowledge: KnowledgeSearch | None = None,
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
    state = TransientState()
    bus: EventBus | None = None
    own_knowledge: RagKnowledge | None = None
    stack = contextlib.AsyncExitStack()
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
        if knowledge is None:
            knowledge = own_knowledge = RagKnowledge(settings, redis=redis)
        core = Core(
            settings=settings,
            redis=redis,
            state=state,
            bus=bus,
            queue=queue,
            replier=replier or await default_replier(settings, knowledge, stack),
            limiter=RateLimiter(settings.redis_url, exempt_loopback=settings.app_env != "prod"),
            mongo=mongo,
            knowledge=knowledge,
            prompts=PromptBlockCache(redis),
        )
        yield core
    finally:
        await stack.aclose()
        await state.release_all()
        if own_knowledge is not None:
            own_knowledge.close()
        if bus is not None:
            await bus.stop()
        if redis is not None:
            await redis.aclose()
        if mongo is not None:
            await mongo.close()
        if servers is not None:
            await servers.stop()
        logger.info("core stopped")
