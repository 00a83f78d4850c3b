"""The answering engine of one process: what produces answers and where knowledge comes from."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
from langchain_core.tools import BaseTool
from loguru import logger

from bot.answers.guardrails import GuardrailConfig, Guardrails, embedders_for
from bot.answers.knowledge import KnowledgeSearch, RagKnowledge
from bot.answers.replies import ReplyGenerator
from bot.core.prompt_blocks import load_enabled
from bot.core.runtime import Core
from config import Settings
from config.settings import SettingsError


@dataclass
class Engine:
    """Built once per process beside the `Core`; the reply worker answers through it."""

    replier: ReplyGenerator
    knowledge: KnowledgeSearch
    guardrails: Guardrails | None = None


async def agent_tools(
    settings: Settings, knowledge: KnowledgeSearch, stack: contextlib.AsyncExitStack
) -> list[BaseTool]:
    """Built-in tools, HTTP actions from HTTP_ACTIONS_FILE and MCP tools from MCP_SERVERS."""
    from bot.answers.http_actions import (
        HttpActionConfigError,
        build_http_action_tools,
        load_http_actions,
        template_variables,
    )
    from bot.answers.mcp_tools import McpConfigError, load_mcp_tools, parse_mcp_servers
    from bot.answers.tools import builtin_tools

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
        from bot.answers.agent import AgentReplies

        return AgentReplies(settings, await agent_tools(settings, knowledge, stack))
    from bot.answers.kb_answers import KnowledgeAnswers

    return KnowledgeAnswers(knowledge)


@contextlib.asynccontextmanager
async def running_engine(
    core: Core,
    *,
    replier: ReplyGenerator | None = None,
    knowledge: KnowledgeSearch | None = None,
) -> AsyncIterator[Engine]:
    """The engine over a running core; the parts not given are built from its settings."""
    own_knowledge: RagKnowledge | None = None
    async with contextlib.AsyncExitStack() as stack:
        try:
            if knowledge is None:
                knowledge = own_knowledge = RagKnowledge(core.settings, redis=core.redis)
            if replier is None:
                replier = await default_replier(core.settings, knowledge, stack)
            guardrails = Guardrails(
                GuardrailConfig.from_settings(core.settings), embedders_for(knowledge)
            )
            engine = Engine(replier=replier, knowledge=knowledge, guardrails=guardrails)
            # Every lazy part loads now, not while the first customer waits.
            await warm_up(core, engine)
            yield engine
        finally:
            if own_knowledge is not None:
                own_knowledge.close()


# Each part of the warm-up gets this long; one that fails or hangs is left for first use.
WARM_UP_TIMEOUT_S = 120.0


async def warm_up(core: Core, engine: Engine) -> None:
    """Load what the first answer would otherwise load: the embedding models (the guardrails'
    and both of the knowledge base's), the vector store, the prompt blocks, the model client's
    connection and request path."""
    parts: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("prompt blocks", load_enabled),  # the query path only: the cache stays cold
    ]
    if engine.guardrails is not None:
        parts.append(("guardrail embedder", engine.guardrails.warm_up))
    if isinstance(engine.knowledge, RagKnowledge):
        parts.append(("knowledge base", engine.knowledge.base))
        parts.append(("knowledge search", lambda: _warm_knowledge(engine.knowledge)))
    replier_warm_up = getattr(engine.replier, "warm_up", None)
    if callable(replier_warm_up):
        parts.append(("model client", replier_warm_up))
    for name, part in parts:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(WARM_UP_TIMEOUT_S):
                await part()
        except Exception as exc:  # warming is an optimisation: never a reason not to start
            logger.warning("warm-up of {} failed ({}); it loads on first use", name, exc)
        else:
            logger.debug("warmed {} in {:.0f} ms", name, (time.perf_counter() - started) * 1000)


async def _warm_knowledge(knowledge: KnowledgeSearch) -> None:
    """Both query embedders and, when there is anything to find, one search."""
    assert isinstance(knowledge, RagKnowledge)
    kb = await knowledge.base()

    def embed() -> None:
        kb.query_vector("warm-up")
        kb.second_query_vector("warm-up")

    await asyncio.to_thread(embed)
    await knowledge.search("warm-up", k=1)
