"""Agent tools from MCP servers configured by URL (setting ``MCP_SERVERS``).

``MCP_SERVERS`` is a JSON list::

    [{"name": "crm", "url": "http://127.0.0.1:9000/mcp", "transport": "streamable_http",
      "allow": ["lookup_customer", "create_ticket"],
      "headers": {"Authorization": "Bearer ${CRM_TOKEN}"},
      "customer_arguments": {"customer_id": "external_user_id"},
      "timeout_seconds": 15}]

- ``allow`` is required: a tool the server offers but the list does not name is never given
  to the model (an allow-listed name the server lacks is logged).
- ``headers`` values may use ``${NAME}`` (environment variables); they are never logged.
- ``customer_arguments`` maps a tool argument to a field of the run's
  :class:`~bot.answers.agent_context.AgentContext` (``conversation_id``, ``contact_id``,
  ``channel``, ``external_user_id``, ``language``, ``display_name``). Such an argument is
  removed from the schema the model sees and always filled from the context: the model
  cannot choose whom a tool acts for.
- Every call has a deadline (``timeout_seconds``); a timeout, a transport failure or a tool
  error becomes a short sentence for the model, never an exception into the agent.
- At start-up each server is listed within ``connect_timeout_seconds``; a server that is
  down is logged as a warning and its tools are left out.

Tools are loaded with ``langchain_mcp_adapters``; every call opens its own MCP session, so
a server restart between calls does not matter.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

import httpx
from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.sessions import Connection
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from bot.answers.agent_context import AgentContext

CustomerField = Literal[
    "conversation_id", "contact_id", "channel", "external_user_id", "language", "display_name"
]
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TRANSPORT_ALIASES = {"http": "streamable_http", "streamable-http": "streamable_http"}


class McpConfigError(ValueError):
    """``MCP_SERVERS`` is invalid (one line naming the server and the field)."""


class McpServer(BaseModel):
    """One MCP server and what of it the model may use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    url: str
    transport: Literal["streamable_http", "sse"] = "streamable_http"
    allow: list[str]
    headers: dict[str, str] = Field(default_factory=dict)
    customer_arguments: dict[str, CustomerField] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    max_response_chars: int = Field(default=4000, ge=50, le=100_000)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"https?://[^/?#]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("transport", mode="before")
    @classmethod
    def _transport_alias(cls, value: object) -> object:
        return _TRANSPORT_ALIASES.get(value, value) if isinstance(value, str) else value


_SERVERS = TypeAdapter(list[McpServer])


def parse_mcp_servers(raw: str | None) -> list[McpServer]:
    """``MCP_SERVERS`` (a JSON list) → servers; empty or unset → ``[]``.

    Raises :class:`McpConfigError` with one line that names the server and the field.
    """
    if raw is None or not raw.strip():
        return []
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise McpConfigError(f"MCP_SERVERS: not valid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(data, list):
        raise McpConfigError("MCP_SERVERS: expected a JSON list of servers")
    try:
        servers = _SERVERS.validate_python(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = list(error["loc"])
        label = f"server #{int(loc[0]) + 1}" if loc and isinstance(loc[0], int) else "server"
        if loc and isinstance(loc[0], int):
            item = data[loc[0]]
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                label = f"server {item['name']!r}"
            loc = loc[1:]
        where = ".".join(str(part) for part in loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        raise McpConfigError(
            f"MCP_SERVERS: {label}: {where}: {message}" if where else f"MCP_SERVERS: {message}"
        ) from None
    names = [server.name for server in servers]
    if duplicate := next((n for n in names if names.count(n) > 1), None):
        raise McpConfigError(f"MCP_SERVERS: server {duplicate!r}: the name is used twice")
    return servers


async def load_mcp_tools(
    servers: Sequence[McpServer], *, variables: Mapping[str, str] | None = None
) -> list[BaseTool]:
    """The allow-listed tools of every reachable server, wrapped for the agent.

    ``variables`` resolves ``${NAME}`` in headers (default: the process environment); a
    missing one raises :class:`McpConfigError`. A server that cannot be listed is skipped
    with a warning.
    """
    values = os.environ if variables is None else variables
    connections = [(server, _connection(server, values)) for server in servers]
    loaded = await asyncio.gather(*(_load_server(s, c) for s, c in connections))
    tools: list[BaseTool] = []
    seen: dict[str, str] = {}
    for server, server_tools in zip(servers, loaded, strict=True):
        for tool in server_tools:
            if tool.name in seen:
                logger.warning(
                    "MCP tool {} of server {} is skipped: server {} already provides it",
                    tool.name,
                    server.name,
                    seen[tool.name],
                )
                continue
            seen[tool.name] = server.name
            tools.append(tool)
    return tools


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


# One response from an MCP server (a listing, a tool result, an SSE stream of one call) may
# hold at most this much: a runaway or hostile server cannot fill the process's memory.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class McpResponseRefused(httpx.TransportError):
    """A redirect off the server's host, or a response over `MAX_RESPONSE_BYTES`."""


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._inner:
            total += len(chunk)
            if total > self._limit:
                raise McpResponseRefused(
                    f"the MCP server's response is larger than {self._limit} bytes"
                )
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _GuardedTransport(httpx.AsyncBaseTransport):
    """Redirects only on the requested host; response bodies capped."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        location = response.headers.get("location")
        if 300 <= response.status_code < 400 and location is not None:
            target = request.url.join(location)
            if (target.scheme, target.host, target.port) != (
                request.url.scheme,
                request.url.host,
                request.url.port,
            ):
                await response.aclose()
                raise McpResponseRefused(
                    f"the MCP server redirected to another host ({target.host})", request=request
                )
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _CappedStream(stream, self._limit)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _http_client(
    headers: dict[str, str] | None = None,
    timeout: httpx.Timeout | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.AsyncClient:
    """Like the MCP SDK's default client, but sharing one TLS context (every tool call opens
    a session, and building a TLS context each time costs tens of milliseconds), following
    redirects only on the server's own host, and capping every response's size."""
    transport = _GuardedTransport(
        httpx.AsyncHTTPTransport(verify=_ssl_context()), MAX_RESPONSE_BYTES
    )
    return httpx.AsyncClient(
        headers=headers,
        timeout=timeout if timeout is not None else httpx.Timeout(30.0),
        auth=auth,
        follow_redirects=True,
        transport=transport,
    )


def _connection(server: McpServer, variables: Mapping[str, str]) -> Connection:
    def resolve(key: str, value: str) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(1) not in variables:
                raise McpConfigError(
                    f"MCP_SERVERS: server {server.name!r}: headers.{key} needs "
                    f"${{{match.group(1)}}}, which is not set"
                )
            return variables[match.group(1)]

        return _ENV_RE.sub(one, value)

    headers = {key: resolve(key, value) for key, value in server.headers.items()}
    if server.transport == "sse":
        return {
            "transport": "sse",
            "url": server.url,
            "headers": headers,
            "timeout": server.timeout_seconds,
            "httpx_client_factory": _http_client,
        }
    return {
        "transport": "streamable_http",
        "url": server.url,
        "headers": headers,
        "timeout": server.timeout_seconds,
        "httpx_client_factory": _http_client,
    }


async def _load_server(server: McpServer, connection: Connection) -> list[BaseTool]:
    client = MultiServerMCPClient({server.name: connection}, handle_tool_errors=False)
    try:
        async with asyncio.timeout(server.connect_timeout_seconds):
            offered = await client.get_tools(server_name=server.name)
    except TimeoutError:
        logger.warning(
            "MCP server {} ({}) did not answer in {:g} s; continuing without its tools",
            server.name,
            _safe_url(server.url),
            server.connect_timeout_seconds,
        )
        return []
    except Exception as exc:
        logger.warning(
            "MCP server {} ({}) is unavailable ({}); continuing without its tools",
            server.name,
            _safe_url(server.url),
            _reason(exc),
        )
        return []
    allowed = set(server.allow)
    tools = [_wrap(server, tool) for tool in offered if tool.name in allowed]
    if missing := allowed - {tool.name for tool in offered}:
        logger.warning(
            "MCP server {} does not offer allow-listed tool(s): {}",
            server.name,
            ", ".join(sorted(missing)),
        )
    logger.info(
        "MCP server {}: {} tool(s) allowed of {} offered", server.name, len(tools), len(offered)
    )
    return tools


def _safe_url(url: str) -> str:
    """The URL for logs: without a query string or user info, which may hold credentials."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(query=None, fragment=None, username=None, password=None))


def _reason(exc: BaseException) -> str:
    """The innermost useful error text (anyio wraps errors in exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _model_schema(tool: BaseTool, hidden: Sequence[str]) -> dict[str, Any]:
    """The tool's input schema without the arguments filled from the context."""
    raw = tool.args_schema
    schema: dict[str, Any] = (
        dict(raw)
        if isinstance(raw, dict)
        else dict(convert_to_openai_tool(tool)["function"]["parameters"])
    )
    properties = {k: v for k, v in schema.get("properties", {}).items() if k not in hidden}
    required = [r for r in schema.get("required", []) if r not in hidden]
    schema.update({"type": "object", "properties": properties, "required": required})
    return schema


def _wrap(server: McpServer, inner: BaseTool) -> BaseTool:
    """The MCP tool behind a deadline, with customer arguments filled from the context."""
    raw_schema = inner.args_schema if isinstance(inner.args_schema, dict) else {}
    accepted = set(raw_schema.get("properties", {}))
    injected = {arg: field for arg, field in server.customer_arguments.items() if arg in accepted}
    name = inner.name

    async def call_mcp_tool(runtime: ToolRuntime[AgentContext], **arguments: Any) -> str:
        ok, text = await _call(arguments, runtime)
        if not ok:  # the text reaches the model as a tool message with status "error"
            raise ToolException(text)
        return text

    async def _call(
        arguments: dict[str, Any], runtime: ToolRuntime[AgentContext]
    ) -> tuple[bool, str]:
        args = {k: v for k, v in arguments.items() if k not in injected}
        if injected:
            context = getattr(runtime, "context", None)
            if not isinstance(context, AgentContext):
                logger.error("MCP tool {} ran without an AgentContext", name)
                return False, f"{name} failed: it is not available in this conversation."
            args.update({arg: getattr(context, field) for arg, field in injected.items()})
        started = time.perf_counter()
        outcome = "ok"
        try:
            async with asyncio.timeout(server.timeout_seconds):
                content = await inner.ainvoke(args)
            return True, _as_text(content, server.max_response_chars) or f"{name} succeeded."
        except TimeoutError:
            outcome = "timeout"
            return False, (
                f"{name} failed: the {server.name} service did not answer in "
                f"{server.timeout_seconds:g} s. Tell the customer it is unavailable right now."
            )
        except ToolException as exc:  # the tool ran and reported an error
            outcome = "tool_error"
            detail = _as_text(getattr(exc, "tool_content", None) or str(exc), 500)
            return False, f"{name} failed: {detail or 'the tool reported an error'}"
        except Exception as exc:  # transport or protocol failure: never into the agent
            outcome = _reason(exc)
            return False, (
                f"{name} failed: the {server.name} service could not be reached. "
                "Tell the customer it is unavailable right now."
            )
        finally:
            log = logger.warning if outcome not in ("ok", "tool_error") else logger.info
            log(
                "mcp tool {}.{} -> {} in {:.0f} ms",
                server.name,
                name,
                outcome,
                (time.perf_counter() - started) * 1000,
            )

    return StructuredTool(
        name=name,
        description=inner.description,
        args_schema=_model_schema(inner, list(injected)),
        coroutine=call_mcp_tool,
        metadata={**(inner.metadata or {}), "kind": "mcp", "mcp_server": server.name},
        handle_tool_error=True,
    )


def _as_text(content: Any, limit: int) -> str:
    """MCP content (text blocks, strings) as plain text for the model, cut at ``limit``."""
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            else:
                parts.append("[non-text content omitted]")
        text = "\n".join(parts)
    else:
        text = "" if content is None else str(content)
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " …(truncated)"


__all__ = ["McpConfigError", "McpServer", "load_mcp_tools", "parse_mcp_servers"]
