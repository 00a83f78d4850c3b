"""The panel's REST API for private notes on a conversation (never sent to the customer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from bot.core.documents import Operator
from bot.core.notes import MAX_NOTE, add_note, list_notes, note_frame
from bot.core.operator_actions import ConversationNotFound, get_summary
from operator_panel.auth import PanelSession, core_of, current_operator, require_csrf

Reader = Annotated[Operator, Depends(current_operator)]
Writer = Annotated[PanelSession, Depends(require_csrf)]


class NoteRequest(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_NOTE)


class NoteList(BaseModel):
    items: list[dict[str, Any]]


def build_notes_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["panel"])

    @router.get("/conversations/{conversation_id}/notes", response_model=NoteList)
    async def notes(conversation_id: str, _: Reader) -> NoteList:
        conversation = await _conversation(conversation_id)
        assert conversation.id is not None
        return NoteList(items=[note_frame(n) for n in await list_notes(conversation.id)])

    @router.post("/conversations/{conversation_id}/notes", status_code=201)
    async def create_note(
        conversation_id: str, body: NoteRequest, request: Request, session: Writer
    ) -> dict[str, Any]:
        if not body.text.strip():
            raise HTTPException(422, "a note needs some text")
        conversation = await _conversation(conversation_id)
        note = await add_note(
            core=core_of(request),
            conversation=conversation,
            operator=session.operator,
            text=body.text,
        )
        return note_frame(note)

    return router


async def _conversation(conversation_id: str) -> Any:
    try:
        return (await get_summary(conversation_id=conversation_id)).conversation
    except ConversationNotFound:
        raise HTTPException(404, "no such conversation") from None
