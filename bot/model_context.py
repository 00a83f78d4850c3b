"""build_model_context(): everything the model sees for one reply, inspectable without an LLM."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.documents import Contact, Conversation, Message, PromptBlock, utcnow
from bot.pii import redact_pii
from bot.types import Author

DEFAULT_SYSTEM_PROMPT = (
    "You are the customer support assistant of this business. Answer briefly and politely "
    "in the customer's language. If you do not know the answer, say so and offer to pass "
    "the conversation to a human operator. Never invent facts, prices or promises."
)


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True, slots=True)
class ModelContext:
    system_prompt: str
    turns: list[Turn]
    language: str | None
    # Customer messages this reply answers (the burst since the last answer).
    answering_through_seq: int
    prompt_block_ids: list[str] = field(default_factory=list)
    built_at: datetime = field(default_factory=utcnow)


def _scoped(block: PromptBlock, channel: str, language: str | None) -> bool:
    return (block.channel in (None, channel)) and (
        block.language is None or block.language == language
    )


async def build_model_context(
    *,
    conversation: Conversation,
    contact: Contact | None,
    history: list[Message],
    pii_redaction: bool,
) -> ModelContext:
    """System prompt from the enabled prompt blocks plus the recent history, PII masked."""
    language = contact.language if contact else None
    blocks = [
        block
        for block in await PromptBlock.find(PromptBlock.enabled == True).sort("+order").to_list()  # noqa: E712
        if _scoped(block, conversation.channel, language)
    ]
    parts = [b.text.strip() for b in blocks if b.text.strip()] or [DEFAULT_SYSTEM_PROMPT]
    facts = [f"Channel: {conversation.channel}."]
    if contact and contact.display_name:
        name = redact_pii(contact.display_name) if pii_redaction else contact.display_name
        facts.append(f"Customer name: {name}.")
    if language:
        facts.append(f"Customer language: {language}.")
    parts.append("\n".join(facts))

    turns: list[Turn] = []
    for message in history:
        if message.author is Author.SYSTEM or not message.text:
            continue
        role = "user" if message.author is Author.CUSTOMER else "assistant"
        text = redact_pii(message.text) if pii_redaction and role == "user" else message.text
        turns.append(Turn(role=role, text=text))
    through = max(
        (m.seq for m in history if m.author is Author.CUSTOMER), default=conversation.answered_seq
    )
    return ModelContext(
        system_prompt="\n\n".join(parts),
        turns=turns,
        language=language,
        answering_through_seq=through,
        prompt_block_ids=[str(block.id) for block in blocks],
    )
