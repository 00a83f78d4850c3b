"""A scripted, fake Telegram Bot API server for tests.

It speaks the Bot API's wire format — ``POST /bot<token>/<method>`` with form, multipart or
JSON parameters, answered with ``{"ok": true, "result": ...}`` or ``{"ok": false,
"error_code": ..., "description": ..., "parameters"?: {...}}`` — so the real aiogram client
talks to it over loopback HTTP exactly as it talks to api.telegram.org::

    async with FakeTelegram(token="123456:TEST") as fake:
        fake.fail_next("sendMessage", Failure.rate_limited(1))
        fake.push_update({"update_id": 1, "message": {...}})   # served by getUpdates
        ...
        assert [c.params["chat_id"] for c in fake.calls_to("sendMessage")] == ["42"]

Methods: getMe, sendMessage, sendChatAction, answerCallbackQuery, setWebhook,
deleteWebhook, getWebhookInfo, getFile (files scripted with ``add_file``, served from
``/file/bot<token>/<file_path>`` and counted in ``downloads``), sendPhoto / sendDocument
(the uploaded bytes kept in ``uploads``), getUpdates (long polling on a queue of scripted updates,
409 while a webhook is set, as Telegram does). Every call is recorded. Failures are scripted
per method (``fail_next``) or per chat (``block``: 403 "bot was blocked by the user").
The server runs uvicorn in a daemon thread with its own event loop (``BackgroundServer``).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.background import BackgroundServer

JSON = dict[str, Any]
TEXT_LIMIT = 4096


def utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Failure:
    """One scripted error answer."""

    status: int
    description: str
    parameters: JSON | None = None

    @classmethod
    def rate_limited(cls, retry_after: int = 1) -> Failure:
        return cls(
            429,
            f"Too Many Requests: retry after {retry_after}",
            {"retry_after": retry_after},
        )

    @classmethod
    def server_error(cls) -> Failure:
        return cls(500, "Internal Server Error")

    @classmethod
    def blocked(cls) -> Failure:
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def bad_request(cls, description: str = "Bad Request: chat not found") -> Failure:
        return cls(400, description)

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class BotCall:
    """One request the fake received (also the failed ones)."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    result: Any = None


@dataclass
class _State:
    calls: list[BotCall] = field(default_factory=list)
    failures: dict[str, collections.deque[Failure]] = field(
        default_factory=lambda: collections.defaultdict(collections.deque)
    )
    updates: list[JSON] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)
    webhook: JSON = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)
    uploads: list[tuple[str, str, bytes]] = field(default_factory=list)


class FakeTelegram(BackgroundServer):
    """A Bot API server on ``127.0.0.1`` and a free port; ``base_url`` is TELEGRAM_API_BASE."""

    def __init__(self, token: str = "123456:TEST-token", *, bot_username: str = "sb_test_bot"):
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self._state = _State()
        self._lock = threading.Lock()
        self._message_ids = itertools.count(1000)
        app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )
        super().__init__(app, name="FakeTelegram")

    # -- public API -----------------------------------------------------------------------

    @property
    def calls(self) -> list[BotCall]:
        with self._lock:
            return list(self._state.calls)

    def calls_to(self, method: str, *, ok_only: bool = False) -> list[BotCall]:
        return [c for c in self.calls if c.method == method and (not ok_only or c.status == 200)]

    def sent_to(self, chat_id: int | str) -> list[str]:
        """Texts successfully sent with sendMessage to one chat, in order."""
        return [
            str(c.params.get("text"))
            for c in self.calls_to("sendMessage", ok_only=True)
            if str(c.params.get("chat_id")) == str(chat_id)
        ]

    @property
    def webhook(self) -> JSON:
        with self._lock:
            return dict(self._state.webhook)

    def fail_next(self, method: str, *failures: Failure) -> Self:
        """The next calls of `method` get these errors, one each, in order."""
        with self._lock:
            self._state.failures[method].extend(failures)
        return self

    def block(self, chat_id: int | str) -> Self:
        """The user of this private chat blocked the bot: sends get 403."""
        with self._lock:
            self._state.blocked.add(str(chat_id))
        return self

    def push_update(self, *updates: JSON) -> Self:
        """Queue updates for getUpdates (each needs its `update_id`)."""
        with self._lock:
            self._state.updates.extend(updates)
        return self

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    def add_file(self, file_id: str, data: bytes, *, unique_id: str, path: str) -> Self:
        """A file getFile knows (by `file_id`) and /file/bot<token>/<path> serves."""
        with self._lock:
            self._state.files[file_id] = (unique_id, data, path)
        return self

    @property
    def downloads(self) -> list[str]:
        """The file paths downloaded, once per download."""
        with self._lock:
            return list(self._state.downloads)

    @property
    def uploads(self) -> list[tuple[str, str, bytes]]:
        """(method, file name, bytes) of each photo or document sent to the fake."""
        with self._lock:
            return list(self._state.uploads)

    # -- the Bot API ----------------------------------------------------------------------

    @staticmethod
    async def _params(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            form = await request.form()
            for key, value in form.items():
                if isinstance(value, str):
                    params[key] = value
                else:
                    params[key] = "<file>"
                    params[f"_file_{key}"] = (value.filename or "", await value.read())
        return params

    def _record(self, method: str, params: dict[str, Any], status: int, result: Any) -> None:
        with self._lock:
            self._state.calls.append(BotCall(method, params, time.time(), status, result))

    def _answer(self, method: str, params: dict[str, Any], result: Any) -> JSONResponse:
        self._record(method, params, 200, result)
        return JSONResponse({"ok": True, "result": result})

    def _fail(self, method: str, params: dict[str, Any], failure: Failure) -> JSONResponse:
        self._record(method, params, failure.status, None)
        return JSONResponse(failure.body(), status_code=failure.status)

    def _bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Switchboard",
            "username": self.bot_username,
        }

    async def _method(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        try:
            params = await self._params(request)
        except ValueError:
            return JSONResponse(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid body"},
                status_code=400,
            )
        if request.path_params["token"] != self.token:
            return self._fail(method, params, Failure(401, "Unauthorized"))
        with self._lock:
            queue = self._state.failures.get(method)
            failure = queue.popleft() if queue else None
        if failure is not None:
            return self._fail(method, params, failure)
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return self._fail(method, params, Failure(404, "Not Found"))
        response: JSONResponse = await handler(method, params)
        return response

    async def _m_getme(self, method: str, params: dict[str, Any]) -> JSONResponse:
        user = self._bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        return self._answer(method, params, user)

    def _chat_of(self, method: str, params: dict[str, Any]) -> tuple[str, JSONResponse | None]:
        chat_id = str(params.get("chat_id", ""))
        if not chat_id:
            return chat_id, self._fail(method, params, Failure.bad_request())
        with self._lock:
            blocked = chat_id in self._state.blocked
        if blocked:
            return chat_id, self._fail(method, params, Failure.blocked())
        return chat_id, None

    async def _m_sendmessage(self, method: str, params: dict[str, Any]) -> JSONResponse:
        chat_id, refused = self._chat_of(method, params)
        if refused is not None:
            return refused
        text = str(params.get("text", ""))
        if not text.strip():
            return self._fail(
                method, params, Failure.bad_request("Bad Request: message text is empty")
            )
        if utf16_len(text) > TEXT_LIMIT:
            return self._fail(
                method, params, Failure.bad_request("Bad Request: message is too long")
            )
        numeric = int(chat_id) if chat_id.lstrip("-").isdigit() else 0
        chat: JSON = (
            {"id": numeric, "type": "private", "first_name": "Customer"}
            if numeric > 0
            else {"id": numeric, "type": "supergroup", "title": "Group"}
        )
        result = {
            "message_id": next(self._message_ids),
            "from": self._bot_user(),
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        return self._answer(method, params, result)

    async def _m_getfile(self, method: str, params: dict[str, Any]) -> JSONResponse:
        file_id = str(params.get("file_id", ""))
        with self._lock:
            found = self._state.files.get(file_id)
        if found is None:
            return self._fail(method, params, Failure.bad_request("Bad Request: invalid file_id"))
        unique_id, data, path = found
        result = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_size": len(data),
            "file_path": path,
        }
        return self._answer(method, params, result)

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401}, status_code=401)
        path = request.path_params["path"]
        with self._lock:
            found = next((f for f in self._state.files.values() if f[2] == path), None)
            if found is not None:
                self._state.downloads.append(path)
        if found is None:
            return JSONResponse({"ok": False, "error_code": 404}, status_code=404)
        return Response(found[1], media_type="application/octet-stream")

    async def _m_sendphoto(self, method: str, params: dict[str, Any]) -> JSONResponse:
        return await self._sent_file(method, params, "photo")

    async def _m_senddocument(self, method: str, params: dict[str, Any]) -> JSONResponse:
        return await self._sent_file(method, params, "document")

    async def _sent_file(
        self, method: str, params: dict[str, Any], field_name: str
    ) -> JSONResponse:
        chat_id, refused = self._chat_of(method, params)
        if refused is not None:
            return refused
        # aiogram posts `photo=attach://<name>` and the file as the part `<name>`.
        ref = str(params.get(field_name, ""))
        part = ref.removeprefix("attach://") if ref.startswith("attach://") else field_name
        upload = params.pop(f"_file_{part}", None)
        if upload is None:
            return self._fail(method, params, Failure.bad_request("Bad Request: there is no file"))
        name, data = upload
        with self._lock:
            self._state.uploads.append((method, name, data))
        numeric = int(chat_id) if chat_id.lstrip("-").isdigit() else 0
        result: JSON = {
            "message_id": next(self._message_ids),
            "from": self._bot_user(),
            "chat": {"id": numeric, "type": "private", "first_name": "Customer"},
            "date": int(time.time()),
        }
        unique = f"up{len(self.uploads)}"
        if field_name == "photo":
            result["photo"] = [
                {"file_id": f"ph-{unique}", "file_unique_id": unique, "width": 1, "height": 1}
            ]
        else:
            result["document"] = {"file_id": f"doc-{unique}", "file_unique_id": unique}
        if params.get("caption"):
            result["caption"] = params["caption"]
        return self._answer(method, params, result)

    async def _m_sendchataction(self, method: str, params: dict[str, Any]) -> JSONResponse:
        _, refused = self._chat_of(method, params)
        if refused is not None:
            return refused
        return self._answer(method, params, True)

    async def _m_answercallbackquery(self, method: str, params: dict[str, Any]) -> JSONResponse:
        if not params.get("callback_query_id"):
            return self._fail(method, params, Failure.bad_request("Bad Request: query is too old"))
        return self._answer(method, params, True)

    async def _m_setwebhook(self, method: str, params: dict[str, Any]) -> JSONResponse:
        url = str(params.get("url", ""))
        with self._lock:
            self._state.webhook = {k: v for k, v in params.items() if k != "certificate"}
            if not url:
                self._state.webhook = {}
        return self._answer(method, params, True)

    async def _m_deletewebhook(self, method: str, params: dict[str, Any]) -> JSONResponse:
        with self._lock:
            self._state.webhook = {}
            if str(params.get("drop_pending_updates", "")).lower() == "true":
                self._state.updates.clear()
        return self._answer(method, params, True)

    async def _m_getwebhookinfo(self, method: str, params: dict[str, Any]) -> JSONResponse:
        with self._lock:
            hook = dict(self._state.webhook)
            pending = len(self._state.updates)
        info = {
            "url": hook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": pending,
        }
        return self._answer(method, params, info)

    async def _m_getupdates(self, method: str, params: dict[str, Any]) -> JSONResponse:
        with self._lock:
            hooked = bool(self._state.webhook)
        if hooked:
            return self._fail(
                method,
                params,
                Failure(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                ),
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 50)
        while True:
            with self._lock:
                if offset:
                    # Asking from an offset confirms every update before it.
                    self._state.updates = [
                        u for u in self._state.updates if int(u["update_id"]) >= offset
                    ]
                ready = self._state.updates[:limit]
            if ready or time.monotonic() >= deadline or self.stopping:
                return self._answer(method, params, ready)
            await asyncio.sleep(0.02)


def as_json(value: Any) -> Any:
    """A recorded parameter that aiogram sent JSON-encoded (lists, objects), decoded."""
    return json.loads(value) if isinstance(value, str) else value
