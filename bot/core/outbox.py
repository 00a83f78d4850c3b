"""Outbound delivery: every message to a customer leaves through its channel's `send()`."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from beanie import PydanticObjectId
from loguru import logger

from bot.core.conversations import set_message_status
from bot.core.documents import Contact, Conversation, Message, utcnow
from bot.core.fencing import WITHHELD, may_send, ordered_sends
from bot.core.metrics import OUTBOUND_MESSAGES
from bot.core.processes import process_is_gone, process_name
from bot.core.types import Author, DeliveryStatus, OutboundMessage

if TYPE_CHECKING:
    from bot.core.runtime import Core

# A claim older than this belongs to a process that died mid-send.
CLAIM_TTL = timedelta(minutes=2)
# The sweep leaves a fresh message to the process that is storing and sending it.
SWEEP_SETTLE = timedelta(seconds=5)
# Who claims in this process: a successor on this host sees at once that it died.
CLAIMANT = process_name("outbox")


def outbound_of(
    message: Message, conversation: Conversation, contact: Contact | None
) -> OutboundMessage:
    """What a channel needs to send a stored message: its view, the chat, the window."""
    return OutboundMessage(
        message=message.view(),
        external_chat_id=conversation.external_chat_id,
        customer_last_wrote_at=conversation.last_customer_message_at,
        display_name=contact.display_name if contact is not None else None,
        template=bool(message.meta.get("template")),
    )


async def _claim(message: Message, *, steal_from: str | None = None) -> bool:
    """Take a pending message for sending so two processes never send it twice.

    `steal_from` names a claimant known to be dead, whose fresh claim may be taken. Each way
    a message can be claimable is its own atomic attempt, the first that matches wins: one
    filter with an `$or` would be a collection scan on the embedded database (its planner
    uses an index only for a filter whose fields are all in it), paid for every message sent.
    """
    now = utcnow()
    pending = {"_id": message.id, "status": DeliveryStatus.PENDING.value}
    claimable: list[dict[str, Any]] = [
        {"meta.claimed_at": None},  # never claimed (null matches a missing field)
        {"meta.claimed_at": {"$lt": now - CLAIM_TTL}},
    ]
    if steal_from is not None:
        claimable.append({"meta.claimed_by": steal_from})
    for way in claimable:
        # A plain update, not a find-and-modify, which SecantusDB writes through a collection
        # scan (bot.core.conversations.PINNED_FIELDS).
        result = await Message.get_pymongo_collection().update_one(
            {**pending, **way},
            {"$set": {"meta.claimed_at": now, "meta.claimed_by": CLAIMANT}},
        )
        if result.modified_count:
            return True
    return False


async def sweep_outbox(*, core: Core, limit: int = 200) -> int:
    """Send what was left pending: a process died after claiming a message, before sending.

    Without this such a message waited for the chat's next activity. Each is sent once: the
    claim is taken atomically, from a claimant that died or whose claim expired.
    """
    now = utcnow()
    rows = (
        await Message.find(
            {
                "status": DeliveryStatus.PENDING.value,
                "author": {"$ne": Author.CUSTOMER.value},
                # A day, as the reply sweep: older ones are beyond saving (and beyond notice).
                "created_at": {"$gt": now - timedelta(days=1), "$lt": now - SWEEP_SETTLE},
            }
        )
        .sort("+created_at")
        .limit(limit)
        .to_list()
    )
    by_conversation: dict[PydanticObjectId, list[Message]] = {}
    for message in rows:
        by_conversation.setdefault(message.conversation_id, []).append(message)
    sent = 0
    for conversation_id, messages in by_conversation.items():
        dead = {
            claimant
            for m in messages
            if isinstance(claimant := m.meta.get("claimed_by"), str) and process_is_gone(claimant)
        }
        claimed_at = [m.meta.get("claimed_at") for m in messages]
        stale = any(at is None or at < now - CLAIM_TTL for at in claimed_at)
        if not dead and not stale:
            continue  # a live process is sending them
        conversation = await Conversation.get(conversation_id)
        if conversation is None or core.output(conversation.channel) is None:
            continue  # another process (one that has the channel) sends them
        claimants: list[str | None] = [*sorted(dead)] or [None]
        for claimant in claimants:
            sent += await deliver_pending(core=core, conversation=conversation, steal_from=claimant)
    if sent:
        logger.info("outbox sweep sent {} message(s) left pending", sent)
    return sent


async def deliver_pending(
    *, core: Core, conversation: Conversation, steal_from: str | None = None
) -> int:
    """Send the conversation's pending outbound messages in order; returns how many were sent.

    `steal_from`: a dead claimant whose claims are taken over (see `sweep_outbox`).
    One sender at a time per conversation, so they reach the customer in seq order (an AI
    answer that passed its fence never lands after the operator's first words).
    """
    assert conversation.id is not None
    async with ordered_sends(core, conversation.id):
        return await _deliver_in_order(core=core, conversation=conversation, steal_from=steal_from)


async def _deliver_in_order(
    *, core: Core, conversation: Conversation, steal_from: str | None
) -> int:
    assert conversation.id is not None
    output = core.output(conversation.channel)
    if output is None:
        logger.warning("no output channel {!r} in this process", conversation.channel)
        return 0
    pending = [
        message
        for message in await Message.find(
            {"conversation_id": conversation.id, "status": DeliveryStatus.PENDING.value}
        )
        .sort("+seq")
        .to_list()
        if message.author is not Author.CUSTOMER  # a filter here, so the index covers the query
    ]
    contact = await Contact.get(conversation.contact_id)
    blocked = contact is not None and contact.blocked
    sent = 0
    for message in pending:
        if not await _claim(message, steal_from=steal_from):
            continue
        if not await may_send(message):
            # Stored while the chat was the AI's; an operator has it now (bot.core.fencing).
            await set_message_status(
                core=core, message=message, status=DeliveryStatus.FAILED, error=WITHHELD
            )
            continue
        if blocked:
            # The user blocked us (e.g. Telegram's "kicked"): sending would only fail.
            await set_message_status(
                core=core,
                message=message,
                status=DeliveryStatus.FAILED,
                error="the customer has blocked this channel",
            )
            continue
        try:
            outbound = outbound_of(message, conversation, contact)
            result = await output.send(outbound)
        except Exception as exc:  # an adapter bug must not lose the message's state
            logger.exception("send on {} failed", conversation.channel)
            await set_message_status(
                core=core, message=message, status=DeliveryStatus.FAILED, error=str(exc)[:500]
            )
            OUTBOUND_MESSAGES.labels(conversation.channel, "failed").inc()
            continue
        await set_message_status(
            core=core,
            message=message,
            status=result.status,
            error=result.error,
            provider_message_id=result.provider_message_id,
        )
        OUTBOUND_MESSAGES.labels(conversation.channel, result.status.value).inc()
        sent += 1
    return sent
