"""Outbound delivery: every message to a customer leaves through its channel's `send()`."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from loguru import logger
from pymongo import ReturnDocument

from bot.core.conversations import set_message_status
from bot.core.documents import Contact, Conversation, Message, utcnow
from bot.core.metrics import OUTBOUND_MESSAGES
from bot.core.types import Author, DeliveryStatus, OutboundMessage

if TYPE_CHECKING:
    from bot.core.runtime import Core

# A claim older than this belongs to a process that died mid-send.
CLAIM_TTL = timedelta(minutes=2)


async def _claim(message: Message) -> bool:
    """Take a pending message for sending so two processes never send it twice."""
    now = utcnow()
    raw = await Message.get_pymongo_collection().find_one_and_update(
        {
            "_id": message.id,
            "status": DeliveryStatus.PENDING.value,
            "$or": [
                {"meta.claimed_at": {"$exists": False}},
                {"meta.claimed_at": {"$lt": now - CLAIM_TTL}},
            ],
        },
        {"$set": {"meta.claimed_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    return raw is not None


async def deliver_pending(*, core: Core, conversation: Conversation) -> int:
    """Send the conversation's pending outbound messages in order; returns how many were sent."""
    assert conversation.id is not None
    output = core.output(conversation.channel)
    if output is None:
        logger.warning("no output channel {!r} in this process", conversation.channel)
        return 0
    pending = (
        await Message.find(
            {
                "conversation_id": conversation.id,
                "status": DeliveryStatus.PENDING.value,
                "author": {"$ne": Author.CUSTOMER.value},
            }
        )
        .sort("+seq")
        .to_list()
    )
    contact = await Contact.get(conversation.contact_id)
    blocked = contact is not None and contact.blocked
    sent = 0
    for message in pending:
        if not await _claim(message):
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
            outbound = OutboundMessage(
                message=message.view(), external_chat_id=conversation.external_chat_id
            )
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
