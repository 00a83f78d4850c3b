"""Customer satisfaction (CSAT): asked once a chat is closed, answered with the channel's buttons.

The request is a system message offering five quick replies (payloads `csat:1` … `csat:5`):
Telegram shows them as an inline keyboard, WhatsApp as numbered options (the customer
answers "4"), the widget as a row of stars. A press comes back as a customer message like
any other; `handle_incoming_message` hands it here instead of to the AI: it is stored, never
answered, does not reopen the chat, and the first rating of a conversation is the one kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.core.conversations import append_message, publish_created
from bot.core.documents import Contact, Conversation, ModeChange, utcnow
from bot.core.i18n import text_for
from bot.core.modes import say_to_customer
from bot.core.types import Author, InboundMessage, InboundResult, Mode, QuickReply

if TYPE_CHECKING:
    from bot.core.runtime import Core

PAYLOAD_PREFIX = "csat:"
SCORES = (1, 2, 3, 4, 5)


def rating_buttons() -> list[QuickReply]:
    """One to five stars, each carrying its score."""
    return [QuickReply(title="★" * n, payload=f"{PAYLOAD_PREFIX}{n}") for n in SCORES]


def score_of(inbound: InboundMessage) -> int | None:
    """The score of a pressed rating button, else None (an ordinary message)."""
    for attachment in inbound.attachments:
        payload = (attachment.model_extra or {}).get("payload")
        if attachment.kind != "button_reply" or not isinstance(payload, str):
            continue
        if payload.startswith(PAYLOAD_PREFIX):
            digits = payload[len(PAYLOAD_PREFIX) :]
            score = int(digits) if digits.isdigit() else None
            return score if score in SCORES else None
    return None


async def request_rating(*, core: Core, conversation: Conversation) -> bool:
    """Ask a closed chat's customer for a rating, once per conversation (when CSAT_ENABLED
    and the customer wrote at all). True if asked now."""
    if not core.settings.csat_enabled or conversation.last_customer_seq == 0:
        return False
    # A plain update (a find-and-modify scans every chat on the embedded database); a
    # conversation's contact and chat never change, so the copy read here serves to ask.
    result = await Conversation.get_pymongo_collection().update_one(
        {"_id": conversation.id, "csat_requested_at": None, "csat": None},
        {"$set": {"csat_requested_at": utcnow()}},
    )
    if not result.modified_count:
        return False
    asked = conversation
    contact = await Contact.get(asked.contact_id)
    await say_to_customer(
        core=core,
        conversation=asked,
        text=text_for("csat_request", contact.language if contact else None),
        kind="csat_request",
        meta={"quick_replies": [b.model_dump(exclude_none=True) for b in rating_buttons()]},
    )
    return True


async def record_rating(*, conversation: Conversation, score: int, channel: str) -> bool:
    """Keep the conversation's first rating; False when it was rated before."""
    with_operator = (
        await ModeChange.find_one(
            {"conversation_id": conversation.id, "to_mode": Mode.OPERATOR.value}
        )
        is not None
    )
    rating: dict[str, Any] = {
        "score": score,
        "channel": channel,
        "at": utcnow(),
        "with_operator": with_operator,
    }
    result = await Conversation.get_pymongo_collection().update_one(
        {"_id": conversation.id, "csat": None}, {"$set": {"csat": rating}}
    )
    return result.modified_count == 1


async def take_rating(
    inbound: InboundMessage,
    *,
    core: Core,
    conversation: Conversation,
    score: int,
    meta: dict[str, Any],
    language: str | None,
) -> InboundResult:
    """Store a rating press as the customer's message, count it once, thank once; no AI."""
    message, created = await append_message(
        core=core,
        conversation=conversation,
        author=Author.CUSTOMER,
        text=inbound.text,
        external_id=inbound.external_message_id,
        client_id=inbound.client_id,
        attachments=inbound.attachments,
        meta={**meta, "kind": "csat"},
        publish=False,
    )
    if not created:
        return InboundResult(message=message.view(), created=False)
    # Answered by being counted: the sweep must not hand it to the AI if the chat reopens.
    await Conversation.get_pymongo_collection().update_one(
        {"_id": conversation.id}, {"$max": {"answered_seq": message.seq}}
    )
    recorded = await record_rating(conversation=conversation, score=score, channel=inbound.channel)
    await publish_created(core, message)
    if recorded:
        fresh = await Conversation.get(conversation.id)
        await say_to_customer(
            core=core,
            conversation=fresh or conversation,
            text=text_for("csat_thanks", language),
            kind="csat_thanks",
        )
    return InboundResult(message=message.view(), created=True)
