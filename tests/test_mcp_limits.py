"""The MCP client follows no redirect off the server's origin and reads no unbounded response."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from bot.answers import mcp_tools
from bot.answers.mcp_tools import McpServer, load_mcp_tools
from tests.fakes.background import BackgroundServer
from tests.fakes.mcp_server import FakeMCPServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[FakeMCPServer]:
    with FakeMCPServer() as server:
        yield server


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING")
    yield lines
    logger.remove(sink)


async def test_a_redirect_to_another_origin_is_not_followed(
    mcp_server: FakeMCPServer, warnings: list[str]
) -> None:
    # A working MCP server, reachable only through a redirect to another origin (another
    # port here; another host name is refused the same way).
    target = mcp_server.url

    def redirect(request: Request) -> RedirectResponse:
        return RedirectResponse(target, status_code=307)

    app = Starlette(routes=[Route("/mcp", redirect, methods=["GET", "POST", "DELETE"])])
    with BackgroundServer(app, name="redirector") as redirector:
        server = McpServer(
            name="moved", url=f"{redirector.base_url}/mcp", allow=["lookup_customer"]
        )
        tools = await load_mcp_tools([server])
    assert tools == []
    assert any("MCP server moved" in w for w in warnings), warnings
    assert mcp_server.calls == []


async def test_a_response_over_the_byte_cap_is_refused(
    mcp_server: FakeMCPServer, warnings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    allow = McpServer(name="crm", url=mcp_server.url, allow=["lookup_customer"])
    assert [t.name for t in await load_mcp_tools([allow])] == ["lookup_customer"]
    monkeypatch.setattr(mcp_tools, "MAX_RESPONSE_BYTES", 64)
    assert await load_mcp_tools([allow]) == []
    assert any("MCP server crm" in w for w in warnings), warnings
