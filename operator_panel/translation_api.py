"""The panel's translation API (bot.answers.translation): capability, the operator's
language, a customer message's translation, and a reply sent in the customer's language."""

from __future__ import annotations

from typing import Annotated, Any

from beanie import PydanticObjectId
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from bot.answers import translation
from bot.core import operator_actions as actions
from bot.core.documents import Message, Operator
from bot.core.i18n import normalize_language
from bot.core.modes import InvalidTransition
from bot.core.types import Author, window_open
from operator_panel.api import (
    MAX_REPLY,
    OUTSIDE_WINDOW,
    WINDOWED_CHANNELS,
    ConversationItem,
    PanelMessage,
    conversation_item,
)
from operator_panel.auth import PanelSession, core_of, current_operator, require_csrf

Reader = Annotated[Operator, Depends(current_operator)]
Writer = Annotated[PanelSession, Depends(require_csrf)]


class TranslationState(BaseModel):
    available: bool  # a chat model is configured
    detail: str | None = None  # why not, when it is not
    language: str | None = None  # the operator's language; None: the browser's
    enabled: bool = True  # the operator's toggle


class TranslationSettings(BaseModel):
    # "" or null: follow the panel's (browser's) language.
    language: str | None = Field(default=None, max_length=16)
    enabled: bool | None = None


class TranslateRequest(BaseModel):
    language: str | None = Field(default=None, max_length=16)


class TranslationView(BaseModel):
    message_id: str
    source: str | None
    target: str
    text: str | None  # None: already in the target language
    cached: bool


class TranslatedReplyRequest(BaseModel):
    text: str = Field(max_length=MAX_REPLY)
    # The language the operator wrote in; default their setting.
    language: str | None = Field(default=None, max_length=16)


class ReplyTranslation(BaseModel):
    status: str  # translated, same_language, unknown_language, failed
    detail: str | None = None


class TranslatedReplyResponse(BaseModel):
    message: PanelMessage
    conversation: ConversationItem
    translation: ReplyTranslation


def translator_of(request: Request) -> translation.Translator:
    """The app's translator, built once from its settings (tests may put their own)."""
    state = request.app.state
    found: translation.Translator | None = getattr(state, "translator", None)
    if found is None:
        found = translation.Translator.from_settings(core_of(request).settings)
        state.translator = found
    return found


def _state(operator: Operator, translator: translation.Translator) -> TranslationState:
    return TranslationState(
        available=translator.available,
        detail=None if translator.available else translation.UNAVAILABLE,
        language=operator.language,
        enabled=operator.translate,
    )


def _language(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    code = normalize_language(value)
    if code is None:
        raise HTTPException(422, f"not a language code: {value[:16]!r}")
    return code


def build_translation_router() -> APIRouter:
    """`/api/translation`, `/api/messages/{id}/translation`, `.../translated-reply`."""
    router = APIRouter(prefix="/api", tags=["panel-translation"])

    @router.get("/translation", response_model=TranslationState)
    async def capability(request: Request, operator: Reader) -> TranslationState:
        return _state(operator, translator_of(request))

    @router.put("/translation", response_model=TranslationState)
    async def settings(
        body: TranslationSettings, request: Request, session: Writer
    ) -> TranslationState:
        operator = session.operator
        changes: dict[str, Any] = {}
        if "language" in body.model_fields_set:
            changes["language"] = _language(body.language)
        if body.enabled is not None:
            changes["translate"] = body.enabled
        if changes:
            await operator.set(changes)
        return _state(operator, translator_of(request))

    @router.post("/messages/{message_id}/translation", response_model=TranslationView)
    async def translate(
        message_id: str, body: TranslateRequest, request: Request, session: Writer
    ) -> TranslationView:
        target = _language(body.language) or session.operator.language
        if target is None:
            raise HTTPException(422, "no language to translate into")
        message = await _customer_message(message_id)
        try:
            found = await translation.translate_message(
                translator_of(request), message, target=target
            )
        except translation.TranslationUnavailable as exc:
            raise HTTPException(503, str(exc)) from None
        except translation.TranslationFailed as exc:
            raise HTTPException(502, str(exc)) from None
        return TranslationView(
            message_id=found.message_id,
            source=found.source,
            target=found.target,
            text=found.text,
            cached=found.cached,
        )

    @router.post(
        "/conversations/{conversation_id}/translated-reply",
        response_model=TranslatedReplyResponse,
    )
    async def translated_reply(
        conversation_id: str, body: TranslatedReplyRequest, request: Request, session: Writer
    ) -> TranslatedReplyResponse:
        if not body.text.strip():
            raise HTTPException(422, "a reply needs some text")
        language = _language(body.language) or session.operator.language
        try:
            found = await actions.get_summary(conversation_id=conversation_id)
            windowed = found.conversation.channel in WINDOWED_CHANNELS
            if windowed and not window_open(found.conversation.last_customer_message_at):
                raise HTTPException(409, OUTSIDE_WINDOW)
            outcome = await translation.translated_reply(
                core=core_of(request),
                translator=translator_of(request),
                conversation_id=conversation_id,
                operator=session.operator,
                text=body.text,
                language=language,
            )
        except actions.ConversationNotFound:
            raise HTTPException(404, "no such conversation") from None
        except InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from None
        return TranslatedReplyResponse(
            message=PanelMessage.model_validate(outcome.message.operator_view()),
            conversation=conversation_item(await actions.summary(outcome.conversation)),
            translation=ReplyTranslation(status=outcome.status, detail=outcome.detail),
        )

    return router


async def _customer_message(message_id: str) -> Message:
    try:
        oid = PydanticObjectId(message_id)
    except Exception:
        raise HTTPException(404, "no such customer message") from None
    message = await Message.get(oid)
    if message is None or message.author is not Author.CUSTOMER:
        raise HTTPException(404, "no such customer message")
    return message
