"""handle_incoming_message(): the one entry for every inbound customer message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loguru import logger
from redis.exceptions import RedisError

from bot.core import csat, inbound_claims
from bot.core.conversations import (
    append_message,
    find_or_create_contact,
    find_or_create_conversation,
    publish_created,
)
from bot.core.fencing import ai_may_answer
from bot.core.i18n import detect_language, normalize_language
from bot.core.metrics import INBOUND_MESSAGES
from bot.core.modes import transition
from bot.core.numbered_replies import with_numbered_choice
from bot.core.types import Author, InboundMessage, InboundResult, Mode

if TYPE_CHECKING:
    from bot.core.runtime import Core
    from config import Settings

# Channels without a limit of their own (Telegram's is the largest of the providers').
DEFAULT_TEXT_LIMIT = 4096


async def handle_incoming_message(inbound: InboundMessage, *, core: Core) -> InboundResult:
    """Dedup, find-or-create contact and conversation, persist, publish, route by mode."""
    known = await inbound_claims.claim(inbound.channel, inbound.external_message_id)
    if known is not None:
        INBOUND_MESSAGES.labels(inbound.channel, "duplicate").inc()
        return InboundResult(message=known.view(), created=False)
    try:
        return await _store_and_route(inbound, core=core)
    except BaseException:
        await inbound_claims.release(inbound.channel, inbound.external_message_id)
        raise


def text_limit(settings: Settings, channel: str) -> int:
    """How much of a channel's inbound text is processed: what the channel itself allows."""
    limits = {
        "telegram": settings.telegram_max_text,
        "whatsapp": settings.whatsapp_max_text,
        "web": settings.widget_max_text,
    }
    return limits.get(channel, DEFAULT_TEXT_LIMIT)


async def _store_and_route(inbound: InboundMessage, *, core: Core) -> InboundResult:
    limit = text_limit(core.settings, inbound.channel)
    meta: dict[str, Any] = {}
    if len(inbound.text) > limit:
        # Every per-message cost (language, PII masking, search, the model) grows with the
        # text: the whole of it is kept for the operator, who is told only a part was read.
        meta["truncated"] = {"length": len(inbound.text), "limit": limit}
    processed = inbound.text[:limit]
    language = normalize_language(inbound.language) or detect_language(processed)
    contact = await find_or_create_contact(
        channel=inbound.channel,
        external_user_id=inbound.external_user_id,
        display_name=inbound.display_name,
        language=language,
    )
    conversation = await find_or_create_conversation(
        channel=inbound.channel, external_chat_id=inbound.external_chat_id, contact=contact
    )
    assert conversation.id is not None
    inbound = await with_numbered_choice(inbound, conversation)
    score = csat.score_of(inbound)
    if score is not None:
        # A rating: stored and counted, not a question for the AI, and it reopens nothing.
        return await csat.take_rating(
            inbound,
            core=core,
            conversation=conversation,
            score=score,
            meta=meta,
            language=contact.language,
        )
    if conversation.mode is Mode.CLOSED:
        conversation = await transition(
            core=core,
            conversation_id=conversation.id,
            to=Mode.AI,
            actor="customer",
            reason="customer wrote after close",
            notify=False,
        )
    message, created = await append_message(
        core=core,
        conversation=conversation,
        author=Author.CUSTOMER,
        text=inbound.text,
        external_id=inbound.external_message_id,
        client_id=inbound.client_id,
        attachments=inbound.attachments,
        meta=meta,
        # Published once its reply job is queued: a client that sees its message stored may
        # count on an answer even if this process dies the next moment.
        publish=False,
    )
    if not created:
        INBOUND_MESSAGES.labels(inbound.channel, "duplicate").inc()
        return InboundResult(message=message.view(), created=False)
    INBOUND_MESSAGES.labels(inbound.channel, "stored").inc()

    if ai_may_answer(conversation, while_waiting=core.settings.ai_helps_while_waiting):
        try:
            await core.queue.enqueue(
                str(conversation.id),
                message.seq,
                contact_id=str(conversation.contact_id),
                text=message.processed_text,
            )
        except RedisError as exc:
            # The message is stored; the worker's sweep finds unanswered chats and answers.
            logger.warning(
                "reply job for {} not queued ({}); the sweep will pick it up", conversation.id, exc
            )
    await publish_created(core, message)
    return InboundResult(message=message.view(), created=True)
