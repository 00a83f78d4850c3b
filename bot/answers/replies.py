"""Reply generation behind one interface: a chat model when configured, else none (yet)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from bot.answers.agent_context import ToolCallNote
from bot.answers.model_context import ModelContext
from bot.core.types import QuickReply, Source

TokenSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    sources: list[Source] = field(default_factory=list)
    tool_calls: list[ToolCallNote] = field(default_factory=list)
    # Set when the answer asks for an operator (the hand-off tool, or no confident answer).
    handoff_reason: str | None = None
    # Set when a guardrail replaced the answer (the reason, for operators).
    guardrail: str | None = None
    # True when the knowledge base had nothing for the question (a knowledge gap, analytics).
    abstained: bool = False
    # Buttons offered with the answer ("Talk to a person"); a press is a customer message.
    quick_replies: list[QuickReply] = field(default_factory=list)


class ReplyUnavailable(Exception):
    """No model is configured: the conversation goes to an operator."""


class ReplyFailed(Exception):
    """The model failed (timeout, error, empty or malformed output)."""


class ReplyGenerator(Protocol):
    """Produces the AI's answer for a model context, streaming tokens to `on_token`."""

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply: ...


class NoModel:
    """The embedded default without a model: every reply is handed to an operator."""

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        raise ReplyUnavailable("no chat model configured (OPENAI_API_KEY / OPENAI_BASE_URL)")


def to_langchain(context: ModelContext) -> list[BaseMessage]:
    messages: list[BaseMessage] = [SystemMessage(context.system_prompt)]
    for turn in context.turns:
        messages.append(HumanMessage(turn.text) if turn.role == "user" else AIMessage(turn.text))
    return messages
