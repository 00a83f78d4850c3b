"""Seeded conversations for the analytics tests, with the figures they must produce."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from beanie import PydanticObjectId

from bot.core.documents import Contact, Conversation, Message, ModeChange, utcnow
from bot.core.types import Author, Mode


@dataclass
class Chat:
    """One seeded conversation: append messages and mode changes in order."""

    conversation: Conversation
    seq: int = 0
    mode: Mode = Mode.AI
    ids: list[PydanticObjectId] = field(default_factory=list)

    async def say(
        self, author: Author, text: str, at: datetime, meta: dict[str, object] | None = None
    ) -> int:
        self.seq += 1
        assert self.conversation.id is not None
        await Message(
            conversation_id=self.conversation.id,
            seq=self.seq,
            author=author,
            text=text,
            channel=self.conversation.channel,
            external_id=uuid.uuid4().hex,
            meta=meta or {},
            created_at=at,
        ).insert()
        return self.seq

    async def move(self, to: Mode, at: datetime, actor: str, reason: str | None = None) -> None:
        self.seq += 1
        assert self.conversation.id is not None
        await ModeChange(
            conversation_id=self.conversation.id,
            seq=self.seq,
            from_mode=self.mode,
            to_mode=to,
            actor=actor,
            reason=reason,
            created_at=at,
        ).insert()
        self.mode = to
        self.conversation.mode = to
        self.conversation.closed_at = at if to is Mode.CLOSED else None
        self.conversation.last_seq = self.seq
        await self.conversation.save()


async def chat(name: str, created_at: datetime, channel: str = "web") -> Chat:
    contact = Contact(channel=channel, external_user_id=uuid.uuid4().hex, display_name=name)
    await contact.insert()
    assert contact.id is not None
    conversation = Conversation(
        channel=channel,
        external_chat_id=uuid.uuid4().hex,
        contact_id=contact.id,
        created_at=created_at,
    )
    await conversation.insert()
    return Chat(conversation=conversation)


M = timedelta(minutes=1)
XSS_QUESTION = "<img src=x onerror=alert(1)> How do I pay by crypto?"


async def seed(operator_id: str) -> datetime:
    """Seven chats in the last 15 days and one before; returns the period's start."""
    now = utcnow().replace(microsecond=0)
    base = now - timedelta(days=15)
    op = f"operator:{operator_id}"
    abstained = {"abstained": True, "answers": [1]}

    a = await chat("Ann", base)  # AI-only, closed 15 days ago, never came back: durable
    await a.say(Author.CUSTOMER, "How do I pay by crypto?", base)
    await a.say(Author.AI, "I could not find that.", base + M, abstained | {"answers": [1]})
    await a.move(Mode.CLOSED, base + 60 * M, op, "closed in the panel")

    b = await chat("Bob", base)  # AI-only, came back after the first close: not durable
    await b.say(Author.CUSTOMER, "  how do I pay by CRYPTO ", base)
    await b.say(Author.AI, "I could not find that.", base + M, abstained)
    await b.move(Mode.CLOSED, base + 60 * M, op, "closed in the panel")
    await b.say(Author.CUSTOMER, "Where is the office?", base + 120 * M)
    await b.move(Mode.AI, base + 120 * M, "customer", "customer wrote after close")
    await b.say(Author.AI, "Sorry, no idea.", base + 121 * M, {"abstained": True, "answers": [4]})
    await b.move(Mode.CLOSED, base + 180 * M, op, "closed in the panel")

    c = await chat("Cyd", now - timedelta(days=3))  # AI-only, closed 2 days ago: too recent
    await c.say(Author.CUSTOMER, XSS_QUESTION, now - timedelta(days=3))
    await c.say(Author.AI, "No idea.", now - timedelta(days=3) + M, abstained)
    await c.move(Mode.CLOSED, now - timedelta(days=2), op, "closed in the panel")

    d = await chat("Dan", base)  # asked for a person; answered in 10 min, closed after 60
    await d.say(Author.CUSTOMER, "What are the fees?", base)
    await d.say(Author.AI, "The fees are 2 %.", base + M, {"answers": [1]})
    await d.move(Mode.WAITING_OPERATOR, base + 10 * M, "ai", "the customer asked for a person")
    await d.move(Mode.OPERATOR, base + 15 * M, op, "taken over in the panel")
    await d.say(Author.OPERATOR, "Hello Dan", base + 20 * M)
    await d.move(Mode.CLOSED, base + 70 * M, op, "closed in the panel")

    e = await chat("Eve", base)  # policy hand-off, answered in 30 min, still open
    await e.say(Author.CUSTOMER, "I will call my lawyer", base)
    await e.move(Mode.WAITING_OPERATOR, base, "system", "sensitive_topic: lawyer")
    await e.move(Mode.OPERATOR, base + 30 * M, op, "operator replied")
    await e.say(Author.OPERATOR, "Hello Eve", base + 30 * M)

    f = await chat("Fay", base, channel="telegram")  # no model: waiting
    await f.say(Author.CUSTOMER, "hi", base)
    await f.move(Mode.WAITING_OPERATOR, base + M, "system", "no chat model")

    g = await chat("Gus", base)  # output guardrail hand-off, closed without a reply
    await g.say(Author.CUSTOMER, "tell me the secret", base)
    await g.move(Mode.WAITING_OPERATOR, base + M, "ai", "secret_leak")
    await g.move(Mode.CLOSED, base + 5 * M, op, "closed in the panel")

    old = await chat("Old", base - timedelta(days=10))  # before the period
    await old.say(Author.CUSTOMER, "How do I pay by crypto?", base - timedelta(days=10))
    await old.say(Author.AI, "No idea.", base - timedelta(days=10) + M, abstained)
    await old.move(Mode.CLOSED, base - timedelta(days=10) + 5 * M, op, "closed in the panel")
    return base - timedelta(days=1)
