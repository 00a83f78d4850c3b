"""The panel's copilot: a suggested reply for the open chat and its take-over summary."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from bot.answers.chat_brief import chat_brief
from bot.answers.copilot import Copilot, NothingToAnswer, newer_customer_message
from bot.answers.engine import Engine
from bot.core.conversations import latest_messages
from bot.core.documents import Contact, Conversation, Operator
from bot.core.operator_actions import ConversationNotFound, get_summary
from operator_panel.auth import PanelSession, core_of, current_operator, require_csrf

Reader = Annotated[Operator, Depends(current_operator)]
Writer = Annotated[PanelSession, Depends(require_csrf)]
# The messages a draft reads (the bot's reply worker reads as many).
DRAFT_HISTORY = 30
CUSTOMER_WROTE_AGAIN = (
    "the customer wrote again after this draft was made: read their new message first"
)


def copilot_of(request: Request) -> Copilot:
    """The process's copilot over its engine's knowledge base, built on first use."""
    state = request.app.state
    settings = core_of(request).settings
    engine: Engine = state.engine
    current: Copilot | None = getattr(state, "copilot", None)
    if (
        current is None
        or current.settings is not settings
        or current.knowledge is not engine.knowledge
    ):
        current = state.copilot = Copilot(settings, engine.knowledge)
    return current


async def check_draft(conversation: Conversation, draft_for: str | None) -> None:
    """Refuse (409) a reply sent as a draft the customer has written past since."""
    if draft_for is None:
        return
    try:
        newer = await newer_customer_message(conversation, draft_for)
    except LookupError as exc:
        raise HTTPException(422, str(exc)) from None
    if newer is not None:
        raise HTTPException(409, CUSTOMER_WROTE_AGAIN)


def build_copilot_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["panel"])

    @router.post("/conversations/{conversation_id}/suggestion")
    async def suggestion(conversation_id: str, request: Request, _: Writer) -> dict[str, Any]:
        conversation = await _conversation(conversation_id)
        assert conversation.id is not None
        history = await latest_messages(conversation.id, limit=DRAFT_HISTORY)
        contact = await Contact.get(conversation.contact_id)
        blocks = await core_of(request).prompts.enabled()
        try:
            draft = await copilot_of(request).suggest(
                conversation=conversation, contact=contact, history=history, blocks=blocks
            )
        except NothingToAnswer as exc:
            raise HTTPException(409, str(exc)) from None
        return draft.as_json()

    @router.get("/conversations/{conversation_id}/summary")
    async def summary(conversation_id: str, request: Request, _: Reader) -> dict[str, Any]:
        conversation = await _conversation(conversation_id)
        brief = await chat_brief(
            redis=core_of(request).redis, copilot=copilot_of(request), conversation=conversation
        )
        return brief.as_json()

    return router


async def _conversation(conversation_id: str) -> Conversation:
    try:
        return (await get_summary(conversation_id=conversation_id)).conversation
    except ConversationNotFound:
        raise HTTPException(404, "no such conversation") from None
