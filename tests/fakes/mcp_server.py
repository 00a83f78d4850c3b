"""A small MCP server for tests, built with the ``mcp`` package (FastMCP, streamable HTTP).

It runs uvicorn on ``127.0.0.1`` and a free port in a daemon thread with its own event
loop, so sync and async tests can use it alike::

    with FakeMCPServer() as server:
        servers = [McpServer(name="crm", url=server.url, allow=["lookup_customer"])]
        tools = await load_mcp_tools(servers)
        ...
        assert server.calls == [("lookup_customer", {"email": "ann@example.com"})]

Tools:
- ``lookup_customer(email)`` → a fake customer record (JSON text);
- ``create_ticket(subject, customer_id)`` → ``"ticket T-<n> created for <customer_id>: …"``;
- ``delete_everything()`` → must never be allow-listed (records the call if it happens);
- ``broken_tool(reason)`` → raises (FastMCP turns it into an ``isError`` result);
- ``slow_tool(seconds)`` → sleeps, then answers (for per-call timeouts).

``calls`` records every tool call as ``(name, arguments)``; ``request_headers`` the
headers of every HTTP request the server received (lower-cased names).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn
from mcp.server.fastmcp import FastMCP
from starlette.types import Receive, Scope, Send

CUSTOMERS = {
    "ann@example.com": {"customer_id": "cus_001", "name": "Ann Example", "tier": "gold"},
    "bob@example.com": {"customer_id": "cus_002", "name": "Bob Example", "tier": "basic"},
}


class FakeMCPServer:
    """A FastMCP server over streamable HTTP on a free loopback port; ``url`` ends in /mcp."""

    def __init__(self, name: str = "fake-crm") -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.request_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._tickets = 0
        self.mcp = FastMCP(name, stateless_http=True, log_level="WARNING")
        self._register_tools()
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeMCPServer is not started")
        return f"http://127.0.0.1:{self._port}/mcp"

    def _record(self, name: str, arguments: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append((name, arguments))

    def _register_tools(self) -> None:
        mcp = self.mcp

        @mcp.tool()
        def lookup_customer(email: str) -> str:
            """Find a customer record by e-mail address."""
            self._record("lookup_customer", {"email": email})
            record = CUSTOMERS.get(email.strip().lower())
            if record is None:
                return json.dumps({"found": False})
            return json.dumps({"found": True, **record})

        @mcp.tool()
        def create_ticket(subject: str, customer_id: str) -> str:
            """Open a support ticket for the customer."""
            self._record("create_ticket", {"subject": subject, "customer_id": customer_id})
            with self._lock:
                self._tickets += 1
                number = self._tickets
            return f"ticket T-{number} created for {customer_id}: {subject}"

        @mcp.tool()
        def delete_everything() -> str:
            """Delete every record. Dangerous: never allow-list this."""
            self._record("delete_everything", {})
            return "everything deleted"

        @mcp.tool()
        def broken_tool(reason: str = "boom") -> str:
            """Always fails."""
            self._record("broken_tool", {"reason": reason})
            raise RuntimeError(f"the CRM database is down ({reason})")

        @mcp.tool()
        async def slow_tool(seconds: float) -> str:
            """Answers after ``seconds``."""
            self._record("slow_tool", {"seconds": seconds})
            await asyncio.sleep(seconds)
            return "finally"

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        inner = self.mcp.streamable_http_app()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
                with self._lock:
                    self.request_headers.append(headers)
            await inner(scope, receive, send)

        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        server = self._server

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name="fake-mcp", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeMCPServer failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.stop)


def free_port() -> int:
    """A loopback port that nothing listens on (for "server is down" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
