"""A scripted fake of Twilio's Messages REST API, plus Twilio's webhook signing, for tests.

It speaks the real wire format of ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``
(a form body, HTTP basic auth with the account SID and auth token, a ``201`` JSON message
resource, Twilio's JSON error body ``{"code", "message", "more_info", "status"}``), so the
official ``twilio`` client talks to it over loopback HTTP exactly as it talks to Twilio::

    with FakeTwilio(account_sid, auth_token) as fake:
        fake.script(TwilioError.too_many_requests(), OK)
        ...  # the app sends with TWILIO_API_BASE=fake.base_url
        assert fake.messages[0].form["To"] == "whatsapp:+15551230001"
        await fake.report(fake.messages[0].sid, "delivered")  # a signed status callback

Each create request consumes the next scripted step; with the script empty it succeeds.
The server runs uvicorn in a daemon thread with its own loop, like ``FakeOpenAI``.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Literal, Self, TypeAlias

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from tests.fakes.background import BackgroundServer

API_VERSION = "2010-04-01"
MAX_BODY = 1600


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """``X-Twilio-Signature`` of a form post to ``url``, computed the way Twilio does."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def signed_headers(auth_token: str, url: str, params: Mapping[str, str]) -> dict[str, str]:
    """The headers Twilio sends with a webhook form post (signature included)."""
    return {
        "X-Twilio-Signature": twilio_signature(auth_token, url, params),
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


@dataclass(frozen=True)
class TwilioError:
    """An error answer with Twilio's JSON error body."""

    status: int
    code: int
    message: str

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }

    @classmethod
    def too_many_requests(cls) -> TwilioError:
        return cls(429, 20429, "Too Many Requests")

    @classmethod
    def server_error(cls) -> TwilioError:
        return cls(500, 20500, "Internal Server Error")

    @classmethod
    def outside_window(cls) -> TwilioError:
        return cls(
            400,
            63016,
            "Failed to send freeform message because you are outside the allowed window. "
            "If you are using WhatsApp, please use a Message Template.",
        )

    @classmethod
    def opted_out(cls) -> TwilioError:
        return cls(400, 21610, "Attempt to send to unsubscribed recipient")

    @classmethod
    def invalid_to(cls, number: str = "") -> TwilioError:
        return cls(400, 21211, f"The 'To' number {number} is not a valid phone number.")


OK: Literal["ok"] = "ok"
Step: TypeAlias = "TwilioError | Literal['ok']"


@dataclass
class RecordedRequest:
    """One create request as received (every attempt, failed ones included)."""

    form: dict[str, str]
    account_sid: str
    auth_user: str | None
    headers: dict[str, str]
    status: int = 0


@dataclass
class FakeMessage:
    """A message the fake accepted (answered 201)."""

    sid: str
    form: dict[str, str]
    status: str = "queued"
    created_at: float = field(default_factory=time.time)

    @property
    def to(self) -> str:
        return self.form.get("To", "")

    @property
    def from_(self) -> str:
        return self.form.get("From", "")

    @property
    def body(self) -> str:
        return self.form.get("Body", "")


class FakeTwilio(BackgroundServer):
    """A fake Twilio REST API on ``127.0.0.1`` and a free port.

    - ``base_url``: for ``TWILIO_API_BASE`` (no path; the client adds ``/2010-04-01/...``).
    - ``script(*steps)``: each create consumes one step (``OK`` or a ``TwilioError``).
    - ``requests``: every create attempt; ``messages``: the accepted ones, in order.
    - ``report(sid, status, ...)``: posts a signed status callback to the message's
      ``StatusCallback``, as Twilio does.
    """

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[RecordedRequest] = []
        self.messages: list[FakeMessage] = []
        self._script: collections.deque[Step] = collections.deque()
        self._lock = threading.Lock()
        # Inbound media: (message SID, media SID) -> (bytes, content type), and each fetch.
        self.media: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.media_fetches: list[str] = []
        app = Starlette(
            routes=[
                Route(
                    f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json",
                    self._create_message,
                    methods=["POST"],
                ),
                Route(
                    f"/{API_VERSION}/Accounts/{{account_sid}}/Messages/{{sid}}.json",
                    self._fetch_message,
                    methods=["GET"],
                ),
                Route(
                    f"/{API_VERSION}/Accounts/{{account_sid}}/Messages/{{sid}}/Media/{{media_sid}}",
                    self._fetch_media,
                    methods=["GET"],
                ),
            ]
        )
        super().__init__(app, name="FakeTwilio", graceful_shutdown=2)

    # -- public API -----------------------------------------------------------------------

    def script(self, *steps: Step) -> Self:
        with self._lock:
            self._script.extend(steps)
        return self

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.messages.clear()

    def add_media(self, data: bytes, content_type: str, *, message_sid: str = "") -> str:
        """A media file of an inbound message; its MediaUrl as Twilio writes it (api.twilio.com,
        reached through TWILIO_API_BASE) needs the account's basic auth."""
        message_sid = message_sid or new_sid("MM")
        media_sid = new_sid("ME")
        with self._lock:
            self.media[(message_sid, media_sid)] = (data, content_type)
        return (
            f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}/Messages/"
            f"{message_sid}/Media/{media_sid}"
        )

    def sent(self) -> list[FakeMessage]:
        with self._lock:
            return list(self.messages)

    async def report(
        self,
        sid: str,
        status: str,
        *,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> httpx.Response:
        """A status callback for an accepted message, signed with the auth token."""
        message = next(m for m in self.sent() if m.sid == sid)
        url = message.form["StatusCallback"]
        customer = message.to.removeprefix("whatsapp:")
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "ChannelPrefix": "whatsapp",
            "ChannelToAddress": customer,
            "ChannelInstallSid": "XE" + "0" * 32,
            "From": message.from_,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "StructuredMessage": "false",
            "To": message.to,
        }
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
            form["ErrorMessage"] = error_message or ""
        message.status = status
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(
                url, data=form, headers=signed_headers(self.auth_token, url, form)
            )

    # -- handlers -------------------------------------------------------------------------

    def _auth_error(self, request: Request, account_sid: str) -> tuple[TwilioError, str] | None:
        """Twilio's 401 for missing or wrong basic auth, its 404 for someone else's account."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        user = password = None
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):
                user, _, password = base64.b64decode(encoded).decode().partition(":")
        if user != self.account_sid or password != self.auth_token:
            return TwilioError(401, 20003, "Authenticate"), user or ""
        if account_sid != self.account_sid:
            message = f"The requested resource /{API_VERSION}/Accounts/{account_sid} was not found"
            return TwilioError(404, 20404, message), user
        return None

    async def _create_message(self, request: Request) -> Response:
        account_sid = request.path_params["account_sid"]
        raw = await request.form()
        form = {k: v for k, v in raw.multi_items() if isinstance(v, str)}
        record = RecordedRequest(
            form=form,
            account_sid=account_sid,
            auth_user=None,
            headers={
                k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"
            },
        )
        with self._lock:
            self.requests.append(record)
        refused = self._auth_error(request, account_sid)
        if refused is not None:
            error, record.auth_user = refused
            return self._error(record, error)
        record.auth_user = self.account_sid
        invalid = self._invalid(form)
        if invalid is not None:
            return self._error(record, invalid)
        with self._lock:
            step: Step = self._script.popleft() if self._script else OK
        if isinstance(step, TwilioError):
            return self._error(record, step)
        message = FakeMessage(sid=new_sid(), form=form)
        with self._lock:
            self.messages.append(message)
        record.status = 201
        return JSONResponse(self._resource(message), status_code=201)

    async def _fetch_message(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        found = next((m for m in self.sent() if m.sid == sid), None)
        if found is None:
            error = TwilioError(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
            return JSONResponse(error.body(), status_code=404)
        return JSONResponse(self._resource(found))

    async def _fetch_media(self, request: Request) -> Response:
        refused = self._auth_error(request, request.path_params["account_sid"])
        if refused is not None:
            return JSONResponse(refused[0].body(), status_code=refused[0].status)
        key = (request.path_params["sid"], request.path_params["media_sid"])
        with self._lock:
            found = self.media.get(key)
            if found is not None:
                self.media_fetches.append(key[1])
        if found is None:
            error = TwilioError(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
            return JSONResponse(error.body(), status_code=404)
        return Response(found[0], media_type=found[1])

    @staticmethod
    def _invalid(form: Mapping[str, str]) -> TwilioError | None:
        """The checks Twilio makes on a create: To, From, a body, the body's length."""
        if not form.get("To"):
            return TwilioError(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return TwilioError(400, 21603, "A 'From' phone number is required.")
        body = form.get("Body", "")
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return TwilioError(400, 21602, "Message body is required.")
        if len(body.encode("utf-16-le")) // 2 > MAX_BODY:
            return TwilioError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if form["To"].startswith("whatsapp:") != form.get("From", "whatsapp:").startswith(
            "whatsapp:"
        ):
            return TwilioError(400, 63007, "Twilio could not find a Channel with the From address")
        return None

    def _error(self, record: RecordedRequest, error: TwilioError) -> Response:
        record.status = error.status
        headers = {"Retry-After": "1"} if error.status == 429 else {}
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    def _resource(self, message: FakeMessage) -> dict[str, Any]:
        now = formatdate(message.created_at, usegmt=True).replace("GMT", "+0000")
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message.sid}"
        body = message.body
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": message.status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": message.to,
            "uri": f"{uri}.json",
        }
