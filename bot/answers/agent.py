"""The AI agent: LangChain's create_agent with tools, streamed, under limits.

Tool calls are journaled (name, arguments, result, time) for operators, and a failing or
slow tool becomes a message the model can explain instead of a crash. A tool loop ends at
`AGENT_MAX_MODEL_CALLS` model calls and counts as a failure, which the worker answers with
the fallback policy.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import (
    AgentMiddleware,
    InputAgentState,
    ModelCallLimitMiddleware,
    ModelRetryMiddleware,
    ToolCallLimitMiddleware,
    ToolCallRequest,
)
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.types import Command, StreamMode

from bot.answers.agent_context import AgentContext, ToolCallNote
from bot.answers.model_context import ModelContext
from bot.answers.pii import redact_pii
from bot.answers.replies import Reply, ReplyFailed, TokenSink, to_langchain
from bot.core.types import Source
from config import Settings

RESULT_NOTE_CHARS = 2000


class ToolJournal(AgentMiddleware[Any, AgentContext, Any]):
    """Records every tool call on the run's notes and turns failures into tool messages."""

    def __init__(self, *, timeout_s: float, pii_redaction: bool = True) -> None:
        super().__init__()
        self.timeout_s = timeout_s
        self.pii_redaction = pii_redaction

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        call = request.tool_call
        name = str(call.get("name", "?"))
        note = ToolCallNote(name=name, args=dict(call.get("args") or {}))
        started = time.perf_counter()
        result: ToolMessage | Command[Any]
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await handler(request)
        except TimeoutError:
            note.error = f"timed out after {self.timeout_s:g} s"
            result = self._error(call, f"The tool {name} did not answer in time. {_RECOVER}")
        except Exception as exc:  # any tool fault is the model's to explain, not a crash
            note.error = f"{type(exc).__name__}: {exc}"[:300]
            result = self._error(call, f"The tool {name} failed ({type(exc).__name__}). {_RECOVER}")
        else:
            if isinstance(result, ToolMessage):
                content = (
                    result.content
                    if isinstance(result.content, str)
                    else json.dumps(result.content, ensure_ascii=False, default=str)
                )
                if result.status == "error":
                    note.error = content[:300]
                else:
                    note.result = content[:RESULT_NOTE_CHARS]
                if self.pii_redaction and isinstance(result.content, str):
                    # What a tool returns (an order's contact details) is the customer's too.
                    result.content = redact_pii(result.content)
        finally:
            note.duration_ms = round((time.perf_counter() - started) * 1000, 1)
            context = request.runtime.context if request.runtime is not None else None
            if isinstance(context, AgentContext):
                context.notes.tool_calls.append(note)
        return result

    @staticmethod
    def _error(call: Any, text: str) -> ToolMessage:
        return ToolMessage(content=text, tool_call_id=str(call.get("id") or ""), status="error")


_RECOVER = "Tell the customer you could not check this right now, or offer an operator."


class AgentReplies:
    """Answers with an OpenAI-compatible model through create_agent and its tools."""

    def __init__(self, settings: Settings, tools: Sequence[BaseTool]) -> None:
        from langchain_openai import ChatOpenAI

        api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "none"
        model = ChatOpenAI(
            model=settings.llm_model,
            api_key=api_key,
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout_seconds,
            max_retries=0,  # retried by ModelRetryMiddleware, with backoff
            streaming=True,
        )
        self.tools = list(tools)
        self._model = model
        self._deadline = settings.llm_timeout_seconds * 2
        middleware: list[AgentMiddleware[Any, AgentContext, Any]] = [
            ToolJournal(
                timeout_s=settings.tool_timeout_seconds, pii_redaction=settings.pii_redaction
            ),
            # Past the limit a tool call is refused with a message; the model answers without it.
            ToolCallLimitMiddleware(
                run_limit=settings.agent_max_tool_calls, exit_behavior="continue"
            ),
            ModelCallLimitMiddleware(
                run_limit=settings.agent_max_model_calls, exit_behavior="error"
            ),
            ModelRetryMiddleware(
                max_retries=1,
                initial_delay=0.5,
                backoff_factor=2.0,
                max_delay=4.0,
                on_failure="error",
            ),
        ]
        self._agent = create_agent(
            model, self.tools, context_schema=AgentContext, middleware=middleware
        )

    async def warm_up(self) -> None:
        """Open the model client's connection and build its request path once, before the
        first customer: the tool schemas, the SDK's request types, a keep-alive socket (one
        `GET /models`, which costs no tokens)."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        for tool in self.tools:
            convert_to_openai_tool(tool)
        client = self._model.root_async_client
        if client is not None:
            await client.with_options(timeout=5.0, max_retries=0).models.list()

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        messages: list[Any] = list(to_langchain(context))
        final: list[BaseMessage] = []
        try:
            async with asyncio.timeout(self._deadline):
                modes: list[StreamMode] = ["messages", "values"]
                stream = self._agent.astream(
                    InputAgentState(messages=messages), context=context.agent, stream_mode=modes
                )
                item: Any
                async for item in stream:
                    mode, payload = item
                    if mode == "messages":
                        chunk, meta = payload
                        if (
                            isinstance(chunk, AIMessageChunk)
                            and meta.get("langgraph_node") == "model"
                        ):
                            piece = str(chunk.text)
                            if piece:
                                await on_token(piece)
                    elif mode == "values":
                        final = list(payload.get("messages", []))
        except Exception as exc:
            raise ReplyFailed(f"{type(exc).__name__}: {exc}"[:500]) from exc
        answer = next((m for m in reversed(final) if isinstance(m, AIMessage)), None)
        text = str(answer.text).strip() if answer is not None else ""
        if answer is not None and answer.tool_calls and not text:
            raise ReplyFailed("the agent stopped in the middle of a tool call")
        if not text:
            raise ReplyFailed("the model returned an empty answer")
        notes = context.agent.notes
        return Reply(
            text=text,
            sources=[Source(title=t, source=s) for t, s in notes.sources],
            tool_calls=list(notes.tool_calls),
            handoff_reason=notes.handoff_reason,
            # It searched the knowledge base and found nothing it could cite.
            abstained=not notes.sources
            and any(c.name == "search_knowledge_base" for c in notes.tool_calls),
        )
