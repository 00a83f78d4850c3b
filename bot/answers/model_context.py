"""build_model_context(): everything the model sees for one reply, inspectable without an LLM.

The system prompt is assembled from the enabled prompt blocks (ordered, scoped by channel and
language), the contact's and conversation's facts, the current time and business hours, and
the knowledge retrieved for the customer's latest messages (with source ids to cite). The
history is kept within a token budget; older turns are folded into a summary stored on the
conversation, so the next reply does not redo the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.answers.agent_context import AgentContext
from bot.answers.knowledge import KnowledgeHit, KnowledgeSearch
from bot.answers.pii import redact_pii
from bot.core.db import set_fields
from bot.core.documents import Contact, Conversation, Message, PromptBlock, utcnow
from bot.core.prompt_blocks import load_enabled, scoped
from bot.core.types import Author, Mode

DEFAULT_SYSTEM_PROMPT = (
    "You are the customer support assistant of this business. Answer briefly and politely "
    "in the customer's language. Use the knowledge base for facts about the business and "
    "cite the [source] of what you use. If you do not know, say so and offer to pass the "
    "conversation to a human operator. Never invent facts, prices or promises."
)
SUMMARY_TURN_CHARS = 160
SUMMARY_MAX_CHARS = 2000
# Below this much history text, masking it takes well under a millisecond: a thread hop
# would cost more than it saves.
INLINE_TEXT_CHARS = 8000


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (~4 characters a token, at least one a word).

    Exact counts would need a tokenizer's vocabulary file; a budget only needs to be safe.
    """
    return max(len(text) // 4, len(text.split())) + 4


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # "user" or "assistant"
    text: str
    seq: int = 0


@dataclass(frozen=True, slots=True)
class ModelContext:
    system_prompt: str
    turns: list[Turn]
    language: str | None
    # Customer messages this reply answers (the burst since the last answer).
    answering_through_seq: int
    agent: AgentContext
    knowledge: list[KnowledgeHit] = field(default_factory=list)
    summary: str | None = None
    # The instruction part of the prompt (the blocks): what an answer must never quote.
    instructions: str = ""
    prompt_block_ids: list[str] = field(default_factory=list)
    built_at: datetime = field(default_factory=utcnow)
    # Customer messages at or below this seq were answered before (the conversation's
    # `answered_seq` when the context was built); the ones above it are this reply's.
    answered_before_seq: int = 0
    # Every customer message this reply answers, also those only in the summary.
    answering_seqs: list[int] = field(default_factory=list)
    # The chat waits for a person (the AI helps meanwhile): no offer of one, no hand-off.
    waiting_for_person: bool = False

    @property
    def answering(self) -> list[Turn]:
        """The customer turns this reply answers: every one no earlier answer covered.

        Not merely the turns after the last answer: a message that arrived while the previous
        answer was generated is numbered before that answer but was never answered by it.
        """
        return [t for t in self.turns if t.role == "user" and t.seq > self.answered_before_seq]

    @property
    def question(self) -> str:
        """The customer's messages this reply answers, oldest first."""
        return "\n".join(turn.text for turn in self.answering)


def _facts(
    conversation: Conversation,
    contact: Contact | None,
    *,
    now: datetime,
    timezone: str,
    business_hours: str | None,
    pii_redaction: bool,
) -> str:
    local = now.astimezone(ZoneInfo(timezone))
    facts = [
        f"Channel: {conversation.channel}.",
        f"Current time: {local:%A %Y-%m-%d %H:%M} ({timezone}).",
    ]
    if business_hours:
        facts.append(f"Business hours: {business_hours}.")
    if contact and contact.display_name:
        name = redact_pii(contact.display_name) if pii_redaction else contact.display_name
        facts.append(f"Customer name: {name}.")
    if contact and contact.language:
        facts.append(f"Customer language: {contact.language}. Answer in it.")
    if conversation.mode is Mode.WAITING_OPERATOR:
        facts.append(
            "A person from the team has been asked to join this chat and will answer here. "
            "Until then, help with what you can; do not hand the chat over again and do not "
            "promise what that person will do."
        )
    return "Facts:\n" + "\n".join(facts)


def _knowledge_section(hits: list[KnowledgeHit]) -> str:
    lines = ["Knowledge base passages (cite the [source] you use):"]
    for hit in hits:
        lines.append(f"[{hit.source}] {hit.title}\n{hit.text}")
    return "\n\n".join(lines)


def summarize_turns(previous: str | None, turns: list[Turn]) -> str:
    """Fold turns into the running summary: extractive, deterministic, no model call."""
    lines = [previous] if previous else []
    for turn in turns:
        who = "Customer" if turn.role == "user" else "Assistant"
        text = " ".join(turn.text.split())
        if len(text) > SUMMARY_TURN_CHARS:
            text = text[: SUMMARY_TURN_CHARS - 1] + "…"
        lines.append(f"{who}: {text}")
    summary = "\n".join(lines)
    # Keep the newest part when the summary itself outgrows its budget.
    return summary[-SUMMARY_MAX_CHARS:]


def _turns(history: list[Message], pii_redaction: bool) -> list[Turn]:
    """The history as model turns; customer text cut to what was processed, PII masked.

    Every turn is masked: an operator or an earlier answer may repeat the customer's details.
    """
    turns: list[Turn] = []
    for message in history:
        if message.author is Author.SYSTEM:
            continue
        role = "user" if message.author is Author.CUSTOMER else "assistant"
        # A customer's photo without a caption is still a turn: its description.
        text = message.processed_text if role == "user" else message.text
        if not text:
            continue
        if pii_redaction:
            text = redact_pii(text)
        turns.append(Turn(role=role, text=text, seq=message.seq))
    return turns


async def build_model_context(
    *,
    conversation: Conversation,
    contact: Contact | None,
    history: list[Message],
    blocks: Sequence[PromptBlock] | None = None,
    knowledge: KnowledgeSearch | None = None,
    pii_redaction: bool = True,
    history_budget_tokens: int = 3000,
    timezone: str = "UTC",
    business_hours: str | None = None,
    now: datetime | None = None,
    store_summary: bool = True,
) -> ModelContext:
    """Assemble what the model will see; a new summary is stored on the conversation.

    `blocks` are the enabled prompt blocks (all scopes; read from storage when not given).
    """
    assert conversation.id is not None and conversation.contact_id is not None
    language = contact.language if contact else None
    if blocks is None:
        blocks = await load_enabled()
    blocks = scoped(blocks, conversation.channel, language)

    if sum(len(m.text) for m in history) > INLINE_TEXT_CHARS:
        # Masking is CPU work that grows with the text: off the event loop, which must keep
        # serving every other chat (and /health) meanwhile.
        all_turns = await asyncio.to_thread(_turns, history, pii_redaction)
    else:
        all_turns = _turns(history, pii_redaction)
    # The model reads a chat in the order it was answered: an answer follows what it
    # answered, so the messages no answer has covered yet come last, whatever their seq.
    covered = conversation.answered_seq
    open_turns = [t for t in all_turns if t.role == "user" and t.seq > covered]
    all_turns = [t for t in all_turns if not (t.role == "user" and t.seq > covered)] + open_turns

    # Into the budget, newest first: what this reply answers, then the rest of the history.
    # What does not fit is summarized (an open question too: the model still sees it, short).
    used = 0

    def newest_within_budget(turns: list[Turn], *, first: bool) -> list[Turn]:
        nonlocal used
        taken: list[Turn] = []
        for turn in reversed(turns):
            cost = estimate_tokens(turn.text)
            if (taken or not first) and used + cost > history_budget_tokens:
                break
            taken.append(turn)
            used += cost
        taken.reverse()
        return taken

    answered_turns = all_turns[: len(all_turns) - len(open_turns)]
    kept_open = newest_within_budget(open_turns, first=True)
    kept_answered = newest_within_budget(answered_turns, first=not kept_open)
    kept = kept_answered + kept_open
    kept_seqs = {t.seq for t in kept}
    dropped = [t for t in all_turns if t.seq not in kept_seqs and t.seq > conversation.summary_seq]
    summary = conversation.summary
    if dropped:
        summary = summarize_turns(summary, dropped)
        if store_summary:
            await set_fields(
                conversation,
                {
                    Conversation.summary: summary,
                    Conversation.summary_seq: max(t.seq for t in dropped),
                },
            )

    through = max(
        (m.seq for m in history if m.author is Author.CUSTOMER), default=conversation.answered_seq
    )
    agent = AgentContext(
        conversation_id=str(conversation.id),
        contact_id=str(conversation.contact_id),
        channel=conversation.channel,
        external_user_id=contact.external_user_id if contact else conversation.external_chat_id,
        language=language,
        display_name=contact.display_name if contact else None,
    )
    partial = ModelContext(
        system_prompt="",
        turns=kept,
        language=language,
        answering_through_seq=through,
        agent=agent,
        answered_before_seq=covered,
        answering_seqs=[t.seq for t in open_turns],
    )
    hits: list[KnowledgeHit] = []
    if knowledge is not None and partial.question:
        hits = await knowledge.search(partial.question, k=4, language=language)

    parts = [b.text.strip() for b in blocks if b.text.strip()] or [DEFAULT_SYSTEM_PROMPT]
    instructions = "\n\n".join(parts)
    parts.append(
        _facts(
            conversation,
            contact,
            now=now or utcnow(),
            timezone=timezone,
            business_hours=business_hours,
            pii_redaction=pii_redaction,
        )
    )
    if summary:
        parts.append("Summary of the earlier conversation:\n" + summary)
    if hits:
        parts.append(_knowledge_section(hits))
    return ModelContext(
        system_prompt="\n\n".join(parts),
        turns=kept,
        language=language,
        answering_through_seq=through,
        agent=agent,
        knowledge=hits,
        summary=summary,
        instructions=instructions,
        prompt_block_ids=[str(block.id) for block in blocks],
        answered_before_seq=covered,
        answering_seqs=[t.seq for t in open_turns],
        waiting_for_person=conversation.mode is Mode.WAITING_OPERATOR,
    )
