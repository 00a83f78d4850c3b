"""The panel's REST API for one customer across channels: find, link and unlink contacts,
and read a person's history on every channel (bot.core.linked_contacts)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from bot.core import linked_contacts
from bot.core.documents import Contact, Conversation, Operator
from bot.core.operator_actions import operator_actor
from operator_panel.api import PanelMessage
from operator_panel.auth import PanelSession, core_of, current_operator, require_csrf

Reader = Annotated[Operator, Depends(current_operator)]
Writer = Annotated[PanelSession, Depends(require_csrf)]


class LinkedContactView(BaseModel):
    id: str
    channel: str
    display_name: str | None
    external_user_id: str
    linked: bool


class ReplyTarget(BaseModel):
    """Where a reply to this person goes: the conversation they wrote in last."""

    conversation_id: str
    channel: str


class PersonView(BaseModel):
    contacts: list[LinkedContactView]
    reply_to: ReplyTarget | None


class ContactSearch(BaseModel):
    items: list[LinkedContactView]


class LinkRequest(BaseModel):
    contact_id: str = Field(min_length=1, max_length=64)


class HistoryMessage(PanelMessage):
    channel: str


class PersonHistory(BaseModel):
    items: list[HistoryMessage]
    reply_to: ReplyTarget | None


def _contact_view(contact: Contact) -> LinkedContactView:
    return LinkedContactView(
        id=str(contact.id),
        channel=contact.channel,
        display_name=contact.display_name,
        external_user_id=contact.external_user_id,
        linked=contact.person_id is not None,
    )


def _target(conversation: Conversation | None) -> ReplyTarget | None:
    if conversation is None:
        return None
    return ReplyTarget(conversation_id=str(conversation.id), channel=conversation.channel)


def _person_view(person: linked_contacts.Person) -> PersonView:
    return PersonView(
        contacts=[_contact_view(c) for c in person.contacts], reply_to=_target(person.reply_to)
    )


def build_contacts_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["panel"])

    @router.get("/contacts", response_model=ContactSearch)
    async def search(
        _: Reader,
        q: Annotated[str, Query(min_length=1, max_length=100)],
        exclude: Annotated[str | None, Query(max_length=64)] = None,
    ) -> ContactSearch:
        found = await linked_contacts.search(q, exclude=exclude)
        return ContactSearch(items=[_contact_view(c) for c in found])

    @router.get("/contacts/{contact_id}/person", response_model=PersonView)
    async def person(contact_id: str, _: Reader) -> PersonView:
        with _not_found():
            return _person_view(await linked_contacts.person_of(contact_id))

    @router.post("/contacts/{contact_id}/link", response_model=PersonView)
    async def link(
        contact_id: str, body: LinkRequest, request: Request, session: Writer
    ) -> PersonView:
        with _not_found():
            try:
                person = await linked_contacts.link(
                    core=core_of(request),
                    contact_id=contact_id,
                    other_id=body.contact_id,
                    actor=operator_actor(session.operator),
                )
            except linked_contacts.CannotLink as exc:
                raise HTTPException(409, str(exc)) from None
        return _person_view(person)

    @router.post("/contacts/{contact_id}/unlink", response_model=PersonView)
    async def unlink(contact_id: str, request: Request, session: Writer) -> PersonView:
        with _not_found():
            person = await linked_contacts.unlink(
                core=core_of(request),
                contact_id=contact_id,
                actor=operator_actor(session.operator),
            )
        return _person_view(person)

    @router.get("/contacts/{contact_id}/history", response_model=PersonHistory)
    async def history(
        contact_id: str,
        _: Reader,
        limit: Annotated[int, Query(ge=1, le=linked_contacts.HISTORY_MAX)] = 200,
    ) -> PersonHistory:
        with _not_found():
            person = await linked_contacts.person_of(contact_id)
            found = await linked_contacts.history(contact_id, limit=limit)
        items = [
            HistoryMessage.model_validate({**m.operator_view(), "channel": channel})
            for m, channel in found
        ]
        return PersonHistory(items=items, reply_to=_target(person.reply_to))

    return router


@contextlib.contextmanager
def _not_found() -> Iterator[None]:
    """Turn an unknown contact into a 404."""
    try:
        yield
    except linked_contacts.ContactNotFound as exc:
        raise HTTPException(404, str(exc)) from None
