"""The panel's REST API for canned replies: admins manage them, operators insert them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from bot.core import canned
from bot.core.documents import CannedReply, Operator
from bot.core.operator_actions import ConversationNotFound, get_summary
from operator_panel.auth import current_operator, require_admin

Reader = Annotated[Operator, Depends(current_operator)]
Admin = Annotated[Operator, Depends(require_admin)]


class CannedView(BaseModel):
    id: str
    shortcut: str
    text: str
    # The text filled in for the conversation asked about (absent without one).
    filled: str | None = None
    updated_at: datetime


class CannedList(BaseModel):
    items: list[CannedView]
    variables: list[str]


class CannedCreate(BaseModel):
    shortcut: str = Field(min_length=1, max_length=33)
    text: str = Field(min_length=1, max_length=canned.MAX_TEXT)


class CannedUpdate(BaseModel):
    shortcut: str | None = Field(default=None, min_length=1, max_length=33)
    text: str | None = Field(default=None, min_length=1, max_length=canned.MAX_TEXT)


def canned_view(reply: CannedReply, values: dict[str, str] | None = None) -> CannedView:
    return CannedView(
        id=str(reply.id),
        shortcut=reply.shortcut,
        text=reply.text,
        filled=canned.fill(reply.text, values) if values is not None else None,
        updated_at=reply.updated_at,
    )


def build_canned_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["panel"])

    @router.get("/canned-replies", response_model=CannedList)
    async def list_replies(
        operator: Reader,
        conversation_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> CannedList:
        values = None
        if conversation_id:
            try:
                found = await get_summary(conversation_id=conversation_id)
            except ConversationNotFound:
                raise HTTPException(404, "no such conversation") from None
            values = await canned.variables_for(found.conversation, operator)
        replies = await canned.list_canned()
        return CannedList(
            items=[canned_view(r, values) for r in replies], variables=list(canned.VARIABLES)
        )

    @router.post("/canned-replies", response_model=CannedView, status_code=201)
    async def create_reply(body: CannedCreate, _: Admin) -> CannedView:
        try:
            return canned_view(await canned.create_canned(shortcut=body.shortcut, text=body.text))
        except canned.ShortcutTaken as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @router.put("/canned-replies/{reply_id}", response_model=CannedView)
    async def update_reply(reply_id: str, body: CannedUpdate, _: Admin) -> CannedView:
        try:
            found = await canned.update_canned(
                reply_id=reply_id, changes=body.model_dump(exclude_unset=True)
            )
        except canned.ShortcutTaken as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if found is None:
            raise HTTPException(404, "no such canned reply")
        return canned_view(found)

    @router.delete("/canned-replies/{reply_id}", status_code=204)
    async def delete_reply(reply_id: str, _: Admin) -> Response:
        if not await canned.delete_canned(reply_id=reply_id):
            raise HTTPException(404, "no such canned reply")
        return Response(status_code=204)

    return router
