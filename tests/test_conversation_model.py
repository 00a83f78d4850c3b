"""The conversation model: dedup, sequence numbers, find-or-create under concurrency."""

from __future__ import annotations

import asyncio

from bot.core.conversations import find_or_create_contact
from bot.core.documents import Contact, Conversation, Message
from bot.core.pipeline import handle_incoming_message
from bot.core.runtime import Core
from bot.core.types import Author, InboundMessage, Mode


def inbound(
    n: int, *, chat: str = "chat-1", text: str | None = None, **extra: object
) -> InboundMessage:
    return InboundMessage(
        channel="web",
        external_chat_id=chat,
        external_user_id=chat,
        external_message_id=f"{chat}:{n}",
        text=text if text is not None else f"message {n}",
        **extra,  # type: ignore[arg-type]
    )


async def test_redelivered_message_is_stored_once(core: Core) -> None:
    first = await handle_incoming_message(inbound(1), core=core)
    again = await handle_incoming_message(inbound(1), core=core)
    assert first.created and not again.created
    assert again.message.id == first.message.id
    assert await Message.find(Message.channel == "web").count() == 1


async def test_concurrent_redeliveries_store_one_message(core: Core) -> None:
    results = await asyncio.gather(
        *(handle_incoming_message(inbound(7), core=core) for _ in range(8))
    )
    assert sum(r.created for r in results) == 1
    assert len({r.message.id for r in results}) == 1
    assert await Message.find(Message.channel == "web").count() == 1


async def test_concurrent_copies_move_the_counters_once(core: Core) -> None:
    # 8 copies of one delivery at once, in a chat that already has a message: only the
    # stored copy may count, or the chat looks unanswered (and unread) forever.
    await handle_incoming_message(inbound(1), core=core)
    results = await asyncio.gather(
        *(handle_incoming_message(inbound(2), core=core) for _ in range(8))
    )
    [stored] = [r.message for r in results if r.created]
    conversation = await Conversation.find_one(Conversation.external_chat_id == "chat-1")
    assert conversation is not None
    assert stored.seq == 2
    assert conversation.last_seq == 2
    assert conversation.last_customer_seq == 2
    assert conversation.unread_operator == 2
    assert await core.redis.xlen(core.queue.stream) == 2  # one reply job per stored message
    nxt = await handle_incoming_message(inbound(3), core=core)
    assert nxt.message.seq == 3


async def test_a_copy_whose_first_delivery_died_before_storing_is_stored(core: Core) -> None:
    from datetime import timedelta

    from bot.core import inbound_claims
    from bot.core.documents import utcnow

    # A delivery claimed the message and died before storing it (its process was killed).
    claims = Message.get_pymongo_collection().database[inbound_claims.COLLECTION]
    await claims.insert_one(
        {"_id": "web\x00chat-1:5", "at": utcnow() - inbound_claims.STALE_CLAIM - timedelta(1)}
    )
    result = await handle_incoming_message(inbound(5), core=core)
    assert result.created and result.message.text == "message 5"
    again = await handle_incoming_message(inbound(5), core=core)
    assert not again.created and again.message.id == result.message.id


async def test_same_message_id_in_two_chats_is_two_messages(core: Core) -> None:
    # Telegram message ids are unique per chat only: the channel puts the chat into the id.
    await handle_incoming_message(inbound(123, chat="a"), core=core)
    await handle_incoming_message(inbound(123, chat="b"), core=core)
    assert await Message.find(Message.channel == "web").count() == 2
    assert await Conversation.find(Conversation.channel == "web").count() == 2


async def test_sequence_numbers_are_dense_and_ordered(core: Core) -> None:
    results = await asyncio.gather(
        *(handle_incoming_message(inbound(n), core=core) for n in range(20))
    )
    seqs = sorted(r.message.seq for r in results)
    assert seqs == list(range(1, 21))
    conversation = await Conversation.find_one(Conversation.external_chat_id == "chat-1")
    assert conversation is not None and conversation.last_seq == 20
    assert conversation.last_customer_seq == 20
    assert conversation.unread_operator == 20


async def test_one_contact_and_conversation_per_chat_under_races(core: Core) -> None:
    await asyncio.gather(
        *(handle_incoming_message(inbound(n, chat="race"), core=core) for n in range(10))
    )
    assert await Contact.find(Contact.external_user_id == "race").count() == 1
    assert await Conversation.find(Conversation.external_chat_id == "race").count() == 1


async def test_contact_keeps_name_and_learns_language(core: Core) -> None:
    await handle_incoming_message(inbound(1, display_name="Анна", text="Здравствуйте"), core=core)
    contact = await Contact.find_one(Contact.external_user_id == "chat-1")
    assert contact is not None
    assert contact.display_name == "Анна" and contact.language == "ru"
    # A later message without a name keeps the name.
    await handle_incoming_message(inbound(2), core=core)
    same = await find_or_create_contact(
        channel="web", external_user_id="chat-1", display_name=None, language=None
    )
    assert same.display_name == "Анна"


async def test_message_view_has_the_contract_shape(core: Core) -> None:
    result = await handle_incoming_message(inbound(1, client_id="c-1"), core=core)
    body = result.message.model_dump(mode="json")
    assert {"id", "conversation_id", "seq", "author", "text", "created_at", "status"} <= set(body)
    assert body["author"] == Author.CUSTOMER.value
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
    assert body["client_id"] == "c-1"
    assert body["sources"] == [] and body["attachments"] == []


async def test_message_to_closed_chat_reopens_it_with_the_ai(core: Core) -> None:
    from bot.core.modes import transition

    first = await handle_incoming_message(inbound(1), core=core)
    conversation = await Conversation.get(first.message.conversation_id)
    assert conversation is not None and conversation.id is not None
    await transition(core=core, conversation_id=conversation.id, to=Mode.CLOSED, actor="operator:x")
    await handle_incoming_message(inbound(2), core=core)
    reopened = await Conversation.get(conversation.id)
    assert reopened is not None and reopened.mode is Mode.AI
    # The new message still needs an answer: it is newer than what counts as answered.
    assert reopened.last_customer_seq > reopened.answered_seq
    assert await core.queue.read("t", count=10, block_ms=10)
