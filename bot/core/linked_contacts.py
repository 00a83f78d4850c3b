"""One customer across channels: contacts an operator linked as the same person.

Each channel keeps its own contact (identities are never merged): linked contacts share a
`person_id`, the panel reads their conversations as one history, and an operator's reply
goes to the conversation the customer wrote in last. A link is undone per contact.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from loguru import logger

from bot.core.documents import Contact, Conversation, Message
from bot.core.types import ConversationEvent

if TYPE_CHECKING:
    from bot.core.runtime import Core

CONTACT_LINKED = "contact.linked"
# One person's combined history is read newest first up to this many messages.
HISTORY_MAX = 500
SEARCH_MAX = 20


class ContactNotFound(LookupError):
    """No contact has this id."""


class CannotLink(ValueError):
    """The two contacts cannot be linked (the same contact, or one channel twice)."""


@dataclass(frozen=True, slots=True)
class Person:
    """The contacts of one customer and the conversation a reply to them goes to."""

    contacts: list[Contact]
    reply_to: Conversation | None


async def _contact(contact_id: str) -> Contact:
    try:
        found = await Contact.get(PydanticObjectId(contact_id))
    except (InvalidId, TypeError):
        found = None
    if found is None:
        raise ContactNotFound(f"contact {contact_id} does not exist")
    return found


async def linked(contact: Contact) -> list[Contact]:
    """The contact and every contact linked to it, oldest first."""
    if contact.person_id is None:
        return [contact]
    return await Contact.find({"person_id": contact.person_id}).sort("+created_at").to_list()


async def person_of(contact_id: str) -> Person:
    """A contact's person: its linked contacts and where a reply goes."""
    contacts = await linked(await _contact(contact_id))
    return Person(contacts=contacts, reply_to=await last_used(contacts))


async def last_used(contacts: list[Contact]) -> Conversation | None:
    """The conversation the customer wrote in last, on whichever channel (else the newest)."""
    ids = [c.id for c in contacts]
    found = (
        await Conversation.find({"contact_id": {"$in": ids}})
        .sort("-last_customer_message_at", "-_id")
        .limit(1)
        .to_list()
    )
    return found[0] if found else None


async def link(*, core: Core, contact_id: str, other_id: str, actor: str) -> Person:
    """Link two contacts (and whoever each is already linked to) as one person."""
    first, second = await _contact(contact_id), await _contact(other_id)
    if first.id == second.id:
        raise CannotLink("a contact cannot be linked to itself")
    group = list({c.id: c for c in [*await linked(first), *await linked(second)]}.values())
    channels = [c.channel for c in group]
    if len(channels) != len(set(channels)):
        # Two contacts on one channel are two customers there: a reply would have two homes.
        raise CannotLink("one person has at most one contact per channel")
    person_id = first.person_id or second.person_id or PydanticObjectId()
    await Contact.get_pymongo_collection().update_many(
        {"_id": {"$in": [c.id for c in group]}}, {"$set": {"person_id": person_id}}
    )
    logger.info("{} linked contacts {} as one person", actor, [str(c.id) for c in group])
    await _publish(core, [c for c in group if c.id is not None])
    return await person_of(contact_id)


async def unlink(*, core: Core, contact_id: str, actor: str) -> Person:
    """Undo a contact's link; a person left with one contact is no longer a group."""
    contact = await _contact(contact_id)
    if contact.person_id is None:
        return Person(contacts=[contact], reply_to=await last_used([contact]))
    others = [c for c in await linked(contact) if c.id != contact.id]
    await Contact.get_pymongo_collection().update_one(
        {"_id": contact.id}, {"$set": {"person_id": None}}
    )
    await release(contact.person_id)
    logger.info("{} unlinked contact {}", actor, contact_id)
    await _publish(core, [contact, *others])
    return await person_of(contact_id)


async def release(person_id: PydanticObjectId | None) -> None:
    """A person left with a single contact (after an unlink or an erasure) is no group."""
    if person_id is None:
        return
    collection = Contact.get_pymongo_collection()
    if await collection.count_documents({"person_id": person_id}) == 1:
        await collection.update_many({"person_id": person_id}, {"$set": {"person_id": None}})


async def history(contact_id: str, *, limit: int = HISTORY_MAX) -> list[tuple[Message, str]]:
    """The person's messages on every channel, oldest first, each with its channel."""
    contacts = await linked(await _contact(contact_id))
    conversations = await Conversation.find(
        {"contact_id": {"$in": [c.id for c in contacts]}}
    ).to_list()
    channel = {c.id: c.channel for c in conversations}
    newest = (
        await Message.find({"conversation_id": {"$in": list(channel)}})
        .sort("-created_at", "-_id")
        .limit(max(1, min(limit, HISTORY_MAX)))
        .to_list()
    )
    return [(m, channel[m.conversation_id]) for m in reversed(newest)]


async def search(query: str, *, exclude: str | None = None) -> list[Contact]:
    """Contacts whose name or channel id contains `query` (to pick one to link)."""
    pattern = {"$regex": re.escape(query.strip()), "$options": "i"}
    where: dict[str, Any] = {"$or": [{"display_name": pattern}, {"external_user_id": pattern}]}
    if exclude:
        with contextlib.suppress(InvalidId):
            where["_id"] = {"$ne": PydanticObjectId(exclude)}
    return await Contact.find(where).sort("-created_at").limit(SEARCH_MAX).to_list()


async def _publish(core: Core, contacts: list[Contact]) -> None:
    """Tell the panels which conversations now show another person (they reload it)."""
    conversations = await Conversation.find(
        {"contact_id": {"$in": [c.id for c in contacts]}}
    ).to_list()
    for conversation in conversations:
        await core.bus.publish(
            ConversationEvent(
                type=CONTACT_LINKED,
                conversation_id=str(conversation.id),
                data={"contact_id": str(conversation.contact_id)},
            )
        )
