"""The answering engine of one process: what produces answers and where knowledge comes from."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from langchain_core.tools import BaseTool

from bot.answers.guardrails import GuardrailConfig, Guardrails, embedder_for
from bot.answers.knowledge import KnowledgeSearch, RagKnowledge
from bot.answers.replies import ReplyGenerator
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
                GuardrailConfig.from_settings(core.settings), embedder_for(knowledge)
            )
            # The embedding model loads now, not while the first customer waits.
            await guardrails.warm_up()
            yield Engine(replier=replier, knowledge=knowledge, guardrails=guardrails)
        finally:
            if own_knowledge is not None:
                own_knowledge.close()
