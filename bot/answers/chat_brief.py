"""The take-over summary: what the customer wants, what the AI answered and tried, why the
chat came to a person. Extracted from the messages without a model, written by one when it
is configured; cached in Redis until the chat changes (its sequence or mode moves on)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from loguru import logger
from redis.asyncio import Redis

from bot.answers.copilot import Copilot
from bot.answers.pii import redact_pii, restore_pii
from bot.answers.replies import ReplyFailed
from bot.core.conversations import latest_messages
from bot.core.documents import Conversation, Message, ModeChange
from bot.core.types import Author, Mode

SUMMARY_CACHE_PREFIX = "sb:copilot:summary:"
# Every cached summary holds customers' words: erasing a contact drops them all.
SUMMARY_CACHE_PATTERN = SUMMARY_CACHE_PREFIX + "*"
SUMMARY_TTL_S = 86_400
# The newest messages read for a summary (plus the customer's first one).
RECENT_MESSAGES = 60
TEXT_CHARS = 300
RESULT_CHARS = 200
MAX_ANSWERS = 3
MAX_TOOL_CALLS = 6

SUMMARY_INSTRUCTION = (
    "You brief a support operator who is taking over a chat from the AI assistant. In at "
    "most five short lines say: what the customer wants; what the assistant answered and "
    "tried (tools and their results); why the chat was handed to a person. Facts from the "
    "transcript only. Write in English."
)


@dataclass(frozen=True, slots=True)
class ToolTried:
    name: str
    result: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Brief:
    """A chat's summary for the operator taking it over."""

    wants: list[str]
    ai_answers: list[str]
    tool_calls: list[ToolTried]
    handoff_reason: str | None
    text: str
    generated: Literal["model", "extractive"]
    # The chat's sequence and mode version the summary was made at.
    version: str
    sources: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The summary as the panel's API returns it."""
        return asdict(self)


def _short(text: str, limit: int = TEXT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def version_of(conversation: Conversation) -> str:
    """What changes whenever the chat does: a message or a mode change moves `last_seq`."""
    return f"{conversation.last_seq}.{conversation.mode_version}"


def extract(history: list[Message], changes: list[ModeChange], *, version: str) -> Brief:
    """The summary from the messages alone (no model)."""
    asks = [m for m in history if m.author is Author.CUSTOMER and m.text.strip()]
    wants = [_short(asks[0].text)] if asks else []
    if len(asks) > 1:
        wants.append(_short(asks[-1].text))
    answers = [m for m in history if m.author is Author.AI and m.text.strip()]
    ai_answers = [_short(m.text) for m in answers[-MAX_ANSWERS:]]
    sources: list[dict[str, str]] = []
    tools: list[ToolTried] = []
    for message in answers:
        for source in message.sources:
            row = {"title": source.title, "source": source.source}
            if row not in sources:
                sources.append(row)
        for call in message.meta.get("tool_calls", []):
            if not isinstance(call, dict):
                continue
            result = call.get("result")
            error = call.get("error")
            tools.append(
                ToolTried(
                    name=str(call.get("name", "?")),
                    result=_short(str(result), RESULT_CHARS) if result else None,
                    error=_short(str(error), RESULT_CHARS) if error else None,
                )
            )
    tools = tools[-MAX_TOOL_CALLS:]
    handoff = next(
        (
            c
            for c in reversed(changes)
            if c.to_mode in (Mode.WAITING_OPERATOR, Mode.OPERATOR) and c.from_mode is Mode.AI
        ),
        None,
    )
    reason = (handoff.reason or _actor_reason(handoff.actor)) if handoff else None
    lines = []
    if wants:
        lines.append(f"The customer wants: {wants[0]}")
        if len(wants) > 1:
            lines.append(f"Latest message: {wants[1]}")
    if ai_answers:
        lines.append(f"The AI answered: {ai_answers[-1]}")
    for tool in tools:
        outcome = f"error: {tool.error}" if tool.error else (tool.result or "no result")
        lines.append(f"Tool {tool.name}: {outcome}")
    if reason:
        lines.append(f"Handed to a person: {reason}")
    return Brief(
        wants=wants,
        ai_answers=ai_answers,
        tool_calls=tools,
        handoff_reason=reason,
        text="\n".join(lines) or "Nothing has happened in this chat yet.",
        generated="extractive",
        version=version,
        sources=sources,
    )


def _actor_reason(actor: str) -> str:
    return "an operator took the chat over" if actor.startswith("operator:") else actor


def _transcript(history: list[Message], brief: Brief, *, pii_redaction: bool) -> str:
    lines = []
    for message in history:
        if not message.text.strip():
            continue
        who = {Author.CUSTOMER: "Customer", Author.AI: "Assistant"}.get(
            message.author, message.author.value.capitalize()
        )
        lines.append(f"{who}: {_short(message.text, 600)}")
    for tool in brief.tool_calls:
        lines.append(f"Tool call {tool.name}: {tool.error or tool.result or 'no result'}")
    if brief.handoff_reason:
        lines.append(f"Hand-off reason: {brief.handoff_reason}")
    text = "\n".join(lines)
    return redact_pii(text) if pii_redaction else text


async def _history(conversation: Conversation) -> list[Message]:
    assert conversation.id is not None
    recent = await latest_messages(conversation.id, limit=RECENT_MESSAGES)
    firsts = (
        await Message.find({"conversation_id": conversation.id, "author": Author.CUSTOMER.value})
        .sort("seq")
        .limit(1)
        .to_list()
    )
    if firsts and all(m.seq != firsts[0].seq for m in recent):
        recent.insert(0, firsts[0])
    return recent


async def chat_brief(*, redis: Redis, copilot: Copilot, conversation: Conversation) -> Brief:
    """The chat's summary: from the cache while the chat has not changed since it was made."""
    version = version_of(conversation)
    key = f"{SUMMARY_CACHE_PREFIX}{conversation.id}:{version}"
    cached = await redis.get(key)
    if cached is not None:
        data = json.loads(cached)
        data["tool_calls"] = [ToolTried(**t) for t in data["tool_calls"]]
        return Brief(**data)
    history = await _history(conversation)
    changes = (
        await ModeChange.find({"conversation_id": conversation.id}).sort("-seq").limit(20).to_list()
    )
    changes.reverse()
    brief = extract(history, changes, version=version)
    settings = copilot.settings
    if settings.llm_configured and history:
        try:
            text = await copilot.complete(
                SUMMARY_INSTRUCTION,
                _transcript(history, brief, pii_redaction=settings.pii_redaction),
            )
            if settings.pii_redaction:
                text = restore_pii(text, [m.text for m in history if m.text])
            brief = replace(brief, text=text, generated="model")
        except ReplyFailed as exc:
            logger.warning("copilot summary from the model failed: {}", exc)
    await redis.set(key, json.dumps(brief.as_json(), ensure_ascii=False), ex=SUMMARY_TTL_S)
    return brief
