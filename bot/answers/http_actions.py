"""HTTP actions: agent tools defined as data (a JSON file), not code.

An action is one HTTP request the model may ask for — "find out the status of my order" —
described by the support team in a JSON file (setting ``HTTP_ACTIONS_FILE``)::

    [{
      "name": "order_status",
      "description": "Look up the status of one of the customer's orders.",
      "parameters": {"type": "object",
                     "properties": {"order_id": {"type": "string", "pattern": "^[A-Z]-\\\\d+$"}},
                     "required": ["order_id"]},
      "method": "GET",
      "url": "${PUBLIC_BASE_URL}/demo/orders/{order_id}",
      "query": {"customer": "{customer.external_user_id}"},
      "headers": {"Authorization": "Bearer ${ORDERS_API_TOKEN}"},
      "timeout_seconds": 5,
      "expose": ["order_id", "status", "tracking.carrier", "items.name"]
    }]

Templates
- ``{name}``: a model argument declared in ``parameters``. It is percent-encoded into the
  URL's path or query, never into its scheme or host: an argument cannot change where the
  request goes. In a path it must also not hold ``/`` or ``\\`` or be ``.``/``..``/empty (some
  servers decode ``%2F`` before routing).
- ``{customer.FIELD}``: the customer's identity from the run's context (``conversation_id``,
  ``contact_id``, ``channel``, ``external_user_id``, ``language``, ``display_name``). It is
  never taken from the model's arguments.
- ``${NAME}``: a variable resolved once, when the tools are built (environment variables,
  plus ``PUBLIC_BASE_URL`` from the settings, see :func:`template_variables`). Use it for
  secrets in headers (kept out of the file and never logged) and for the base URL. A
  ``${NAME}`` at the very start of ``url`` is the base (scheme, host and optional path
  prefix); anywhere else in ``url`` it is not allowed.

``parameters`` is a JSON schema subset: an object whose properties are ``string``,
``integer``, ``number`` or ``boolean`` (with ``enum``, ``pattern``, ``minLength``,
``maxLength``, ``minimum``, ``maximum``, ``description``, ``default``). Unknown arguments are
rejected. ``expose`` lists the response fields (dotted paths; a path through a list applies
to each element) the model may see; everything else is dropped. A failing call gives the
model a short sentence to explain, never an exception.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx
from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.answers.agent_context import AgentContext
from config import Settings

CUSTOMER_FIELDS = (
    "conversation_id",
    "contact_id",
    "channel",
    "external_user_id",
    "language",
    "display_name",
)
MAX_RESPONSE_BYTES = 1_000_000
_RESERVED_PARAMETERS = {"runtime", "customer", "config", "callbacks", "run_manager"}

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLACEHOLDER_RE = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")
_NAME_RE = r"^[A-Za-z0-9_-]{1,64}$"

_SCALAR_TYPES = {"string", "integer", "number", "boolean"}
_PROPERTY_KEYWORDS = {
    "type",
    "description",
    "title",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "default",
    "examples",
    "format",
}
_SCHEMA_KEYWORDS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "description",
    "title",
}


class HttpActionConfigError(ValueError):
    """An action file or an action definition is invalid (one line, naming file and action)."""


class HttpAction(BaseModel):
    """One HTTP request the model may make, described as data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME_RE)
    description: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    expose: list[str]
    max_response_chars: int = Field(default=2000, ge=50, le=100_000)

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("parameters")
    @classmethod
    def _check_parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_schema(value)
        return value

    @field_validator("expose")
    @classmethod
    def _check_expose(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path or any(not part for part in path.split(".")):
                raise ValueError(f"{path!r} is not a dotted field path")
        return value

    @model_validator(mode="after")
    def _check_templates(self) -> HttpAction:
        declared = set(self.properties)
        required = set(self.parameters.get("required", []))
        if self.body is not None and self.method in ("GET", "DELETE"):
            raise ValueError(f"body: a {self.method} request has no body")
        _check_url_template(self.url, declared, required)
        for key, template in self.query.items():
            _check_placeholders(f"query.{key}", template, declared)
        for key, template in self.headers.items():
            _check_placeholders(f"headers.{key}", template, set())
        for where, template in _strings_in(self.body, "body"):
            _check_placeholders(where, template, declared)
        return self

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        props: dict[str, dict[str, Any]] = self.parameters.get("properties", {})
        return props

    @property
    def required(self) -> list[str]:
        names: list[str] = self.parameters.get("required", [])
        return names

    def model_schema(self) -> dict[str, Any]:
        """The JSON schema the model sees for this action's arguments."""
        return {
            "type": "object",
            "properties": self.properties,
            "required": self.required,
            "additionalProperties": False,
        }


# --------------------------------------------------------------------------------------
# Loading and validation at start-up
# --------------------------------------------------------------------------------------


def load_http_actions(path: Path) -> list[HttpAction]:
    """Read and validate the actions file: a JSON list of actions or ``{"actions": [...]}``.

    Raises :class:`HttpActionConfigError` with one line naming the file and the action.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HttpActionConfigError(
            f"HTTP_ACTIONS_FILE {path}: cannot read: {exc.strerror}"
        ) from None
    except json.JSONDecodeError as exc:
        raise HttpActionConfigError(
            f"HTTP_ACTIONS_FILE {path}: not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    return parse_http_actions(raw, source=str(path))


def parse_http_actions(raw: object, *, source: str = "<actions>") -> list[HttpAction]:
    """Validate already-decoded action definitions (see :func:`load_http_actions`)."""
    if isinstance(raw, dict) and "actions" in raw:
        raw = raw["actions"]
    if not isinstance(raw, list):
        raise HttpActionConfigError(
            f"HTTP_ACTIONS_FILE {source}: expected a JSON list of actions or {{'actions': [...]}}"
        )
    actions: list[HttpAction] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        label = (
            f"action {item['name']!r}"
            if isinstance(item, dict) and isinstance(item.get("name"), str)
            else f"action #{index + 1}"
        )
        try:
            action = HttpAction.model_validate(item)
        except ValidationError as exc:
            raise HttpActionConfigError(
                f"HTTP_ACTIONS_FILE {source}: {label}: {_first_error(exc)}"
            ) from None
        if action.name in seen:
            raise HttpActionConfigError(
                f"HTTP_ACTIONS_FILE {source}: {label}: the name is used twice"
            )
        seen.add(action.name)
        actions.append(action)
    return actions


def template_variables(settings: Settings) -> dict[str, str]:
    """What ``${NAME}`` may refer to: the environment, plus ``PUBLIC_BASE_URL`` from settings."""
    return {**os.environ, "PUBLIC_BASE_URL": settings.public_base_url}


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _check_schema(schema: dict[str, Any]) -> None:
    if schema.get("type") != "object":
        raise ValueError('must be a JSON schema with "type": "object"')
    if unknown := set(schema) - _SCHEMA_KEYWORDS:
        raise ValueError(f"unsupported schema keyword(s): {', '.join(sorted(unknown))}")
    if schema.get("additionalProperties", False) is not False:
        raise ValueError("additionalProperties must be false (unknown arguments are refused)")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ValueError("properties must be an object")
    for name, prop in properties.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in _RESERVED_PARAMETERS:
            raise ValueError(f"{name!r} cannot be a parameter name")
        if not isinstance(prop, dict):
            raise ValueError(f"properties.{name} must be an object")
        if prop.get("type") not in _SCALAR_TYPES:
            raise ValueError(
                f"properties.{name}.type must be one of {', '.join(sorted(_SCALAR_TYPES))}"
            )
        if unknown := set(prop) - _PROPERTY_KEYWORDS:
            raise ValueError(
                f"properties.{name}: unsupported keyword(s): {', '.join(sorted(unknown))}"
            )
        if "pattern" in prop:
            try:
                re.compile(prop["pattern"])
            except (re.error, TypeError) as exc:
                raise ValueError(f"properties.{name}.pattern is not a valid regex: {exc}") from None
        if "enum" in prop and not (isinstance(prop["enum"], list) and prop["enum"]):
            raise ValueError(f"properties.{name}.enum must be a non-empty list")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError("required must be a list of names")
    if missing := [r for r in required if r not in properties]:
        raise ValueError(f"required names undeclared parameter(s): {', '.join(missing)}")


def _check_placeholders(where: str, template: str, declared: set[str]) -> None:
    for name in _PLACEHOLDER_RE.findall(template):
        if name.startswith("customer."):
            if name.removeprefix("customer.") not in CUSTOMER_FIELDS:
                raise ValueError(
                    f"{where}: {{{name}}} is not a customer field "
                    f"(one of {', '.join(CUSTOMER_FIELDS)})"
                )
        elif "." in name or name not in declared:
            if not declared:
                raise ValueError(f"{where}: {{{name}}} cannot be used here")
            raise ValueError(f"{where}: {{{name}}} is not a declared parameter")


def _check_url_template(url: str, declared: set[str], required: set[str]) -> None:
    base, rest = _split_url_template(url)
    if "#" in url:
        raise ValueError("url: a fragment (#) is not allowed")
    if _ENV_RE.search(rest):
        raise ValueError("url: ${NAME} is only allowed at the very start (as the base URL)")
    if _PLACEHOLDER_RE.search(base) or "{" in base.replace("${", ""):
        raise ValueError(
            "url: argument placeholders may only appear in the path or query, "
            "never in the scheme or host"
        )
    if rest and rest[0] not in "/?":
        raise ValueError("url: after the base URL comes '/' or '?'")
    _check_placeholders("url", rest, declared)
    path = rest.split("?", 1)[0]
    for name in _PLACEHOLDER_RE.findall(path):
        if not name.startswith("customer.") and name not in required:
            raise ValueError(f"url: path placeholder {{{name}}} must be a required parameter")


def _split_url_template(url: str) -> tuple[str, str]:
    """(base, rest): base is the scheme+host part (or a leading ``${NAME}``)."""
    if match := re.match(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", url):
        return url[: match.end()], url[match.end() :]
    match = re.match(r"(https?)://([^/?#]*)", url)
    if match is None or not match.group(2):
        raise ValueError("url must start with http:// or https:// and a host, or with ${NAME}")
    return url[: match.end()], url[match.end() :]


def _strings_in(value: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _strings_in(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _strings_in(v, f"{where}[{i}]")]
    return []


# --------------------------------------------------------------------------------------
# Building the tools
# --------------------------------------------------------------------------------------


class _ArgumentError(Exception):
    """The model's arguments are unusable; the message tells it what to fix."""


class _ResolvedAction:
    """An action with its ``${NAME}`` variables resolved (done once, at start-up)."""

    def __init__(self, action: HttpAction, variables: Mapping[str, str]) -> None:
        self.action = action
        base, rest = _split_url_template(action.url)
        base = _substitute_env(action, "url", base, variables).rstrip("/")
        try:
            parsed = httpx.URL(base)
        except httpx.InvalidURL:
            raise HttpActionConfigError(
                f"action {action.name!r}: url: the base {base!r} is not a valid URL"
            ) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise HttpActionConfigError(
                f"action {action.name!r}: url: the base {base!r} is not an http(s) URL with a host"
            )
        if parsed.query or parsed.fragment or "{" in base:
            raise HttpActionConfigError(
                f"action {action.name!r}: url: the base must not contain a query, fragment or {{"
            )
        self.base = base
        self.origin = (parsed.scheme, parsed.host, parsed.port)
        self.rest = rest
        self.headers = {
            key: _substitute_env(action, f"headers.{key}", value, variables)
            for key, value in action.headers.items()
        }


def _substitute_env(
    action: HttpAction, where: str, template: str, variables: Mapping[str, str]
) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise HttpActionConfigError(
                f"action {action.name!r}: {where} needs ${{{name}}}, which is not set"
            )
        return variables[name]

    return _ENV_RE.sub(one, template)


def build_http_action_tools(
    actions: Sequence[HttpAction],
    *,
    client: httpx.AsyncClient,
    variables: Mapping[str, str] | None = None,
) -> list[BaseTool]:
    """One LangChain tool per action, calling out through ``client``.

    ``variables`` resolves ``${NAME}`` (default: the process environment); a missing one
    raises :class:`HttpActionConfigError` now, not at the first call. The client's lifetime
    is the caller's (close it on shutdown).
    """
    values = os.environ if variables is None else variables
    return [_make_tool(_ResolvedAction(action, values), client) for action in actions]


def _make_tool(resolved: _ResolvedAction, client: httpx.AsyncClient) -> BaseTool:
    action = resolved.action

    async def call_action(runtime: ToolRuntime[AgentContext], **arguments: Any) -> str:
        context = getattr(runtime, "context", None)
        if not isinstance(context, AgentContext):
            logger.error("HTTP action {} ran without an AgentContext", action.name)
            raise ToolException(f"{action.name} failed: it is not available in this conversation.")
        ok, text = await _run_action(resolved, arguments, context, client=client)
        if not ok:  # the text reaches the model as a tool message with status "error"
            raise ToolException(text)
        return text

    return StructuredTool(
        name=action.name,
        description=action.description,
        args_schema=action.model_schema(),
        coroutine=call_action,
        metadata={"kind": "http_action"},
        handle_tool_error=True,
    )


async def _run_action(
    resolved: _ResolvedAction,
    arguments: Mapping[str, Any],
    context: AgentContext,
    *,
    client: httpx.AsyncClient,
) -> tuple[bool, str]:
    """Validate, call, filter: (succeeded, text for the model). Never raises."""
    action = resolved.action
    try:
        args = validate_arguments(action, arguments)
        request = _build_request(resolved, args, context, client)
    except _ArgumentError as exc:
        return False, f"{action.name} was not called: {exc}. Fix the arguments and try again."
    except (httpx.InvalidURL, ValueError, TypeError):
        return False, f"{action.name} was not called: the arguments do not make a valid request."
    except Exception as exc:  # a tool never crashes the agent
        logger.error("HTTP action {} could not build its request: {}", action.name, repr(exc))
        return False, f"{action.name} failed: an unexpected error happened."
    started = time.perf_counter()
    outcome = "error"
    try:
        async with asyncio.timeout(action.timeout_seconds):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                body = await _read_capped(response)
            finally:
                await response.aclose()
        outcome = str(response.status_code)
        return _describe_response(action, response.status_code, body)
    except (TimeoutError, httpx.TimeoutException):
        outcome = "timeout"
        return False, (
            f"{action.name} failed: the service did not answer in "
            f"{action.timeout_seconds:g} s. Tell the customer it is unavailable right now."
        )
    except _TooLarge:
        outcome = "too_large"
        return False, f"{action.name} failed: the service's answer was too large."
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
        return False, (
            f"{action.name} failed: the service could not be reached. "
            "Tell the customer it is unavailable right now."
        )
    except Exception as exc:  # a tool never crashes the agent
        outcome = type(exc).__name__
        # No traceback: a diagnosing log sink would print local values (headers, secrets).
        logger.error("HTTP action {} failed unexpectedly: {}", action.name, outcome)
        return False, f"{action.name} failed: an unexpected error happened."
    finally:
        # Only the action's name, method and outcome: never the URL (may hold variables)
        # nor the headers (may hold secrets).
        logger.info(
            "http action {} {} -> {} in {:.0f} ms",
            action.name,
            action.method,
            outcome,
            (time.perf_counter() - started) * 1000,
        )


def validate_arguments(action: HttpAction, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The model's arguments checked against ``parameters``; raises with a fixable message."""
    properties = action.properties
    unknown = [name for name in arguments if name not in properties]
    if unknown:
        allowed = ", ".join(properties) or "none"
        raise _ArgumentError(
            f"unknown argument(s) {', '.join(repr(u) for u in unknown)} (allowed: {allowed})"
        )
    missing = [name for name in action.required if name not in arguments or arguments[name] is None]
    if missing:
        raise _ArgumentError(f"missing required argument(s) {', '.join(repr(m) for m in missing)}")
    clean: dict[str, Any] = {}
    for name, value in arguments.items():
        if value is None:
            continue
        clean[name] = _check_value(name, properties[name], value)
    return clean


def _check_value(name: str, prop: Mapping[str, Any], value: Any) -> Any:
    kind = prop["type"]
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }[kind]
    if not ok:
        raise _ArgumentError(f"{name!r} must be a {kind}")
    if "enum" in prop and value not in prop["enum"]:
        options = ", ".join(json.dumps(option) for option in prop["enum"])
        raise _ArgumentError(f"{name!r} must be one of {options}")
    if isinstance(value, str):
        if "minLength" in prop and len(value) < prop["minLength"]:
            raise _ArgumentError(f"{name!r} must have at least {prop['minLength']} characters")
        if "maxLength" in prop and len(value) > prop["maxLength"]:
            raise _ArgumentError(f"{name!r} must have at most {prop['maxLength']} characters")
        if "pattern" in prop and not re.search(prop["pattern"], value):
            raise _ArgumentError(f"{name!r} does not have the expected format")
    elif not isinstance(value, bool):
        if "minimum" in prop and value < prop["minimum"]:
            raise _ArgumentError(f"{name!r} must be at least {prop['minimum']}")
        if "maximum" in prop and value > prop["maximum"]:
            raise _ArgumentError(f"{name!r} must be at most {prop['maximum']}")
    return value


def _lookup(name: str, args: Mapping[str, Any], context: AgentContext) -> Any:
    """The value of a placeholder, or ``None`` when an optional argument was not given."""
    if name.startswith("customer."):
        return getattr(context, name.removeprefix("customer."))
    return args.get(name)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _render_path(template: str, args: Mapping[str, Any], context: AgentContext) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        text = _text(_lookup(name, args, context))
        label = "the customer's identity" if name.startswith("customer.") else repr(name)
        if not text or text in (".", "..") or "/" in text or "\\" in text:
            raise _ArgumentError(f"{label} must not be empty, '.', '..', or contain '/' or '\\'")
        return quote(text, safe="")

    return _PLACEHOLDER_RE.sub(one, template)


def _render_query_value(template: str, args: Mapping[str, Any], context: AgentContext) -> str:
    return _PLACEHOLDER_RE.sub(lambda m: _text(_lookup(m.group(1), args, context)), template)


def _render_url_query(template: str, args: Mapping[str, Any], context: AgentContext) -> str:
    return _PLACEHOLDER_RE.sub(
        lambda m: quote(_text(_lookup(m.group(1), args, context)), safe=""), template
    )


def _skipped(template: str, args: Mapping[str, Any]) -> bool:
    """A template made only of one optional argument that was not given is left out."""
    match = _PLACEHOLDER_RE.fullmatch(template)
    return (
        match is not None
        and not match.group(1).startswith("customer.")
        and (match.group(1) not in args)
    )


def _render_body(value: Any, args: Mapping[str, Any], context: AgentContext) -> Any:
    if isinstance(value, str):
        match = _PLACEHOLDER_RE.fullmatch(value)
        if match is not None:  # keeps the argument's JSON type
            return _lookup(match.group(1), args, context)
        return _render_query_value(value, args, context)
    if isinstance(value, dict):
        return {
            k: _render_body(v, args, context)
            for k, v in value.items()
            if not (isinstance(v, str) and _skipped(v, args))
        }
    if isinstance(value, list):
        return [_render_body(v, args, context) for v in value]
    return value


def _build_request(
    resolved: _ResolvedAction,
    args: Mapping[str, Any],
    context: AgentContext,
    client: httpx.AsyncClient,
) -> httpx.Request:
    action = resolved.action
    path, _, query = resolved.rest.partition("?")
    url_text = resolved.base + _render_path(path, args, context)
    if query:
        url_text += "?" + _render_url_query(query, args, context)
    url = httpx.URL(url_text)
    if (url.scheme, url.host, url.port) != resolved.origin:  # belt and braces
        raise _ArgumentError("the arguments would send the request elsewhere")
    params = {
        key: _render_query_value(template, args, context)
        for key, template in action.query.items()
        if not _skipped(template, args)
    }
    headers = {
        key: _render_query_value(value, args, context) for key, value in resolved.headers.items()
    }
    if not any(key.lower() == "accept" for key in headers):
        headers["Accept"] = "application/json"
    body = None if action.body is None else _render_body(action.body, args, context)
    return client.build_request(
        action.method,
        url.copy_merge_params(params) if params else url,
        headers=headers,
        json=body,
        timeout=action.timeout_seconds,
    )


class _TooLarge(Exception):
    pass


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


_STATUS_TEXT = {
    400: "the service rejected the request",
    401: "the service refused access",
    403: "the service refused access",
    404: "not found",
    409: "the service reported a conflict",
    422: "the service rejected the request",
    429: "the service is busy",
}


def _describe_response(action: HttpAction, status: int, body: bytes) -> tuple[bool, str]:
    if status >= 300:
        if status >= 500:
            text = "the service had an error"
        elif status < 400:
            text = "the service answered with a redirect, which is not followed"
        else:
            text = _STATUS_TEXT.get(status, "the service refused the request")
        return False, f"{action.name} failed: {text} (HTTP {status})."
    if not body.strip():
        return True, f"{action.name} succeeded (HTTP {status}, empty answer)."
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False, f"{action.name} failed: the service answered with something that is not JSON."
    shown = expose_fields(data, action.expose)
    if shown in ({}, [], None):
        return True, f"{action.name} succeeded (HTTP {status}); no fields to show."
    text = json.dumps(shown, ensure_ascii=False, separators=(", ", ": "))
    if len(text) > action.max_response_chars:
        text = text[: action.max_response_chars] + " …(truncated)"
    return True, text


def expose_fields(data: Any, paths: Sequence[str]) -> Any:
    """Only the listed dotted paths of ``data``; a path through a list maps over its items.

    ``expose_fields({"a": {"b": 1, "c": 2}, "d": 3}, ["a.b"]) == {"a": {"b": 1}}``.
    Paths that do not exist are skipped.
    """
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is True:  # a shorter path already takes the whole subtree
                break
            node = node.setdefault(part, {})
        else:
            node[parts[-1]] = True
    shown = _prune(data, tree)
    return None if shown is _MISSING else shown


_MISSING = object()


def _prune(data: Any, tree: dict[str, Any] | bool) -> Any:
    if tree is True:
        return data
    assert isinstance(tree, dict)
    if isinstance(data, list):
        items = [_prune(item, tree) for item in data]
        return [item for item in items if item is not _MISSING]
    if not isinstance(data, dict):
        return _MISSING
    out: dict[str, Any] = {}
    for key, subtree in tree.items():
        if key in data:
            value = _prune(data[key], subtree)
            if value is not _MISSING:
                out[key] = value
    return out


__all__ = [
    "CUSTOMER_FIELDS",
    "HttpAction",
    "HttpActionConfigError",
    "build_http_action_tools",
    "expose_fields",
    "load_http_actions",
    "parse_http_actions",
    "template_variables",
    "validate_arguments",
]
