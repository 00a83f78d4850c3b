"""What an operator can do to conversations and prompt blocks: the services the panel calls.

Keyword-only functions on top of the core. Every action that changes a conversation
publishes its event (through `transition`, `append_message`, or here for `mark_read`), so
every open panel and widget sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beanie import PydanticObjectId
from pymongo import DESCENDING

from bot.core.assignment import assign_waiting
from bot.core.conversations import append_message, get_conversation
from bot.core.csat import request_rating
from bot.core.documents import Contact, Conversation, Message, Operator, PromptBlock, utcnow
from bot.core.modes import InvalidTransition, transition
from bot.core.outbox import deliver_pending
from bot.core.types import Attachment, Author, ConversationEvent, Mode, QuickReply

if TYPE_CHECKING:
    from bot.core.runtime import Core

CONVERSATION_READ = "conversation.read"
# How many of the newest matching messages a text search looks at.
SEARCH_MESSAGE_WINDOW = 500
MAX_LIST = 200


class ConversationNotFound(LookupError):
    """No conversation with this id."""


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """A conversation joined with its contact, as the chat list shows it."""

    conversation: Conversation
    contact: Contact | None


def operator_actor(operator: Operator) -> str:
    return f"operator:{operator.id}"


async def _conversation(conversation_id: str | PydanticObjectId) -> Conversation:
    conversation = await get_conversation(conversation_id)
    if conversation is None:
        raise ConversationNotFound(f"conversation {conversation_id} does not exist")
    return conversation


async def _search_ids(q: str) -> tuple[list[PydanticObjectId], list[PydanticObjectId]]:
    """(contact ids whose name matches, conversation ids with a recent message that matches)."""
    pattern = {"$regex": re.escape(q), "$options": "i"}
    contacts = (
        await Contact.get_pymongo_collection()
        .find({"display_name": pattern}, projection={"_id": 1})
        .to_list(length=MAX_LIST * 5)
    )
    messages = (
        await Message.get_pymongo_collection()
        .find({"text": pattern}, projection={"conversation_id": 1})
        .sort("created_at", DESCENDING)
        .to_list(length=SEARCH_MESSAGE_WINDOW)
    )
    conversation_ids = list(dict.fromkeys(raw["conversation_id"] for raw in messages))
    return [raw["_id"] for raw in contacts], conversation_ids


async def list_conversations(
    *,
    mode: Mode | None = None,
    channel: str | None = None,
    q: str | None = None,
    assignee_id: PydanticObjectId | None = None,
    limit: int = 100,
) -> list[ConversationSummary]:
    """Conversations with their contacts, newest activity first, optionally filtered.

    `q` matches the contact's display name or the text of recent messages, ignoring case.
    """
    query: dict[str, Any] = {}
    if mode is not None:
        query["mode"] = mode.value
    if channel:
        query["channel"] = channel
    if assignee_id is not None:
        query["assignee_id"] = assignee_id
    q = (q or "").strip()
    if q:
        contact_ids, conversation_ids = await _search_ids(q)
        if not contact_ids and not conversation_ids:
            return []
        query["$or"] = [{"contact_id": {"$in": contact_ids}}, {"_id": {"$in": conversation_ids}}]
    limit = max(1, min(limit, MAX_LIST))
    conversations = (
        await Conversation.find(query).sort("-last_message_at", "-_id").limit(limit).to_list()
    )
    wanted = list({c.contact_id for c in conversations})
    contacts = {c.id: c for c in await Contact.find({"_id": {"$in": wanted}}).to_list()}
    return [ConversationSummary(c, contacts.get(c.contact_id)) for c in conversations]


async def summary(conversation: Conversation) -> ConversationSummary:
    return ConversationSummary(conversation, await Contact.get(conversation.contact_id))


async def get_summary(*, conversation_id: str) -> ConversationSummary:
    return await summary(await _conversation(conversation_id))


async def unread_counts() -> dict[str, int]:
    """Conversation id → unread customer messages, for every conversation that has some."""
    rows = (
        await Conversation.get_pymongo_collection()
        .find({"unread_operator": {"$gt": 0}}, projection={"unread_operator": 1})
        .to_list(length=None)
    )
    return {str(row["_id"]): int(row["unread_operator"]) for row in rows}


async def mark_read(*, core: Core, conversation_id: str, operator: Operator) -> Conversation:
    """An operator has seen the customer's messages: the unread count goes to zero."""
    conversation = await _conversation(conversation_id)
    if conversation.unread_operator:
        await Conversation.get_pymongo_collection().update_one(
            {"_id": conversation.id}, {"$set": {"unread_operator": 0}}
        )
        conversation.unread_operator = 0
        await core.bus.publish(
            ConversationEvent(
                type=CONVERSATION_READ,
                conversation_id=str(conversation.id),
                data={"operator_id": str(operator.id), "unread": 0},
            )
        )
    return conversation


async def _operator_moves(
    core: Core, conversation_id: str, operator: Operator, to: Mode, reason: str
) -> Conversation:
    conversation = await _conversation(conversation_id)
    assert conversation.id is not None
    return await transition(
        core=core,
        conversation_id=conversation.id,
        to=to,
        actor=operator_actor(operator),
        assignee_id=operator.id if to is Mode.OPERATOR else None,
        reason=reason,
    )


async def takeover(*, core: Core, conversation_id: str, operator: Operator) -> Conversation:
    """The operator owns the chat from now on; the AI stops answering it."""
    return await _operator_moves(
        core, conversation_id, operator, Mode.OPERATOR, "taken over in the panel"
    )


async def handback(*, core: Core, conversation_id: str, operator: Operator) -> Conversation:
    """The AI answers this chat again."""
    return await _operator_moves(
        core, conversation_id, operator, Mode.AI, "handed back in the panel"
    )


async def close(*, core: Core, conversation_id: str, operator: Operator) -> Conversation:
    """The conversation is done; the customer's next message reopens it with the AI."""
    closed = await _operator_moves(
        core, conversation_id, operator, Mode.CLOSED, "closed in the panel"
    )
    await request_rating(core=core, conversation=closed)
    return closed


async def assign(
    *, core: Core, conversation_id: str, operator: Operator, to: Operator
) -> Conversation:
    """Give a waiting or taken chat to another (active) operator, recorded as who did it."""
    conversation = await _conversation(conversation_id)
    assert conversation.id is not None and to.id is not None
    if not to.active:
        raise ValueError("that operator is deactivated")
    if conversation.mode is Mode.OPERATOR:
        return await transition(
            core=core,
            conversation_id=conversation.id,
            to=Mode.OPERATOR,
            actor=operator_actor(operator),
            assignee_id=to.id,
            reason=f"assigned to {to.email}",
            notify=False,
        )
    if conversation.mode is not Mode.WAITING_OPERATOR:
        raise InvalidTransition(conversation.mode, Mode.OPERATOR)
    await assign_waiting(core, conversation.id, to.id, actor=operator_actor(operator))
    return await _conversation(conversation_id)


def _reply_meta(template: bool, quick_replies: list[QuickReply] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if template:
        meta["template"] = True
    if quick_replies:
        meta["quick_replies"] = [q.model_dump(exclude_none=True) for q in quick_replies]
    return meta


async def operator_reply(
    *,
    core: Core,
    conversation_id: str,
    operator: Operator,
    text: str,
    template: bool = False,
    quick_replies: list[QuickReply] | None = None,
    meta: dict[str, Any] | None = None,
    attachments: list[Attachment] | None = None,
) -> tuple[Message, Conversation]:
    """Store an operator's message and send it; the chat becomes this operator's first.

    With `template`, the channel sends it as its approved template (WhatsApp outside the
    24-hour window), the text filling the template's variables. `meta` is kept on the
    message for operators (a translated reply's original).
    """
    conversation = await _conversation(conversation_id)
    assert conversation.id is not None
    if conversation.mode is not Mode.OPERATOR or conversation.assignee_id != operator.id:
        conversation = await transition(
            core=core,
            conversation_id=conversation.id,
            to=Mode.OPERATOR,
            actor=operator_actor(operator),
            assignee_id=operator.id,
            reason="operator replied",
        )
    message, _ = await append_message(
        core=core,
        conversation=conversation,
        author=Author.OPERATOR,
        text=text,
        operator_id=operator.id,
        attachments=attachments,
        meta={**(meta or {}), **_reply_meta(template, quick_replies)},
    )
    await deliver_pending(core=core, conversation=conversation)
    # The delivery status was written by the outbox; read it back for the caller.
    stored = await Message.get(message.id) if message.id is not None else None
    fresh = await Conversation.get(conversation.id)
    return stored or message, fresh or conversation


# --- prompt blocks ----------------------------------------------------------------------------


async def list_prompt_blocks() -> list[PromptBlock]:
    return await PromptBlock.find_all().sort("+order", "+_id").to_list()


async def create_prompt_block(
    *,
    core: Core,
    name: str,
    text: str,
    enabled: bool = True,
    order: int = 0,
    channel: str | None = None,
    language: str | None = None,
    secret: bool = False,
) -> PromptBlock:
    block = PromptBlock(
        name=name,
        text=text,
        enabled=enabled,
        order=order,
        channel=channel,
        language=language,
        secret=secret,
    )
    await block.insert()
    await core.prompts.changed()
    return block


def _block_id(block_id: str) -> PydanticObjectId | None:
    try:
        return PydanticObjectId(block_id)
    except Exception:
        return None


async def update_prompt_block(
    *, core: Core, block_id: str, changes: dict[str, Any]
) -> PromptBlock | None:
    """Apply the given fields (name, text, enabled, order, channel, language, secret); None
    if unknown."""
    oid = _block_id(block_id)
    block = await PromptBlock.get(oid) if oid is not None else None
    if block is None:
        return None
    allowed = {"name", "text", "enabled", "order", "channel", "language", "secret"}
    fields = {key: value for key, value in changes.items() if key in allowed}
    fields["updated_at"] = utcnow()
    await block.set(fields)
    await core.prompts.changed()
    return block


async def delete_prompt_block(*, core: Core, block_id: str) -> bool:
    oid = _block_id(block_id)
    block = await PromptBlock.get(oid) if oid is not None else None
    if block is None:
        return False
    await block.delete()
    await core.prompts.changed()
    return True


# --- operator accounts and their sessions -----------------------------------------------------

# Published when an operator's session (or every session, on deactivation) ends, so every
# process closes the matching panel sockets at once. Its conversation id is no conversation's:
# only all-conversation subscribers (panel sockets) hear it, and they never forward it.
SESSION_ENDED = "operator.session_ended"
SESSIONS_TOPIC = "operator-sessions"


async def announce_session_ended(
    *, core: Core, operator_id: str, session_key: str | None = None
) -> None:
    """Tell every process that one session (or, without a key, every session) of an operator
    has ended."""
    await core.bus.publish(
        ConversationEvent(
            type=SESSION_ENDED,
            conversation_id=SESSIONS_TOPIC,
            data={"operator_id": operator_id, "session": session_key},
        )
    )


async def set_operator_active(*, core: Core, operator_id: str, active: bool) -> Operator | None:
    """Activate or deactivate an operator; a deactivated one is signed out everywhere."""
    if not PydanticObjectId.is_valid(operator_id):
        return None
    oid = PydanticObjectId(operator_id)
    found = await Operator.get_pymongo_collection().update_one(
        {"_id": oid}, {"$set": {"active": active}}
    )
    if found.matched_count == 0:
        return None
    operator = await Operator.get(oid)
    if not active:
        await announce_session_ended(core=core, operator_id=operator_id)
    return operator
