"""Copilot for operators: a reply drafted from the knowledge base, never sent by itself.

With a chat model the draft comes from the agent over the same model context the bot
answers with, but with read-only tools only (knowledge search): a draft must never run an
HTTP action, an MCP tool or a hand-off, since nobody has decided to send it yet. Without a
model it is the best knowledge passage, shaped as an operator's reply. Either way PII is
masked before text reaches the model (as for the bot) and put back in the draft.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from beanie import PydanticObjectId
from loguru import logger

from bot.answers.guardrails.output import OutputPolicy, check_leak
from bot.answers.kb_answers import MAX_ANSWER_CHARS, choose_passages, readable
from bot.answers.knowledge import KnowledgeHit, KnowledgeSearch, is_heading_path
from bot.answers.model_context import ModelContext, build_model_context
from bot.answers.pii import redact_pii, restore_pii
from bot.answers.replies import ReplyFailed
from bot.core.documents import Contact, Conversation, Message, PromptBlock
from bot.core.types import Author, Source
from config import Settings

# What the model is told on top of the bot's own prompt: it writes for a person to review.
COPILOT_INSTRUCTION = (
    "You are drafting the next reply for a human support operator, who will read and edit it "
    "before sending it to the customer. Answer the customer's latest message(s) in their "
    "language, briefly, using only facts from the knowledge base; say plainly what you do "
    "not know. Write the reply text only: no notes to the operator."
)
# Earlier customer messages searched when the latest ones find nothing ("a person, please").
EARLIER_QUESTIONS = 3
_WANTS_PERSON = re.compile(
    r"\b(operator|human|person|agent|manager|someone real)\b|(оператор|человек|менеджер)",
    re.IGNORECASE,
)
_CLOSING = {
    "en": "Is there anything else I can help you with?",
    "ru": "Могу ли я помочь чем-то ещё?",
}


class NothingToAnswer(LookupError):
    """The conversation has no customer message to draft an answer to."""


@dataclass(frozen=True, slots=True)
class Draft:
    """A suggested reply and what it stands on."""

    text: str
    sources: list[Source]
    # The newest customer message the draft answers: a newer one makes it stale.
    answers_message_id: str
    answers_seq: int
    generated: Literal["model", "knowledge"]
    tool_calls: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The draft as the panel's API returns it."""
        return {
            "text": self.text,
            "sources": [{"title": s.title, "source": s.source} for s in self.sources],
            "answers_message_id": self.answers_message_id,
            "answers_seq": self.answers_seq,
            "generated": self.generated,
            "tool_calls": self.tool_calls,
        }


def latest_customer_run(history: Sequence[Message]) -> list[Message]:
    """The customer's messages since the last AI or operator message (system notices do not
    count); the newest customer message when the chat ends with an answer."""
    run: list[Message] = []
    for message in reversed(history):
        if message.author is Author.CUSTOMER:
            run.append(message)
        elif message.author is not Author.SYSTEM:
            break
    if not run:
        last = next((m for m in reversed(history) if m.author is Author.CUSTOMER), None)
        run = [last] if last is not None else []
    run.reverse()
    return run


class Copilot:
    """Drafts for one process's knowledge base and settings; the model agent is built once."""

    def __init__(self, settings: Settings, knowledge: KnowledgeSearch) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self._agent: Any = None
        self._chat: Any = None
        self._building = asyncio.Lock()

    async def complete(self, system: str, user: str) -> str:
        """One plain model call without tools (for the take-over summary)."""
        async with self._building:
            if self._chat is None:
                self._chat = await asyncio.to_thread(self._build_chat)
        from langchain_core.messages import HumanMessage, SystemMessage

        try:
            answer = await self._chat.ainvoke([SystemMessage(system), HumanMessage(user)])
        except Exception as exc:
            raise ReplyFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
        text = str(answer.text).strip()
        if not text:
            raise ReplyFailed("the model returned an empty answer")
        return text

    def _build_chat(self) -> Any:
        from langchain_openai import ChatOpenAI

        key = self.settings.openai_api_key
        return ChatOpenAI(
            model=self.settings.llm_model,
            api_key=key.get_secret_value() if key else "none",
            base_url=self.settings.openai_base_url,
            timeout=self.settings.llm_timeout_seconds,
            max_retries=1,
        )

    async def _read_only_agent(self) -> Any:
        """The agent with the knowledge search as its only tool (no side effects)."""
        async with self._building:
            if self._agent is None:
                # Importing and compiling the agent takes a while: off the event loop.
                self._agent = await asyncio.to_thread(self._build_agent)
        return self._agent

    def _build_agent(self) -> Any:
        from bot.answers.agent import AgentReplies
        from bot.answers.tools import knowledge_tools

        tools = knowledge_tools(self.knowledge, pii_redaction=self.settings.pii_redaction)
        return AgentReplies(self.settings, tools)

    async def suggest(
        self,
        *,
        conversation: Conversation,
        contact: Contact | None,
        history: list[Message],
        blocks: Sequence[PromptBlock],
    ) -> Draft:
        """A draft answer to the customer's latest messages, with its sources."""
        run = latest_customer_run(history)
        if not run:
            raise NothingToAnswer("the customer has not written anything yet")
        newest = run[-1]
        # The model reads the chat as if those messages were the ones still unanswered.
        view = conversation.model_copy(update={"answered_seq": run[0].seq - 1})
        context = await build_model_context(
            conversation=view,
            contact=contact,
            history=history,
            blocks=blocks,
            knowledge=self.knowledge,
            pii_redaction=self.settings.pii_redaction,
            history_budget_tokens=self.settings.history_budget_tokens,
            timezone=self.settings.timezone,
            business_hours=self.settings.business_hours,
            store_summary=False,
        )
        anchor = {"answers_message_id": str(newest.id), "answers_seq": newest.seq}
        if self.settings.llm_configured:
            try:
                return await self._from_model(context, history, blocks, anchor)
            except ReplyFailed as exc:
                logger.warning("copilot draft from the model failed: {}", exc)
        return await self._from_knowledge(context, history, run, anchor)

    async def _from_model(
        self,
        context: ModelContext,
        history: list[Message],
        blocks: Sequence[PromptBlock],
        anchor: dict[str, Any],
    ) -> Draft:
        async def ignore(_: str) -> None:
            return None  # a draft is shown whole, not streamed

        prompted = replace(
            context, system_prompt=context.system_prompt + "\n\n" + COPILOT_INSTRUCTION
        )
        agent = await self._read_only_agent()
        reply = await agent.generate(prompted, on_token=ignore)
        text = reply.text
        # An operator may send the draft unread: it must not carry the prompt or a secret block.
        policy = OutputPolicy(
            instructions=context.instructions,
            secret_texts=tuple(b.text for b in blocks if b.secret),
        )
        leak = check_leak(text, policy)
        if not leak.allowed:
            raise ReplyFailed(f"the draft failed the output check ({leak.rule})")
        if self.settings.pii_redaction:
            originals = [m.text for m in history if m.author is Author.CUSTOMER and m.text]
            text = restore_pii(text, originals)
        sources = list(reply.sources)
        # Passages given in the prompt count where the draft cites them.
        for hit in context.knowledge:
            cited = hit.source in text
            if cited and all(s.source != hit.source for s in sources):
                sources.append(Source(title=hit.title, source=hit.source))
        return Draft(
            text=text,
            sources=sources,
            generated="model",
            tool_calls=[call.name for call in reply.tool_calls],
            **anchor,
        )

    async def _from_knowledge(
        self,
        context: ModelContext,
        history: list[Message],
        run: list[Message],
        anchor: dict[str, Any],
    ) -> Draft:
        hits = context.knowledge
        question = context.question
        if not hits or (_WANTS_PERSON.search(question) and len(question) < 60):
            hits = await self._earlier_hits(history, run) or hits
        passages = choose_passages(hits, context.language)
        if not passages:
            return Draft(text="", sources=[], generated="knowledge", **anchor)
        body = []
        for hit in passages:
            passage = readable(_without_heading(hit.text))
            limit = MAX_ANSWER_CHARS // len(passages)
            if len(passage) > limit:
                passage = passage[: limit - 1].rstrip() + "…"
            body.append(passage)
        body.append(_CLOSING.get(context.language or "en", _CLOSING["en"]))
        return Draft(
            text="\n\n".join(body),
            sources=[Source(title=h.title, source=h.source) for h in passages],
            generated="knowledge",
            **anchor,
        )

    async def _earlier_hits(self, history: list[Message], run: list[Message]) -> list[KnowledgeHit]:
        """Hits for the customer's earlier questions, newest first, when the latest messages
        only ask for a person or find nothing."""
        latest = {m.seq for m in run}
        earlier = [
            m
            for m in reversed(history)
            if m.author is Author.CUSTOMER and m.text and m.seq not in latest
        ][:EARLIER_QUESTIONS]
        for message in earlier:
            question = message.processed_text
            if self.settings.pii_redaction:
                question = redact_pii(question)
            if _WANTS_PERSON.search(question) and len(question) < 60:
                continue
            hits = await self.knowledge.search(question, k=4, language=None)
            if hits:
                return hits
        return []


def _without_heading(text: str) -> str:
    """A chunk without its "Document > Section" line: an operator's reply has no headings."""
    paragraphs = text.strip().split("\n\n", 1)
    if len(paragraphs) == 2 and is_heading_path(paragraphs[0].strip()):
        return paragraphs[1]
    return text


async def newer_customer_message(conversation: Conversation, draft_for: str) -> Message | None:
    """The customer message stored after the one a draft answered (None: the draft is current).

    Raises LookupError when `draft_for` names no customer message of this conversation.
    """
    try:
        oid = PydanticObjectId(draft_for)
    except Exception:
        raise LookupError("draft_for names no message") from None
    answered = await Message.find_one(
        {"_id": oid, "conversation_id": conversation.id, "author": Author.CUSTOMER.value}
    )
    if answered is None:
        raise LookupError("draft_for names no customer message of this conversation")
    return await Message.find_one(
        {
            "conversation_id": conversation.id,
            "author": Author.CUSTOMER.value,
            "seq": {"$gt": answered.seq},
        }
    )
