"""The agent's built-in tools: knowledge search and hand-off to an operator."""

from __future__ import annotations

from langchain.tools import ToolRuntime, tool
from langchain_core.tools import BaseTool

from bot.answers.agent_context import AgentContext
from bot.answers.knowledge import KnowledgeSearch
from bot.answers.pii import redact_pii

MAX_PASSAGE_CHARS = 1200


def knowledge_tools(knowledge: KnowledgeSearch, *, pii_redaction: bool) -> list[BaseTool]:
    """`search_knowledge_base` over the given knowledge base."""

    @tool
    async def search_knowledge_base(query: str, runtime: ToolRuntime[AgentContext]) -> str:
        """Search the business's knowledge base (policies, FAQ, product facts).

        Use it before answering any question about the business. Cite the [source] of every
        passage you use. If nothing relevant is found, say you do not know.
        """
        context = runtime.context
        hits = await knowledge.search(
            redact_pii(query) if pii_redaction else query, k=4, language=context.language
        )
        if not hits:
            return "No relevant passage found in the knowledge base."
        parts = []
        for hit in hits:
            if (hit.title, hit.source) not in context.notes.sources:
                context.notes.sources.append((hit.title, hit.source))
            parts.append(f"[{hit.source}] {hit.title}\n{hit.text[:MAX_PASSAGE_CHARS]}")
        return "\n\n".join(parts)

    return [search_knowledge_base]


@tool
async def handoff_to_operator(reason: str, runtime: ToolRuntime[AgentContext]) -> str:
    """Pass the conversation to a human operator.

    Use it when the customer asks for a person, is upset, or needs something you cannot do
    or do not know. After calling it, tell the customer briefly that an operator will
    continue here.
    """
    runtime.context.notes.handoff_reason = reason.strip()[:300] or "requested by the assistant"
    return "Done: an operator will take over after your message. Tell the customer."


def builtin_tools(knowledge: KnowledgeSearch, *, pii_redaction: bool) -> list[BaseTool]:
    return [*knowledge_tools(knowledge, pii_redaction=pii_redaction), handoff_to_operator]
