"""Stored media over HTTP: operators' `GET /api/media/{id}` and the signed `GET /media/{id}`.

The panel shows photos inline and everything else as a download: only raster image types
are served inline, anything else (an SVG, an HTML file a customer sent) goes out as an
attachment, with `nosniff` and a sandboxing CSP so no browser runs it on our origin. The
signed route is what Twilio fetches an operator's attachment from (`MediaUrl`): no session,
an HMAC over the id and an expiry instead.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response

from bot.core import operator_actions as actions
from bot.core.documents import MediaFile, Operator
from bot.core.media import link_valid, read_media, signed_link, store_upload
from bot.core.modes import InvalidTransition
from bot.core.types import Attachment, window_open
from operator_panel.api import OUTSIDE_WINDOW, WINDOWED_CHANNELS, conversation_item
from operator_panel.auth import PanelSession, core_of, current_operator, require_csrf

Reader = Annotated[Operator, Depends(current_operator)]
Writer = Annotated[PanelSession, Depends(require_csrf)]
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# Uploads have a body limit of their own (bot.server.app): MEDIA_MAX_BYTES plus the form.
UPLOAD_PREFIX = "/api/uploads/"


def media_response(record: MediaFile, data: bytes, *, cache: str) -> Response:
    """The file with its type; inline only for raster images, never sniffed or run."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": cache,
    }
    if record.mime_type not in INLINE_TYPES:
        name = record.name or f"file-{record.id}"
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
    return Response(content=data, media_type=record.mime_type, headers=headers)


def build_media_router() -> APIRouter:
    router = APIRouter(tags=["panel"])

    @router.get("/api/media/{media_id}")
    async def operator_media(media_id: str, request: Request, _: Reader) -> Response:
        found = await read_media(core_of(request).settings, media_id)
        if found is None:
            raise HTTPException(404, "no such file")
        return media_response(*found, cache="private, max-age=3600")

    @router.get("/media/{media_id}", include_in_schema=False)
    async def signed_media(
        media_id: str, request: Request, exp: int = 0, sig: str = ""
    ) -> Response:
        settings = core_of(request).settings
        if not sig or not link_valid(settings, media_id, exp, sig):
            raise HTTPException(403, "this media link is expired or not ours")
        found = await read_media(settings, media_id)
        if found is None:
            raise HTTPException(404, "no such file")
        return media_response(*found, cache="private, no-store")

    @router.post(UPLOAD_PREFIX + "{conversation_id}", status_code=201)
    async def upload(
        conversation_id: str,
        request: Request,
        session: Writer,
        file: Annotated[UploadFile, File()],
        text: Annotated[str, Form(max_length=4000)] = "",
    ) -> dict[str, Any]:
        """An operator's photo or file (and caption), sent on the chat's channel."""
        core = core_of(request)
        settings = core.settings
        try:
            found = await actions.get_summary(conversation_id=conversation_id)
        except actions.ConversationNotFound:
            raise HTTPException(404, "no such conversation") from None
        conversation = found.conversation
        if conversation.channel in WINDOWED_CHANNELS and not window_open(
            conversation.last_customer_message_at
        ):
            raise HTTPException(409, OUTSIDE_WINDOW)
        data = await file.read(settings.media_max_bytes + 1)
        if len(data) > settings.media_max_bytes:
            limit = settings.media_max_bytes
            raise HTTPException(413, f"the file is over MEDIA_MAX_BYTES ({limit})")
        if not data:
            raise HTTPException(422, "the file is empty")
        mime = (file.content_type or "application/octet-stream").split(";")[0].strip().lower()
        if not settings.media_type_allowed(mime):
            raise HTTPException(415, f"files of type {mime} are not allowed (MEDIA_ALLOWED_TYPES)")
        assert conversation.id is not None
        name = (file.filename or "").replace("/", "_").replace("\\", "_")[-200:] or None
        record = await store_upload(
            settings, conversation_id=conversation.id, data=data, mime_type=mime, name=name
        )
        media_id = str(record.id)
        extra: dict[str, Any] = {}
        if conversation.channel == "web":
            # The visitor has no session: the widget links to a signed URL that lives as long
            # as a visitor token does.
            ttl = settings.widget_token_ttl_days * 86_400
            extra["url"] = signed_link(settings, media_id, ttl_s=ttl).url
        attachment = Attachment(
            kind="image" if record.mime_type in INLINE_TYPES else "file",
            mime_type=record.mime_type,
            name=name,
            media_id=media_id,
            size=record.size,
            **extra,
        )
        try:
            message, updated = await actions.operator_reply(
                core=core,
                conversation_id=conversation_id,
                operator=session.operator,
                text=text.strip(),
                attachments=[attachment],
            )
        except actions.ConversationNotFound:
            raise HTTPException(404, "no such conversation") from None
        except InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from None
        return {
            "message": message.operator_view(),
            "conversation": conversation_item(await actions.summary(updated)).model_dump(
                mode="json"
            ),
        }

    return router
