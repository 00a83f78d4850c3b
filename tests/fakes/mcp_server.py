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
import json
import threading
from typing import Any

from mcp.server.fastmcp import FastMCP
from starlette.types import Receive, Scope, Send

from tests.fakes.background import BackgroundServer

CUSTOMERS = {
    "ann@example.com": {"customer_id": "cus_001", "name": "Ann Example", "tier": "gold"},
    "bob@example.com": {"customer_id": "cus_002", "name": "Bob Example", "tier": "basic"},
}


class FakeMCPServer(BackgroundServer):
    """A FastMCP server over streamable HTTP on a free loopback port; ``url`` ends in /mcp."""

    def __init__(self, name: str = "fake-crm") -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.request_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._tickets = 0
        self.mcp = FastMCP(name, stateless_http=True, log_level="WARNING")
        self._register_tools()
        inner = self.mcp.streamable_http_app()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
                with self._lock:
                    self.request_headers.append(headers)
            await inner(scope, receive, send)

        # lifespan "on": the app's lifespan runs FastMCP's session manager.
        super().__init__(app, name="FakeMCPServer", lifespan="on")

    @property
    def url(self) -> str:
        return f"{self.base_url}/mcp"

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
