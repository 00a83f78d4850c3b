"""WhatsApp through Twilio: signed form webhooks in, the Messages REST API out.

Inbound, Twilio posts a form to `/webhooks/twilio/whatsapp` (a customer message) or to
`/webhooks/twilio/status` (a delivery report for a message we sent). Both carry
`X-Twilio-Signature`, an HMAC of `PUBLIC_BASE_URL` + path (+ query) and the form fields
keyed with the account's auth token; anything unsigned or forged gets a 403 before it is
looked at. A customer message is stored and answered with empty TwiML at once: the AI's
answer leaves later through the REST API (`send()`), never inside Twilio's 15-second
webhook deadline.

Outbound, the official `twilio` client runs in async mode on an aiohttp session of ours.
That session's HTTP client rewrites the scheme and host of every request to
`TWILIO_API_BASE` when it is set (a regional edge, a proxy, or a test server), so the
library builds the real URLs, form bodies and auth and only the destination changes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import random
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import aiohttp
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from loguru import logger
from starlette.datastructures import FormData, UploadFile
from twilio.base.exceptions import TwilioException  # type: ignore[import-untyped]
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from bot.core.types import (
    Attachment,
    ChannelContext,
    DeliveryResult,
    DeliveryStatus,
    FetchedMedia,
    InboundMessage,
    IngestUnavailable,
    MediaDownload,
    MediaTooLarge,
    OutboundMessage,
    window_open,
)
from channels.base import ChannelAdapter, with_media
from channels.quick_replies import numbered_options
from channels.text_parts import split_message
from config import Settings

CHANNEL = "whatsapp"
INBOUND_PATH = "/webhooks/twilio/whatsapp"
STATUS_PATH = "/webhooks/twilio/status"
ADDRESS_PREFIX = "whatsapp:"
SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# Twilio's limit for one WhatsApp message body, counted here in UTF-16 code units (an emoji
# counts two) so that no counting convention on Twilio's side can make a part too long.
MAX_BODY = 1600
# A webhook form is a few hundred bytes; a 4096-character text percent-encoded stays far
# below this. Anything bigger is not from Twilio.
MAX_FORM_BYTES = 128 * 1024
MAX_FORM_FIELDS = 300
# REST calls: total deadline of one HTTP request, and the retry schedule for 429/5xx.
REQUEST_TIMEOUT_S = 15.0
MAX_ATTEMPTS = 4
RETRY_BASE_S = 0.5
RETRY_CAP_S = 8.0
# A status report can overtake the storing of the SID it is about (Twilio answers the
# create call, then reports "sent" or "failed" within moments): an unknown SID is looked
# up again a few times before the report is dropped.
UNKNOWN_SID_RETRY_S = (0.25, 0.5, 1.0, 2.0, 4.0)
MAX_PENDING_REPORTS = 256

# Twilio's MessageStatus values → ours. queued/accepted/sending/scheduled say nothing the
# message's own state (sent once Twilio accepted it) does not already say.
_STATUS_MAP: dict[str, DeliveryStatus] = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
_INBOUND_STATUSES = frozenset({"received", "receiving"})

# Sending to a customer who opted out fails with OPTED_OUT; they opt back in with one of
# Twilio's opt-in keywords. Opt-out keywords are left to Twilio: "cancel" or "end" is also
# how a customer talks about an order, and only Twilio's refusal says they really opted out.
OPTED_OUT = 21610
OUTSIDE_WINDOW = 63016
MAX_TEMPLATE_VARIABLE = 900
# A quick-reply content template: a body of at most 1024 characters and three buttons.
QUICK_REPLY_BODY = 1024
MAX_QUICK_REPLIES = 3
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})

# What an operator should know about the error codes WhatsApp senders meet most.
ERROR_HINTS: dict[int, str] = {
    63016: (
        "outside the 24-hour customer-service window: a free-form message is not allowed, "
        "a template is needed (or wait for the customer to write again)"
    ),
    21211: "the 'To' number is not a valid phone number",
    21408: "this account may not send to that region",
    21610: "the recipient has opted out of messages from this sender",
    20003: "Twilio refused the credentials: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
    63003: "the channel could not find the recipient: not a WhatsApp user?",
    63024: "the recipient is not a valid WhatsApp user",
    63032: "WhatsApp does not deliver to this user (their own limits or settings)",
}

_MEDIA_FIELD = re.compile(r"MediaUrl(\d+)")
_NOT_FILES = frozenset({"location", "button_reply", "list_reply"})

# The twilio library logs every request at INFO through the standard logging module: URLs
# (with the account SID) and headers. Keep it quiet; the auth token is never logged.
_http_log = logging.getLogger("switchboard.channels.whatsapp.http")
_http_log.setLevel(logging.WARNING)


def describe_error(code: object, message: object) -> str:
    """`"{code}: {message}"` plus what the code means for a WhatsApp sender."""
    text = str(message or "").strip() or "no error message"
    try:
        number: int | None = int(str(code))
    except ValueError:
        number = None
    if number is None:
        described = text if code in (None, "") else f"{code}: {text}"
    else:
        described = f"{number}: {text}"
    hint = ERROR_HINTS.get(number) if number is not None else None
    return f"{described} ({hint})" if hint else described


def address(number: str) -> str:
    """`whatsapp:+15550001111` for a stored chat id (`+15550001111`) or a full address."""
    return number if number.startswith(ADDRESS_PREFIX) else ADDRESS_PREFIX + number


def chat_id_of(fields: Mapping[str, str]) -> str | None:
    """The customer's canonical id: the E.164 number of `From` (or `+WaId`), no prefix."""
    sender = fields.get("From", "").strip()
    if sender.startswith(ADDRESS_PREFIX):
        number = sender[len(ADDRESS_PREFIX) :].strip()
        if number:
            return number if number.startswith("+") else f"+{number}"
    wa_id = fields.get("WaId", "").strip().lstrip("+")
    if wa_id.isdigit() and not sender:
        return f"+{wa_id}"
    return None


def media_kind(content_type: str) -> str:
    major, _, minor = content_type.lower().partition("/")
    if major in ("image", "video", "audio"):
        return major
    if minor in ("vcard", "x-vcard"):
        return "contact"
    return "file"


def attachments_of(fields: Mapping[str, str]) -> list[Attachment]:
    """Media, a shared location, a tapped quick-reply button or list item, as attachments."""
    found: list[Attachment] = []
    indexes = sorted(
        int(m.group(1)) for key in fields if (m := _MEDIA_FIELD.fullmatch(key)) is not None
    )
    for index in indexes:
        url = fields.get(f"MediaUrl{index}", "").strip()
        if not url:
            continue
        content_type = fields.get(f"MediaContentType{index}", "").strip() or None
        found.append(
            Attachment(
                kind=media_kind(content_type or "application/octet-stream"),
                url=url,
                mime_type=content_type,
            )
        )
    location = _location(fields)
    if location is not None:
        found.append(location)
    if fields.get("ButtonText") or fields.get("ButtonPayload"):
        found.append(
            Attachment(
                kind="button_reply",
                name=fields.get("ButtonText") or None,
                payload=fields.get("ButtonPayload") or None,
                replied_to=fields.get("OriginalRepliedMessageSid") or None,
            )
        )
    if fields.get("ListId") or fields.get("ListTitle"):
        found.append(
            Attachment(
                kind="list_reply",
                name=fields.get("ListTitle") or None,
                payload=fields.get("ListId") or None,
            )
        )
    return found


def _location(fields: Mapping[str, str]) -> Attachment | None:
    try:
        latitude = float(fields["Latitude"])
        longitude = float(fields["Longitude"])
    except (KeyError, ValueError):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    label = fields.get("Label", "").strip() or None
    return Attachment(
        kind="location",
        url=f"https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}",
        name=label,
        latitude=latitude,
        longitude=longitude,
        address=fields.get("Address", "").strip() or None,
        label=label,
    )


def normalize(fields: Mapping[str, str]) -> InboundMessage:
    """A customer message from Twilio's inbound form fields (`ValueError` when unusable)."""
    message_id = next(
        (fields[k].strip() for k in ("MessageSid", "SmsSid", "SmsMessageSid") if fields.get(k)),
        "",
    )
    if not message_id:
        raise ValueError("MessageSid is missing")
    chat_id = chat_id_of(fields)
    if chat_id is None:
        raise ValueError("From must be a whatsapp: address")
    text = fields.get("Body", "")
    if not text.strip():
        text = fields.get("ButtonText") or fields.get("ListTitle") or ""
    return InboundMessage(
        channel=CHANNEL,
        external_chat_id=chat_id,
        external_user_id=chat_id,
        external_message_id=message_id,
        text=text,
        display_name=fields.get("ProfileName", "").strip() or None,
        attachments=attachments_of(fields),
        raw=dict(fields),
    )


class _ApiHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """twilio's aiohttp client with a real deadline and, if set, `TWILIO_API_BASE`.

    The library builds absolute `https://api.twilio.com/2010-04-01/...` URLs; with a base
    set, only the scheme and host (and a path prefix, for a proxy) are replaced, so the
    path, form body and basic auth stay exactly what the library sends.
    """

    def __init__(self, api_base: str | None, timeout: float) -> None:
        super().__init__(pool_connections=False, logger=_http_log)
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        self._base = urlsplit(api_base.rstrip("/")) if api_base else None

    def rewrite(self, url: str) -> str:
        if self._base is None:
            return url
        parts = urlsplit(url)
        path = self._base.path + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the library's signature
        allow_redirects: bool = False,
    ) -> Any:
        headers = dict(headers or {})
        if auth is not None:
            # As a header rather than aiohttp's deprecated BasicAuth; the library's request
            # log leaves Authorization headers out.
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return await super().request(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


class _SendError(Exception):
    def __init__(self, error: str, *, retryable: bool, code: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.retryable = retryable
        self.code = code


class WhatsAppChannel(ChannelAdapter):
    """Channel `whatsapp`: Twilio's WhatsApp webhooks in, its Messages API out."""

    name: ClassVar[str] = CHANNEL

    retry_base_s: float = RETRY_BASE_S

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        if not settings.twilio_account_sid or settings.twilio_auth_token is None:
            raise ValueError("the WhatsApp channel needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        self.account_sid: str = settings.twilio_account_sid
        self._token = settings.twilio_auth_token
        self._validator = RequestValidator(self._token.get_secret_value())
        api_base = settings.twilio_api_base
        if api_base and not api_base.startswith(("http://", "https://")):
            raise ValueError("TWILIO_API_BASE must be an http:// or https:// URL")
        self.api_base: str | None = api_base or None
        self._http: _ApiHttpClient | None = None
        self._client: Any = None
        self._reports: set[asyncio.Task[None]] = set()

    # --- lifecycle --------------------------------------------------------------------------

    async def startup(self, *, inbound: bool = True) -> None:
        if not self.settings.twilio_whatsapp_from:
            logger.warning("WhatsApp: TWILIO_WHATSAPP_FROM is not set; answers cannot be sent")
        self._ensure_client()

    async def shutdown(self) -> None:
        for task in list(self._reports):
            task.cancel()
        if self._reports:
            await asyncio.gather(*self._reports, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        self._http = self._client = None

    def _ensure_client(self) -> Any:
        if self._client is None:
            self._http = _ApiHttpClient(self.api_base, REQUEST_TIMEOUT_S)
            self._client = Client(
                username=self.account_sid,
                password=self._token.get_secret_value(),
                account_sid=self.account_sid,
                http_client=self._http,
            )
        return self._client

    # --- outbound ---------------------------------------------------------------------------

    async def send(self, outbound: OutboundMessage) -> DeliveryResult:
        sender = self.settings.twilio_whatsapp_from
        if not sender:
            return DeliveryResult(DeliveryStatus.FAILED, error="TWILIO_WHATSAPP_FROM is not set")
        message = outbound.message
        text = message.text.strip()
        # Richer content falls back to text: links to what the message carries.
        links = [f"{a.name or a.kind}: {a.url}" for a in message.attachments if a.url]
        if links:
            text = "\n".join([text, *links]) if text else "\n".join(links)
        to = address(outbound.external_chat_id)
        sender = address(sender)
        template_sid = self.settings.whatsapp_template_sid
        buttons = message.quick_replies[:MAX_QUICK_REPLIES]
        as_template = outbound.template or bool(
            template_sid and not window_open(outbound.customer_last_wrote_at)
        )
        # A quick-reply template holds three buttons: more options (a 1–5 rating) go as
        # numbered lines rather than losing the rest.
        fits = len(message.quick_replies) <= MAX_QUICK_REPLIES
        quick_sid = (
            self.settings.whatsapp_quick_reply_sid if buttons and fits and not as_template else None
        )
        if buttons and quick_sid is None:
            # No buttons here: the options as numbered lines (the customer answers "1").
            text = numbered_options(text, message.quick_replies)
        # Outside the 24-hour window a free-form message fails with 63016: what must arrive
        # (a hand-off notice, an operator's template) goes as the approved template.
        if as_template:
            return await self._send_template(outbound, text, sender=sender, to=to)
        parts = split_message(text, QUICK_REPLY_BODY if quick_sid else MAX_BODY)
        # An operator's files: Twilio fetches each from a signed, expiring link to us.
        media = [
            self.context.media_link(str(extra["media_id"]))
            for a in message.attachments
            if (extra := a.model_extra or {}).get("media_id")
        ]
        if not parts and media:
            parts = [""]
        if not parts:
            return DeliveryResult(DeliveryStatus.FAILED, error="nothing to send: the text is empty")
        sids: list[str] = []
        for number, part in enumerate(parts, start=1):
            try:
                if media and number == 1:
                    sids.append(await self._create(sender=sender, to=to, body=part, media=media))
                    continue
                if quick_sid and number == len(parts):
                    # The last part carries the buttons: the quick-reply content template,
                    # its body {{1}} and the button titles {{2}}, {{3}}, {{4}}.
                    variables = {"1": part} | {
                        str(index): b.title for index, b in enumerate(buttons, start=2)
                    }
                    sids.append(
                        await self._create(
                            sender=sender, to=to, content_sid=quick_sid, content_variables=variables
                        )
                    )
                    continue
                sids.append(await self._create(sender=sender, to=to, body=part))
            except _SendError as exc:
                if exc.code == OUTSIDE_WINDOW and template_sid:
                    logger.info("WhatsApp: outside the window, sending the template instead")
                    rest = "\n\n".join(parts[number - 1 :])
                    return await self._send_template(outbound, rest, sender=sender, to=to)
                error = exc.error
                if len(parts) > 1:
                    error = f"part {number} of {len(parts)}: {error}"
                logger.warning("WhatsApp send to {} failed: {}", _mask(to), error)
                if exc.code == OPTED_OUT:
                    await self._set_opted_out(outbound.external_chat_id, True)
                return DeliveryResult(
                    DeliveryStatus.FAILED,
                    provider_message_id=sids[-1] if sids else None,
                    error=error,
                )
        # Delivery reports follow the last part: once it is delivered or read, so is the answer.
        return DeliveryResult(DeliveryStatus.SENT, provider_message_id=sids[-1])

    def template_variables(self, text: str, display_name: str | None) -> dict[str, str]:
        """WHATSAPP_TEMPLATE_VARIABLES with `{text}` and `{name}` filled in."""
        # WhatsApp refuses a variable with a line break, a tab or more than four spaces in a
        # row; a template body holds at most 1024 characters.
        flat = " ".join(text.split())
        if len(flat) > MAX_TEMPLATE_VARIABLE:
            flat = flat[: MAX_TEMPLATE_VARIABLE - 1].rstrip() + "…"
        name = " ".join((display_name or "").split()) or "there"
        return {
            key: value.replace("{name}", name).replace("{text}", flat) or "-"
            for key, value in self.settings.whatsapp_template_variables.items()
        }

    async def _send_template(
        self, outbound: OutboundMessage, text: str, *, sender: str, to: str
    ) -> DeliveryResult:
        """The configured template (ContentSid + ContentVariables) instead of free text."""
        template_sid = self.settings.whatsapp_template_sid
        if not template_sid:
            return DeliveryResult(
                DeliveryStatus.FAILED,
                error=(
                    "outside the 24-hour customer-service window and no template is "
                    "configured (WHATSAPP_TEMPLATE_SID)"
                ),
            )
        variables = self.template_variables(text, outbound.display_name)
        try:
            sid = await self._create(
                sender=sender, to=to, content_sid=template_sid, content_variables=variables
            )
        except _SendError as exc:
            logger.warning("WhatsApp template to {} failed: {}", _mask(to), exc.error)
            if exc.code == OPTED_OUT:
                await self._set_opted_out(outbound.external_chat_id, True)
            return DeliveryResult(DeliveryStatus.FAILED, error=f"template: {exc.error}")
        return DeliveryResult(DeliveryStatus.SENT, provider_message_id=sid)

    async def _create(
        self,
        *,
        sender: str,
        to: str,
        body: str | None = None,
        content_sid: str | None = None,
        content_variables: Mapping[str, str] | None = None,
        media: list[str] | None = None,
    ) -> str:
        """One Messages.create call with bounded retries on 429, 5xx and refused connections."""
        client = self._ensure_client()
        callback = f"{self.settings.public_base_url}{STATUS_PATH}"
        fields: dict[str, Any] = {"from_": sender, "to": to, "status_callback": callback}
        if content_sid is not None:
            fields["content_sid"] = content_sid
            if content_variables:
                fields["content_variables"] = json.dumps(dict(content_variables))
        else:
            if body or not media:
                fields["body"] = body
            if media:
                fields["media_url"] = media
        attempt = 0
        while True:
            attempt += 1
            try:
                created = await client.messages.create_async(**fields)
                sid = getattr(created, "sid", None)
                if not isinstance(sid, str) or not sid:
                    raise _SendError("Twilio answered without a message SID", retryable=False)
                return sid
            except _SendError:
                raise
            except TwilioException as exc:
                failure = _rest_failure(exc)
            except aiohttp.ClientConnectorError as exc:
                # Nothing reached Twilio: safe to try again.
                failure = _SendError(f"cannot connect to the Twilio API: {exc}", retryable=True)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # The request may have been received: trying again could send it twice.
                detail = str(exc) or type(exc).__name__
                failure = _SendError(f"Twilio API request failed: {detail}", retryable=False)
            except Exception as exc:  # e.g. an unreadable 2xx body: it may have been sent
                logger.exception("WhatsApp send: unexpected answer from the Twilio API")
                detail = f"{type(exc).__name__}: {exc}"[:300]
                failure = _SendError(f"unexpected Twilio API answer ({detail})", retryable=False)
            if not failure.retryable or attempt >= MAX_ATTEMPTS:
                raise failure
            delay = min(RETRY_CAP_S, self.retry_base_s * 2 ** (attempt - 1))
            delay *= 1 + random.random() * 0.25  # noqa: S311 - jitter, not security
            logger.info("WhatsApp send: {} (retry {} in {:.2f}s)", failure.error, attempt, delay)
            await asyncio.sleep(delay)

    # --- inbound ----------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(tags=["whatsapp"])

        @router.post(INBOUND_PATH, include_in_schema=False)
        async def inbound(request: Request) -> Response:
            fields = await self._verified_form(request)
            status = fields.get("MessageStatus", "").strip().lower()
            if status and status not in _INBOUND_STATUSES:
                # A delivery report sent to the message URL: never a customer message.
                await self.handle_status(fields)
                return _twiml()
            if not fields.get("From", "").startswith(ADDRESS_PREFIX) and fields.get("From"):
                logger.info("WhatsApp webhook: ignored a non-WhatsApp message")
                return _twiml()
            try:
                message = normalize(fields)
            except ValueError as exc:
                raise HTTPException(400, f"not a WhatsApp message: {exc}") from None
            try:
                # Answered once durably appended; stored behind (`process_ingested`).
                await self.context.accept(
                    channel=CHANNEL,
                    key=message.external_message_id,
                    chat=message.external_chat_id,
                    payload=json.dumps(fields).encode(),
                )
                return _twiml()
            except IngestUnavailable:
                pass
            try:
                await self._store(message)
            except Exception:
                logger.exception("WhatsApp message {} not stored", message.external_message_id)
                raise HTTPException(503, "the message could not be stored; try again") from None
            return _twiml()

        @router.post(STATUS_PATH, include_in_schema=False)
        async def status(request: Request) -> Response:
            fields = await self._verified_form(request)
            await self.handle_status(fields)
            return _twiml()

        return router

    async def _store(self, message: InboundMessage) -> None:
        if message.text.strip().upper() in OPT_IN_KEYWORDS:
            await self._set_opted_out(message.external_user_id, False)
        if any(self._media_of(a) for a in message.attachments):
            # Fetched here, behind the ingest stream: Twilio had its TwiML at once.
            message = await with_media(self.context, message, self._media_of)
        await self.context.handle_inbound(message)

    def _media_of(self, attachment: Attachment) -> tuple[str, MediaDownload] | None:
        """The media SID and the download of a MediaUrl attachment (None: not a file)."""
        if attachment.kind in _NOT_FILES or not attachment.url:
            return None
        url = attachment.url
        sid = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        unique_id = sid if sid.startswith("ME") else hashlib.sha256(url.encode()).hexdigest()

        async def download(limit: int) -> FetchedMedia:
            return await self._download(url, limit)

        return unique_id, download

    async def _download(self, url: str, limit: int) -> FetchedMedia:
        """GET a MediaUrl with the account's basic auth, stopped past `limit` bytes."""
        host = (urlsplit(url).hostname or "").lower()
        if urlsplit(url).scheme != "https" or not (
            host == "twilio.com" or host.endswith(".twilio.com")
        ):
            # The credentials go to Twilio only, and the app fetches nothing else.
            raise ValueError("a MediaUrl outside twilio.com")
        self._ensure_client()
        http = self._http
        assert http is not None
        token = base64.b64encode(
            f"{self.account_sid}:{self._token.get_secret_value()}".encode()
        ).decode("ascii")
        headers = {"Authorization": f"Basic {token}"}
        # Twilio answers with a redirect to its media store; aiohttp drops the credentials
        # on a redirect to another host.
        async with http.session.get(http.rewrite(url), headers=headers) as response:
            response.raise_for_status()
            if response.content_length is not None and response.content_length > limit:
                raise MediaTooLarge(f"{response.content_length} bytes")
            data = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                data += chunk
                if len(data) > limit:
                    raise MediaTooLarge(f"over {limit} bytes")
            return FetchedMedia(bytes(data), response.headers.get("Content-Type"))

    async def process_ingested(self, payload: bytes) -> None:
        """Store an appended inbound form (the fields as Twilio signed them)."""
        fields = json.loads(payload)
        if not isinstance(fields, dict):
            raise ValueError("an ingested WhatsApp entry must hold the form's fields")
        await self._store(normalize({str(k): str(v) for k, v in fields.items()}))

    async def _set_opted_out(self, chat_id: str, opted_out: bool) -> None:
        """Nothing is sent to a customer who opted out, until they opt back in."""
        logger.info("WhatsApp {} opted {}", _mask(chat_id), "out" if opted_out else "in")
        await self.context.set_blocked(channel=CHANNEL, external_user_id=chat_id, blocked=opted_out)

    async def _verified_form(self, request: Request) -> dict[str, str]:
        """The form fields of a request Twilio signed; 403/400/413 with a reason otherwise."""
        signature = request.headers.get(SIGNATURE_HEADER, "").strip()
        if not signature:
            raise HTTPException(403, f"missing {SIGNATURE_HEADER} header")
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise HTTPException(400, "expected an application/x-www-form-urlencoded body")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise HTTPException(413, "the form is too large")
        try:
            pairs = parse_qsl(
                body.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=bool(body),
                errors="strict",
                max_num_fields=MAX_FORM_FIELDS,
            )
        except ValueError:  # UnicodeDecodeError included
            raise HTTPException(400, "the body is not a valid UTF-8 form") from None
        items: list[tuple[str, str | UploadFile]] = list(pairs)
        form = FormData(items)
        url = f"{self.settings.public_base_url}{request.url.path}"
        if request.url.query:
            url += f"?{request.url.query}"
        if not self._validator.validate(url, form, signature):
            raise HTTPException(403, f"{SIGNATURE_HEADER} does not match this request")
        return {key: value for key, value in form.multi_items() if isinstance(value, str)}

    async def handle_status(self, fields: Mapping[str, str]) -> None:
        """Apply one status callback; unknown SIDs and statuses are dropped, never an error."""
        sid = (fields.get("MessageSid") or fields.get("SmsSid") or "").strip()
        raw_status = (fields.get("MessageStatus") or fields.get("SmsStatus") or "").strip().lower()
        status = _STATUS_MAP.get(raw_status)
        if not sid or status is None:
            return
        error: str | None = None
        if status is DeliveryStatus.FAILED:
            code, text = fields.get("ErrorCode"), fields.get("ErrorMessage")
            error = describe_error(code, text or raw_status) if code else raw_status
            if (code or "").strip() == str(OUTSIDE_WINDOW) and await self._template_instead(sid):
                return
        if await self._record(sid, status, error):
            return
        if len(self._reports) >= MAX_PENDING_REPORTS:
            return
        task = asyncio.create_task(self._record_later(sid, status, error))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _template_instead(self, sid: str) -> bool:
        """A free-form message that failed with 63016 goes again as the template, if set."""
        if not self.settings.whatsapp_template_sid or not self.settings.twilio_whatsapp_from:
            return False
        try:
            outbound = await self.context.outbound_for(channel=CHANNEL, provider_message_id=sid)
        except Exception:
            logger.exception("WhatsApp: the message of {} could not be read", sid)
            return False
        if outbound is None or outbound.template:
            return False  # unknown yet (the retry loop records it), or a template already
        sender = address(self.settings.twilio_whatsapp_from)
        to = address(outbound.external_chat_id)
        logger.info("WhatsApp: {} was outside the window, sending the template instead", sid)
        text = outbound.message.text.strip()
        result = await self._send_template(outbound, text, sender=sender, to=to)
        if result.provider_message_id is None:
            return False  # the template failed too: record the original failure
        await self.context.rebind_delivery(
            channel=CHANNEL,
            provider_message_id=sid,
            new_provider_message_id=result.provider_message_id,
        )
        return True

    async def _record(self, sid: str, status: DeliveryStatus, error: str | None) -> bool:
        try:
            return await self.context.record_delivery(
                channel=CHANNEL, provider_message_id=sid, status=status, error=error
            )
        except Exception:
            logger.exception("WhatsApp status {} for {} not recorded", status.value, sid)
            return True  # storage trouble: do not pile up retries

    async def _record_later(self, sid: str, status: DeliveryStatus, error: str | None) -> None:
        for delay in UNKNOWN_SID_RETRY_S:
            await asyncio.sleep(delay)
            if await self._record(sid, status, error):
                return
        logger.debug("WhatsApp status {} for unknown SID {} dropped", status.value, sid)


def _rest_failure(exc: Exception) -> _SendError:
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    message = getattr(exc, "detail", None) or getattr(exc, "msg", None) or str(exc)
    message = str(message).removeprefix("Unable to create record: ")
    retryable = isinstance(status, int) and (status == 429 or status >= 500)
    error = describe_error(code if code is not None else status, message)
    return _SendError(error, retryable=retryable, code=code if isinstance(code, int) else None)


def _mask(to: str) -> str:
    """A phone number for logs: the country prefix and the last two digits."""
    return to[: len(ADDRESS_PREFIX) + 3] + "…" + to[-2:] if len(to) > 16 else "…"


def _twiml() -> Response:
    return Response(content=EMPTY_TWIML, media_type="text/xml")
