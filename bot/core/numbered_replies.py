"""Buttons offered as numbered lines (WhatsApp without a quick-reply template): "2" is a press.

The customer's answer "2" (or "2.") to the last message offering buttons becomes a press of
its second button, with the same `button_reply` attachment a real button brings.
"""

from __future__ import annotations

from bot.core.documents import Conversation, Message
from bot.core.types import Attachment, Author, InboundMessage, QuickReply

# Channels that show buttons as numbered lines when they have none of their own.
NUMBERED_CHANNELS = frozenset({"whatsapp"})


async def with_numbered_choice(
    inbound: InboundMessage, conversation: Conversation
) -> InboundMessage:
    """The message as a button press when it is just the number of an offered option."""
    if inbound.channel not in NUMBERED_CHANNELS or inbound.attachments:
        return inbound
    answer = inbound.text.strip().rstrip(".)")
    if not answer.isdigit() or len(answer) > 2:
        return inbound
    last = (
        await Message.find(
            {"conversation_id": conversation.id, "author": {"$ne": Author.CUSTOMER.value}}
        )
        .sort("-seq")
        .limit(1)
        .to_list()
    )
    offered = last[0].meta.get("quick_replies") if last else None
    if not isinstance(offered, list) or not 1 <= int(answer) <= len(offered):
        return inbound
    chosen = QuickReply.model_validate(offered[int(answer) - 1])
    pressed = Attachment(kind="button_reply", name=chosen.title, payload=chosen.payload)
    return inbound.model_copy(update={"attachments": [pressed]})
