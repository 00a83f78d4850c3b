"""Assignment REST: who is online, "I am away", and giving a chat to another operator."""

from __future__ import annotations

from typing import Annotated

from beanie import PydanticObjectId
from bson.errors import InvalidId
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from bot.core import operator_actions as actions
from bot.core.assignment import Presence, open_chats, presence_of, set_away
from bot.core.documents import Operator
from bot.core.modes import InvalidTransition
from bot.core.runtime import Core
from operator_panel.api import ConversationItem, conversation_item
from operator_panel.auth import PanelSession, core_of, current_operator, require_csrf

Reader = Annotated[Operator, Depends(current_operator)]
Writer = Annotated[PanelSession, Depends(require_csrf)]


class PresenceItem(BaseModel):
    id: str
    email: str
    display_name: str | None = None
    status: Presence
    open_chats: int


class PresenceList(BaseModel):
    items: list[PresenceItem]


class AwayRequest(BaseModel):
    away: bool


class AssignRequest(BaseModel):
    operator_id: str


async def _items(core: Core, operators: list[Operator]) -> list[PresenceItem]:
    """Each operator with their presence and how many waiting or taken chats they hold."""
    ids = [o.id for o in operators if o.id is not None]
    status = await presence_of(core, [str(i) for i in ids])
    load = await open_chats(ids)
    return [
        PresenceItem(
            id=str(o.id),
            email=o.email,
            display_name=o.display_name,
            status=status[str(o.id)],
            open_chats=load[o.id],
        )
        for o in operators
        if o.id is not None
    ]


def build_assignment_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["panel"])

    @router.get("/operators/presence", response_model=PresenceList)
    async def presence(request: Request, _: Reader) -> PresenceList:
        operators = await Operator.find(Operator.active == True).sort("+email").to_list()  # noqa: E712
        return PresenceList(items=await _items(core_of(request), operators))

    @router.post("/me/presence", response_model=PresenceItem)
    async def away(body: AwayRequest, request: Request, session: Writer) -> PresenceItem:
        core, me = core_of(request), session.operator
        await set_away(core, str(me.id), body.away)
        [item] = await _items(core, [me])
        return item

    @router.post("/conversations/{conversation_id}/assign", response_model=ConversationItem)
    async def assign(
        conversation_id: str, body: AssignRequest, request: Request, session: Writer
    ) -> ConversationItem:
        try:
            to = await Operator.get(PydanticObjectId(body.operator_id))
        except InvalidId:
            to = None
        if to is None:
            raise HTTPException(404, "no such operator")
        try:
            conversation = await actions.assign(
                core=core_of(request),
                conversation_id=conversation_id,
                operator=session.operator,
                to=to,
            )
        except actions.ConversationNotFound:
            raise HTTPException(404, "no such conversation") from None
        except InvalidTransition:
            raise HTTPException(409, "only a waiting or taken chat can be assigned") from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return conversation_item(await actions.summary(conversation))

    return router
