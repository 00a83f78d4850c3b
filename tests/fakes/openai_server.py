"""A scripted, fake OpenAI-compatible HTTP server for tests.

It speaks the real wire format of ``POST /v1/chat/completions`` (JSON and SSE streaming),
``GET /v1/models`` and ``POST /v1/embeddings``, so the real ``openai`` client, and everything
built on it (``langchain_openai.ChatOpenAI``, ``langchain.agents.create_agent``), talks to it
over loopback HTTP exactly as it would talk to OpenAI.

The server runs uvicorn in a daemon thread with its own event loop, so it serves sync and
async tests alike and a slow scripted answer never blocks the test's event loop::

    with FakeOpenAI() as fake:
        fake.script(
            ToolCallReply([ToolCall("order_status", {"order_id": "42"})]),
            TextReply("Your order ships tomorrow.", token_delay=0.01),
        )
        model = ChatOpenAI(base_url=fake.base_url, api_key="test", model="gpt-4o-mini")
        ...
        assert fake.requests[1]["messages"][-1]["role"] == "tool"

Each chat completion request consumes the next scripted step; when the script is empty the
default responder answers (by default ``"ok: <last user text>"``).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import itertools
import json
import math
import random
import re
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self, TypeAlias

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.background import BackgroundServer

JSON: TypeAlias = dict[str, Any]

# --------------------------------------------------------------------------------------
# Script steps
# --------------------------------------------------------------------------------------

_WORD_RE = re.compile(r"\s*\S+\s*|\s+")


def split_words(text: str) -> list[str]:
    """The default token split: one token per word, whitespace kept with the word."""
    return _WORD_RE.findall(text) or [text]


@dataclass(frozen=True)
class TextReply:
    """An assistant text answer.

    Streamed one token per SSE chunk when the request has ``stream: true``.

    - ``tokens``: the exact token split (must join to ``text``); default: word by word.
    - ``first_token_delay``: seconds between the response headers and the first token
      (simulates time to first token; headers themselves go out immediately).
    - ``token_delay``: seconds between consecutive tokens (simulates generation speed).
    A non-streaming request waits the whole simulated generation time, then answers.
    """

    text: str
    tokens: Sequence[str] | None = None
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    finish_reason: str = "stop"

    def __post_init__(self) -> None:
        if self.tokens is not None and "".join(self.tokens) != self.text:
            raise ValueError("TextReply.tokens must join to TextReply.text")

    def token_list(self) -> list[str]:
        return list(self.tokens) if self.tokens is not None else split_words(self.text)


@dataclass(frozen=True)
class ToolCall:
    """One function tool call. ``arguments`` is a mapping (JSON-encoded for you) or a raw
    string (sent verbatim, so invalid JSON arguments can be scripted too). ``id`` defaults
    to a unique ``call_…`` id."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), ensure_ascii=False)


@dataclass(frozen=True)
class ToolCallReply:
    """An assistant turn with one or several (parallel) tool calls, optionally with text.

    When streaming, each call's arguments are sent in fragments of ``argument_chunk_size``
    characters, as OpenAI streams ``tool_calls`` deltas.
    """

    calls: Sequence[ToolCall]
    content: str | None = None
    argument_chunk_size: int = 8
    token_delay: float = 0.0

    def __post_init__(self) -> None:
        if not self.calls:
            raise ValueError("ToolCallReply needs at least one ToolCall")
        if self.argument_chunk_size < 1:
            raise ValueError("argument_chunk_size must be >= 1")


_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error with OpenAI's error body ``{"error": {message, type, param, code}}``."""

    status: int = 500
    message: str = "The server had an error while processing your request."
    type: str | None = None
    code: str | None = None
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def server_error(cls, message: str = "The server had an error.") -> ErrorReply:
        return cls(500, message, "server_error")

    @classmethod
    def rate_limited(cls, retry_after: float = 1.0) -> ErrorReply:
        return cls(
            429,
            "Rate limit reached for requests. Please try again later.",
            "requests",
            code="rate_limit_exceeded",
            headers={"retry-after": f"{retry_after:g}"},
        )

    @classmethod
    def unauthorized(cls) -> ErrorReply:
        return cls(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            code="invalid_api_key",
        )

    def body(self) -> JSON:
        return {
            "error": {
                "message": self.message,
                "type": self.type or _ERROR_TYPES.get(self.status, "api_error"),
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` before sending anything (not even headers), then answer with
    ``then`` (default: the default responder). Use it to trigger client timeouts."""

    seconds: float
    then: Step | None = None


GarbageKind: TypeAlias = Literal["malformed_json", "truncated", "empty_choices"]


@dataclass(frozen=True)
class Garbage:
    """A broken answer.

    - ``malformed_json``: 200 with a body (or an SSE ``data:`` line) that is not valid JSON;
    - ``truncated``: the body (or the stream, after a few tokens) stops mid-way and the
      connection is dropped, with no ``[DONE]`` (uvicorn logs an error line for it);
    - ``empty_choices``: a well-formed completion whose ``choices`` is ``[]``.
    """

    kind: GarbageKind = "malformed_json"


Responder: TypeAlias = "Callable[[JSON], Step]"
"""A callable step: receives the request JSON body and returns the step to play."""

Step: TypeAlias = "str | TextReply | ToolCallReply | ErrorReply | Delay | Garbage | Responder"
"""A scripted step. A bare ``str`` is shorthand for ``TextReply(str)``."""


def last_user_text(body: JSON) -> str:
    """The text of the last ``user`` message of a chat completion request ('' if none)."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def echo_responder(body: JSON) -> Step:
    """The default responder: ``TextReply("ok: <last user text>")``."""
    return TextReply(f"ok: {last_user_text(body)}")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: whitespace-separated words."""
    return len(text.split())


def _prompt_tokens(body: JSON) -> int:
    messages = body.get("messages") or []
    return sum(
        _count_tokens(_content_text(m.get("content"))) + 3 for m in messages if isinstance(m, dict)
    )


# --------------------------------------------------------------------------------------
# Recorded calls
# --------------------------------------------------------------------------------------


@dataclass
class RecordedCall:
    """One received chat completion request and when its answer went out.

    Times are ``time.perf_counter()`` values (comparable with the test process's clock).
    ``first_token_at`` is when the first content/tool-call token was handed to the server
    (streaming) or when the whole body was (non-streaming); ``None`` for errors/garbage.
    """

    body: JSON
    headers: dict[str, str]
    received_at: float
    first_token_at: float | None = None
    finished_at: float | None = None

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def time_to_first_token(self) -> float | None:
        if self.first_token_at is None:
            return None
        return self.first_token_at - self.received_at


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


def _sse(payload: JSON | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


_SSE_DONE = b"data: [DONE]\n\n"


class _DroppedResponse(Response):
    """Sends a 200 head and some body parts, then returns without finishing the body, so
    the server closes the connection mid-response (a truncated answer)."""

    def __init__(self, parts: Sequence[bytes], media_type: str) -> None:
        super().__init__(media_type=media_type)
        self._parts = parts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", self.media_type.encode())] if self.media_type else [],
            }
        )
        for part in self._parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        # Returning without a final ``more_body: False`` makes uvicorn drop the connection.


class FakeOpenAI(BackgroundServer):
    """A scripted OpenAI-compatible server on ``127.0.0.1`` and a free port.

    Use as ``with FakeOpenAI() as fake:`` / ``async with FakeOpenAI() as fake:``, or call
    ``start()`` / ``stop()``. ``base_url`` ends in ``/v1``; pass it to ``ChatOpenAI``.

    - ``script(*steps)`` queues steps; each chat completion request consumes one.
    - ``requests``: received chat completion JSON bodies; ``calls``: the same with headers
      and timings; ``embedding_requests``: received embedding bodies.
    - ``reset()`` clears the script and every record.
    - ``api_key``: if given, only ``Bearer <api_key>`` is accepted; otherwise any bearer
      token is. A missing ``Authorization`` header always gets OpenAI's 401.
    """

    def __init__(
        self,
        *,
        default: Responder = echo_responder,
        models: Sequence[str] = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small"),
        api_key: str | None = None,
        embedding_dimensions: int = 64,
    ) -> None:
        self.default = default
        self.models = tuple(models)
        self.api_key = api_key
        self.embedding_dimensions = embedding_dimensions
        self.calls: list[RecordedCall] = []
        self.embedding_requests: list[JSON] = []
        self._script: collections.deque[Step] = collections.deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/v1/models/{model:path}", self._get_model, methods=["GET"]),
            ],
            exception_handlers={HTTPException: self._http_exception},
        )
        super().__init__(app, name="FakeOpenAI", graceful_shutdown=2)

    # -- public API -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{super().base_url}/v1"

    @property
    def requests(self) -> list[JSON]:
        """The JSON bodies of the chat completion requests received so far, in order."""
        with self._lock:
            return [call.body for call in self.calls]

    @property
    def remaining(self) -> int:
        """How many scripted steps have not been consumed yet."""
        with self._lock:
            return len(self._script)

    def script(self, *steps: Step) -> Self:
        """Queue steps; each chat completion request consumes the next one."""
        with self._lock:
            self._script.extend(steps)
        return self

    def reset(self) -> None:
        """Forget the script and every recorded request."""
        with self._lock:
            self._script.clear()
            self.calls.clear()
            self.embedding_requests.clear()

    @staticmethod
    def embedding_for(text: str, dimensions: int = 64) -> list[float]:
        """The deterministic unit vector the fake returns for ``text``."""
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        rng = random.Random(seed)
        vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]

    # -- handlers -------------------------------------------------------------------------

    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = f"Invalid URL ({request.method} {request.url.path})"
        return _error(ErrorReply(exc.status_code, message, "invalid_request_error"))

    def _unauthorized(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(
                ErrorReply(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error",
                )
            )
        if self.api_key is not None and token.strip() != self.api_key:
            return _error(ErrorReply.unauthorized())
        return None

    async def _read_json(self, request: Request) -> JSON | Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(ErrorReply(400, "We could not parse the JSON body of your request."))
        if not isinstance(body, dict):
            return _error(ErrorReply(400, "The request body must be a JSON object."))
        return body

    async def _list_models(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        return JSONResponse({"object": "list", "data": [_model(m) for m in self.models]})

    async def _get_model(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        model = request.path_params["model"]
        if model not in self.models:
            return _error(
                ErrorReply(404, f"The model '{model}' does not exist", code="model_not_found")
            )
        return JSONResponse(_model(model))

    async def _embeddings(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        body = await self._read_json(request)
        if isinstance(body, Response):
            return body
        with self._lock:
            self.embedding_requests.append(body)
        inputs = _embedding_inputs(body.get("input"))
        if not inputs:
            return _error(
                ErrorReply(400, "'input' must be a non-empty string or array", param="input")
            )
        dimensions = int(body.get("dimensions") or self.embedding_dimensions)
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            # Token-id inputs (tiktoken-encoded by the client) are hashed by their ids.
            text = item if isinstance(item, str) else json.dumps(item)
            tokens += len(item) if isinstance(item, list) else _count_tokens(item)
            vector = self.embedding_for(text, dimensions)
            embedding: list[float] | str = vector
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "text-embedding-3-small"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _chat_completions(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        body = await self._read_json(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(ErrorReply(400, "'messages' must be a non-empty array", param="messages"))
        call = RecordedCall(
            body=body, headers=dict(request.headers), received_at=time.perf_counter()
        )
        with self._lock:
            self.calls.append(call)
            step: Step | None = self._script.popleft() if self._script else None
        resolved = await self._resolve(step, body)
        completion = _Completion(
            id=f"chatcmpl-fake{next(self._ids):06d}",
            model=str(body.get("model", "gpt-4o-mini")),
            prompt_tokens=_prompt_tokens(body),
        )
        stream = bool(body.get("stream"))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        match resolved:
            case ErrorReply():
                call.finished_at = time.perf_counter()
                return _error(resolved)
            case Garbage():
                return self._garbage(resolved, completion, stream)
            case TextReply() | ToolCallReply() if stream:
                return StreamingResponse(
                    self._stream(resolved, completion, call, include_usage),
                    media_type="text/event-stream",
                    headers={"cache-control": "no-cache"},
                )
            case TextReply() | ToolCallReply():
                return await self._complete(resolved, completion, call)
        raise AssertionError(f"unhandled step {resolved!r}")  # pragma: no cover

    async def _resolve(
        self, step: Step | None, body: JSON
    ) -> TextReply | ToolCallReply | ErrorReply | Garbage:
        for _ in range(100):  # guards against a callable that keeps returning callables
            match step:
                case None:
                    step = self.default(body)
                case str():
                    return TextReply(step)
                case Delay(seconds=seconds, then=then):
                    await self.sleep(seconds)
                    step = then if then is not None else self.default(body)
                case TextReply() | ToolCallReply() | ErrorReply() | Garbage():
                    return step
                case _ if callable(step):
                    step = step(body)
                case _:
                    raise TypeError(f"not a script step: {step!r}")
        raise RuntimeError("script step resolution did not terminate")

    # -- answers --------------------------------------------------------------------------

    async def _complete(
        self, reply: TextReply | ToolCallReply, completion: _Completion, call: RecordedCall
    ) -> Response:
        message: JSON = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
        if isinstance(reply, TextReply):
            tokens = reply.token_list()
            await self.sleep(reply.first_token_delay + reply.token_delay * (len(tokens) - 1))
            message["content"] = reply.text
            finish_reason = reply.finish_reason
            completion_tokens = len(tokens)
        else:
            await self.sleep(reply.token_delay * len(reply.calls))
            message["content"] = reply.content
            message["tool_calls"] = [
                {
                    "id": self._call_id(tool_call),
                    "type": "function",
                    "function": {"name": tool_call.name, "arguments": tool_call.arguments_json()},
                }
                for tool_call in reply.calls
            ]
            finish_reason = "tool_calls"
            completion_tokens = _tool_tokens(reply)
        payload = completion.envelope("chat.completion")
        payload["choices"] = [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ]
        payload["usage"] = completion.usage(completion_tokens)
        call.first_token_at = call.finished_at = time.perf_counter()
        return JSONResponse(payload)

    async def _stream(
        self,
        reply: TextReply | ToolCallReply,
        completion: _Completion,
        call: RecordedCall,
        include_usage: bool,
    ) -> AsyncIterator[bytes]:
        def chunk(delta: JSON, finish_reason: str | None = None) -> bytes:
            payload = completion.envelope("chat.completion.chunk")
            payload["choices"] = [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ]
            if include_usage:
                payload["usage"] = None
            return _sse(payload)

        def first_token_sent() -> None:
            if call.first_token_at is None:
                call.first_token_at = time.perf_counter()

        if isinstance(reply, TextReply):
            yield chunk({"role": "assistant", "content": "", "refusal": None})
            tokens = reply.token_list()
            for index, token in enumerate(tokens):
                await self.sleep(reply.first_token_delay if index == 0 else reply.token_delay)
                first_token_sent()
                yield chunk({"content": token})
            finish_reason = reply.finish_reason
            completion_tokens = len(tokens)
        else:
            yield chunk({"role": "assistant", "content": None, "refusal": None})
            if reply.content:
                for token in split_words(reply.content):
                    await self.sleep(reply.token_delay)
                    first_token_sent()
                    yield chunk({"content": token})
            for index, tool_call in enumerate(reply.calls):
                await self.sleep(reply.token_delay)
                first_token_sent()
                head = {
                    "index": index,
                    "id": self._call_id(tool_call),
                    "type": "function",
                    "function": {"name": tool_call.name, "arguments": ""},
                }
                yield chunk({"tool_calls": [head]})
                arguments = tool_call.arguments_json()
                size = reply.argument_chunk_size
                for start in range(0, len(arguments), size):
                    await self.sleep(reply.token_delay)
                    fragment = arguments[start : start + size]
                    yield chunk(
                        {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                    )
            finish_reason = "tool_calls"
            completion_tokens = _tool_tokens(reply)
        yield chunk({}, finish_reason)
        if include_usage:
            final = completion.envelope("chat.completion.chunk")
            final["choices"] = []
            final["usage"] = completion.usage(completion_tokens)
            yield _sse(final)
        yield _SSE_DONE
        call.finished_at = time.perf_counter()

    def _garbage(self, garbage: Garbage, completion: _Completion, stream: bool) -> Response:
        if garbage.kind == "empty_choices":
            kind = "chat.completion.chunk" if stream else "chat.completion"
            payload = completion.envelope(kind)
            payload["choices"] = []
            if stream:
                return Response(_sse(payload) + _SSE_DONE, media_type="text/event-stream")
            payload["usage"] = completion.usage(0)
            return JSONResponse(payload)
        if garbage.kind == "malformed_json":
            broken = '{"id": "' + completion.id + '", "object": "chat.completion", "choices": [{'
            if stream:
                return Response(_sse(broken) + _SSE_DONE, media_type="text/event-stream")
            return Response(broken, media_type="application/json")
        # truncated
        if stream:
            head = completion.envelope("chat.completion.chunk")
            parts = []
            for delta in ({"role": "assistant", "content": ""}, {"content": "Hel"}):
                head["choices"] = [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
                ]
                parts.append(_sse(head))
            parts.append(b'data: {"id": "' + completion.id.encode() + b'", "obj')
            return _DroppedResponse(parts, "text/event-stream")
        partial = '{"id": "' + completion.id + '", "object": "chat.completion", "choices": [{"in'
        return _DroppedResponse([partial.encode()], "application/json")

    def _call_id(self, tool_call: ToolCall) -> str:
        return tool_call.id or f"call_fake{next(self._ids):06d}"


@dataclass(frozen=True)
class _Completion:
    id: str
    model: str
    prompt_tokens: int
    created: int = field(default_factory=lambda: int(time.time()))

    def envelope(self, kind: str) -> JSON:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
        }

    def usage(self, completion_tokens: int) -> JSON:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def _tool_tokens(reply: ToolCallReply) -> int:
    text = " ".join(f"{c.name} {c.arguments_json()}" for c in reply.calls)
    return _count_tokens(text) + _count_tokens(reply.content or "")


def _embedding_inputs(raw: Any) -> list[str | list[int]]:
    """``input`` as a list of items: strings, or token-id lists (tiktoken-encoded)."""
    if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
        raw = [raw]
    if not isinstance(raw, list):
        return []
    return [item for item in raw if isinstance(item, str | list)]


def _model(model_id: str) -> JSON:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "system"}


def _error(reply: ErrorReply) -> Response:
    return JSONResponse(reply.body(), status_code=reply.status, headers=dict(reply.headers))
