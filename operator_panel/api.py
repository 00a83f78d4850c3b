"""The panel's REST API: conversations, their messages and actions, prompt blocks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from bot.core import operator_actions as actions
from bot.core.conversations import latest_messages
from bot.core.documents import Operator, PromptBlock
from bot.core.modes import InvalidTransition
from bot.core.types import MessageView, Mode, QuickReply, window_closes_at, window_open
from bot.core.wire import INT64_MAX
from operator_panel.auth import (
    PanelSession,
    core_of,
    current_operator,
    require_admin,
    require_csrf,
)
from operator_panel.copilot_api import check_draft

MAX_REPLY = 4096
MAX_QUICK_REPLIES = 10
PAGE_DEFAULT = 50
PAGE_MAX = 200


class ContactView(BaseModel):
    id: str | None = None
    display_name: str | None = None
    channel: str | None = None
    language: str | None = None


# Channels where free text reaches the customer only within 24 hours of their last message.
WINDOWED_CHANNELS = frozenset({"whatsapp"})
OUTSIDE_WINDOW = (
    "outside WhatsApp's 24-hour customer-service window: free text cannot reach the "
    "customer until they write again; send the template instead"
)
NO_TEMPLATE = "no WhatsApp template is configured (WHATSAPP_TEMPLATE_SID)"


class WindowView(BaseModel):
    """WhatsApp's customer-service window of a chat: free text only while `open`."""

    open: bool
    closes_at: datetime | None = None


class TemplateView(BaseModel):
    """The template operators can send outside the window (WHATSAPP_TEMPLATE_SID)."""

    configured: bool
    content_sid: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)


class ConversationItem(BaseModel):
    id: str
    channel: str
    mode: Mode
    contact: ContactView
    last_message_at: datetime
    unread: int
    assignee_id: str | None = None
    last_seq: int
    created_at: datetime
    closed_at: datetime | None = None
    # WhatsApp only: whether free text can reach the customer now.
    window: WindowView | None = None


class ConversationList(BaseModel):
    items: list[ConversationItem]


class UnreadList(BaseModel):
    total: int  # conversations with unread customer messages
    items: dict[str, int]  # conversation id → unread count


class PanelMessage(MessageView):
    """A message as operators see it: plus the AI's tool calls, its kind, a send error."""

    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    # The guardrails' verdicts (stage, rule, action, score, detail) on an AI answer.
    guardrails: list[dict[str, Any]] = Field(default_factory=list)
    kind: str | None = None
    error: str | None = None
    # {"length", "limit"}: a customer text longer than its channel's limit; the AI read `limit`.
    truncated: dict[str, int] | None = None
    # Operators' marks on an AI answer (wrong, incomplete, …): {"verdict", "note", "created_at"}.
    feedback: list[dict[str, Any]] = Field(default_factory=list)
    # A translated operator reply: {"original", "from", "to"} (or {"error", "to"} if it failed).
    translation: dict[str, Any] | None = None


class MessageList(BaseModel):
    items: list[PanelMessage]
    has_more: bool


class ReplyRequest(BaseModel):
    text: str = Field(default="", max_length=MAX_REPLY)
    # Send as the channel's approved template (WhatsApp outside the window); `text` fills it.
    template: bool = False
    # Buttons offered with the reply ("Yes", "No"); a press comes back as a customer message.
    quick_replies: list[QuickReply] = Field(default_factory=list, max_length=MAX_QUICK_REPLIES)
    # Sent as the copilot's draft for this customer message: refused (409) if a newer one exists.
    draft_for: str | None = Field(default=None, max_length=64)


class ReplyResponse(BaseModel):
    message: MessageView
    conversation: ConversationItem


class PromptBlockView(BaseModel):
    id: str
    name: str
    text: str
    enabled: bool
    order: int
    channel: str | None = None
    language: str | None = None
    secret: bool = False
    updated_at: datetime


class PromptBlockList(BaseModel):
    items: list[PromptBlockView]


class PromptBlockCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    text: str = Field(max_length=20_000)
    enabled: bool = True
    order: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    channel: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=16)
    secret: bool = False


class PromptBlockUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    text: str | None = Field(default=None, max_length=20_000)
    enabled: bool | None = None
    order: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    channel: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=16)
    secret: bool | None = None


class OperatorItem(BaseModel):
    id: str
    email: str
    role: str
    display_name: str | None = None
    active: bool


class OperatorList(BaseModel):
    items: list[OperatorItem]


def operator_item(operator: Operator) -> OperatorItem:
    return OperatorItem(
        id=str(operator.id),
        email=operator.email,
        role=operator.role,
        display_name=operator.display_name,
        active=operator.active,
    )


# Who may call: any signed-in operator; one with the CSRF token; an admin (CSRF checked too).
Reader = Annotated[Operator, Depends(current_operator)]
Writer = Annotated[PanelSession, Depends(require_csrf)]
Admin = Annotated[Operator, Depends(require_admin)]


def conversation_item(found: actions.ConversationSummary) -> ConversationItem:
    conversation, contact = found.conversation, found.contact
    return ConversationItem(
        id=str(conversation.id),
        channel=conversation.channel,
        mode=conversation.mode,
        contact=ContactView(
            id=str(contact.id) if contact else None,
            display_name=contact.display_name if contact else None,
            channel=contact.channel if contact else conversation.channel,
            language=contact.language if contact else None,
        ),
        last_message_at=conversation.last_message_at,
        unread=conversation.unread_operator,
        assignee_id=str(conversation.assignee_id) if conversation.assignee_id else None,
        last_seq=conversation.last_seq,
        created_at=conversation.created_at,
        closed_at=conversation.closed_at,
        window=(
            WindowView(
                open=window_open(conversation.last_customer_message_at),
                closes_at=window_closes_at(conversation.last_customer_message_at),
            )
            if conversation.channel in WINDOWED_CHANNELS
            else None
        ),
    )


def block_view(block: PromptBlock) -> PromptBlockView:
    return PromptBlockView(
        id=str(block.id),
        name=block.name,
        text=block.text,
        enabled=block.enabled,
        order=block.order,
        channel=block.channel,
        language=block.language,
        secret=block.secret,
        updated_at=block.updated_at,
    )


def _blank_to_none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def build_api_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["panel"])

    @router.get("/conversations", response_model=ConversationList)
    async def conversations(
        operator: Reader,
        mode: Annotated[Mode | None, Query()] = None,
        channel: Annotated[str | None, Query(max_length=32)] = None,
        q: Annotated[str | None, Query(max_length=200)] = None,
        assignee: Annotated[Literal["me"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=actions.MAX_LIST)] = 100,
    ) -> ConversationList:
        found = await actions.list_conversations(
            mode=mode,
            channel=_blank_to_none(channel),
            q=q,
            assignee_id=operator.id if assignee == "me" else None,
            limit=limit,
        )
        return ConversationList(items=[conversation_item(f) for f in found])

    @router.get("/conversations/unread", response_model=UnreadList)
    async def unread(_: Reader) -> UnreadList:
        counts = await actions.unread_counts()
        return UnreadList(total=len(counts), items=counts)

    @router.get("/conversations/{conversation_id}", response_model=ConversationItem)
    async def conversation(conversation_id: str, _: Reader) -> ConversationItem:
        return conversation_item(await _summary(conversation_id))

    @router.get("/conversations/{conversation_id}/messages", response_model=MessageList)
    async def messages(
        conversation_id: str,
        _: Reader,
        before_seq: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
    ) -> MessageList:
        found = await _summary(conversation_id)
        assert found.conversation.id is not None
        page = await latest_messages(found.conversation.id, before_seq=before_seq, limit=limit + 1)
        has_more = len(page) > limit
        page = page[-limit:]
        items = [PanelMessage.model_validate(m.operator_view()) for m in page]
        return MessageList(items=items, has_more=has_more)

    @router.post("/conversations/{conversation_id}/messages", response_model=ReplyResponse)
    async def reply(
        conversation_id: str, body: ReplyRequest, request: Request, session: Writer
    ) -> ReplyResponse:
        core = core_of(request)
        found = await _summary(conversation_id)
        windowed = found.conversation.channel in WINDOWED_CHANNELS
        text = body.text
        if body.template:
            if not windowed:
                raise HTTPException(422, "templates are sent on WhatsApp only")
            if not core.settings.whatsapp_template_sid:
                raise HTTPException(409, NO_TEMPLATE)
            text = text.strip() or "(template)"
        elif not text.strip():
            raise HTTPException(422, "a reply needs some text")
        elif windowed and not window_open(found.conversation.last_customer_message_at):
            raise HTTPException(409, OUTSIDE_WINDOW)
        await check_draft(found.conversation, body.draft_for)
        try:
            message, conversation = await actions.operator_reply(
                core=core,
                conversation_id=conversation_id,
                operator=session.operator,
                text=text,
                template=body.template,
                quick_replies=[q for q in body.quick_replies if q.title.strip()],
            )
        except actions.ConversationNotFound:
            raise HTTPException(404, "no such conversation") from None
        except InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from None
        return ReplyResponse(
            message=message.view(),
            conversation=conversation_item(await actions.summary(conversation)),
        )

    @router.get("/whatsapp/template", response_model=TemplateView)
    async def whatsapp_template(request: Request, _: Reader) -> TemplateView:
        settings = core_of(request).settings
        sid = settings.whatsapp_template_sid
        return TemplateView(
            configured=sid is not None,
            content_sid=sid,
            variables=dict(settings.whatsapp_template_variables) if sid else {},
        )

    @router.post("/conversations/{conversation_id}/read", response_model=ConversationItem)
    async def read(conversation_id: str, request: Request, session: Writer) -> ConversationItem:
        try:
            found = await actions.mark_read(
                core=core_of(request), conversation_id=conversation_id, operator=session.operator
            )
        except actions.ConversationNotFound:
            raise HTTPException(404, "no such conversation") from None
        return conversation_item(await actions.summary(found))

    for name in ("takeover", "handback", "close"):
        router.add_api_route(
            f"/conversations/{{conversation_id}}/{name}",
            _mode_action(name),
            methods=["POST"],
            response_model=ConversationItem,
            name=f"conversation_{name}",
        )

    @router.get("/operators", response_model=OperatorList)
    async def operators(operator: Reader) -> OperatorList:
        if operator.role != "admin":
            raise HTTPException(403, "only an admin may do this")
        found = await Operator.find_all().sort("+email").to_list()
        return OperatorList(items=[operator_item(o) for o in found])

    for name, active in (("deactivate", False), ("activate", True)):
        router.add_api_route(
            f"/operators/{{operator_id}}/{name}",
            _activation(active),
            methods=["POST"],
            response_model=OperatorItem,
            name=f"operator_{name}",
        )

    @router.get("/prompt-blocks", response_model=PromptBlockList)
    async def prompt_blocks(_: Reader) -> PromptBlockList:
        return PromptBlockList(items=[block_view(b) for b in await actions.list_prompt_blocks()])

    @router.post("/prompt-blocks", response_model=PromptBlockView, status_code=201)
    async def create_block(body: PromptBlockCreate, request: Request, _: Admin) -> PromptBlockView:
        block = await actions.create_prompt_block(
            core=core_of(request),
            name=body.name.strip(),
            text=body.text,
            enabled=body.enabled,
            order=body.order,
            channel=_blank_to_none(body.channel),
            language=_blank_to_none(body.language),
            secret=body.secret,
        )
        return block_view(block)

    @router.put("/prompt-blocks/{block_id}", response_model=PromptBlockView)
    async def update_block(
        block_id: str, body: PromptBlockUpdate, request: Request, _: Admin
    ) -> PromptBlockView:
        changes: dict[str, Any] = body.model_dump(exclude_unset=True)
        for key in ("name", "text", "enabled", "order", "secret"):
            if key in changes and changes[key] is None:
                del changes[key]
        for key in ("channel", "language"):
            if key in changes:
                changes[key] = _blank_to_none(changes[key])
        if "name" in changes:
            changes["name"] = changes["name"].strip()
        block = await actions.update_prompt_block(
            core=core_of(request), block_id=block_id, changes=changes
        )
        if block is None:
            raise HTTPException(404, "no such prompt block")
        return block_view(block)

    @router.delete("/prompt-blocks/{block_id}", status_code=204)
    async def delete_block(block_id: str, request: Request, _: Admin) -> Response:
        if not await actions.delete_prompt_block(core=core_of(request), block_id=block_id):
            raise HTTPException(404, "no such prompt block")
        return Response(status_code=204)

    return router


async def _summary(conversation_id: str) -> actions.ConversationSummary:
    try:
        return await actions.get_summary(conversation_id=conversation_id)
    except actions.ConversationNotFound:
        raise HTTPException(404, "no such conversation") from None


_ACTIONS = {"takeover": actions.takeover, "handback": actions.handback, "close": actions.close}


def _mode_action(name: str) -> Any:
    action = _ACTIONS[name]

    async def endpoint(
        conversation_id: str,
        request: Request,
        session: Writer,
    ) -> ConversationItem:
        try:
            conversation = await action(
                core=core_of(request), conversation_id=conversation_id, operator=session.operator
            )
        except actions.ConversationNotFound:
            raise HTTPException(404, "no such conversation") from None
        except InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from None
        return conversation_item(await actions.summary(conversation))

    endpoint.__name__ = f"conversation_{name}"
    return endpoint


def _activation(active: bool) -> Any:
    async def endpoint(operator_id: str, request: Request, admin: Admin) -> OperatorItem:
        if not active and operator_id == str(admin.id):
            raise HTTPException(409, "an admin cannot deactivate their own account")
        found = await actions.set_operator_active(
            core=core_of(request), operator_id=operator_id, active=active
        )
        if found is None:
            raise HTTPException(404, "no such operator")
        return operator_item(found)

    endpoint.__name__ = f"operator_{'activate' if active else 'deactivate'}"
    return endpoint
