"""MCP tools: loaded by URL from a real MCP server (``tests/fakes/mcp_server.py``), allow-listed,
with deadlines, and driven end to end by the real agent against the fake OpenAI server."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.tools import ToolRuntime
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langchain_openai import ChatOpenAI
from loguru import logger

from bot.answers.agent_context import AgentContext
from bot.answers.mcp_tools import McpConfigError, McpServer, load_mcp_tools, parse_mcp_servers
from tests.fakes.background import free_port
from tests.fakes.mcp_server import FakeMCPServer
from tests.fakes.openai_server import JSON, FakeOpenAI, Step, ToolCall, ToolCallReply

CUSTOMER = AgentContext(
    conversation_id="conv-1",
    contact_id="contact-1",
    channel="telegram",
    external_user_id="tg-1001",
)
ALLOW = ["lookup_customer", "create_ticket", "broken_tool", "slow_tool"]


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[FakeMCPServer]:
    with FakeMCPServer() as server:
        yield server


@pytest.fixture
def fake_mcp(mcp_server: FakeMCPServer) -> FakeMCPServer:
    mcp_server.calls.clear()
    mcp_server.request_headers.clear()
    return mcp_server


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING")
    yield lines
    logger.remove(sink)


def crm(server: FakeMCPServer, **fields: object) -> McpServer:
    spec: dict[str, object] = {
        "name": "crm",
        "url": server.url,
        "allow": ALLOW,
        "customer_arguments": {"customer_id": "external_user_id"},
        "timeout_seconds": 5,
    }
    return McpServer.model_validate(spec | fields)


def runtime() -> ToolRuntime[AgentContext]:
    return ToolRuntime(
        state={},
        context=CUSTOMER,
        config={},
        stream_writer=lambda _: None,
        tool_call_id="t",
        store=None,
    )


def agent_for(fake: FakeOpenAI, tools: list[BaseTool]) -> Any:
    model = ChatOpenAI(base_url=fake.base_url, api_key="test", model="gpt-4o-mini", max_retries=0)
    return create_agent(model, tools, context_schema=AgentContext)


def reply_with_tool_result(body: JSON) -> Step:
    return f"From the tool: {body['messages'][-1]['content']}"


async def ask(agent: Any, text: str) -> list[Any]:
    result = await agent.ainvoke(
        {"messages": [{"role": "user", "content": text}]}, context=CUSTOMER
    )
    messages: list[Any] = result["messages"]
    return messages


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


def test_parse_servers_from_the_setting() -> None:
    raw = json.dumps(
        [
            {
                "name": "crm",
                "url": "http://127.0.0.1:9000/mcp",
                "transport": "streamable_http",
                "allow": ["lookup_customer"],
                "headers": {"Authorization": "Bearer ${CRM_TOKEN}"},
            },
            {
                "name": "docs",
                "url": "https://docs.example.com/sse",
                "transport": "sse",
                "allow": [],
            },
        ]
    )

    servers = parse_mcp_servers(raw)

    assert [s.name for s in servers] == ["crm", "docs"]
    assert servers[0].allow == ["lookup_customer"]
    assert servers[1].transport == "sse"
    assert parse_mcp_servers(None) == [] and parse_mcp_servers("  ") == []
    assert (
        parse_mcp_servers('[{"name":"a","url":"http://h/mcp","transport":"http","allow":[]}]')[
            0
        ].transport
        == "streamable_http"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[{", "MCP_SERVERS: not valid JSON"),
        ('{"name": "crm"}', "MCP_SERVERS: expected a JSON list of servers"),
        (
            '[{"name": "crm", "url": "http://h/mcp"}]',
            "MCP_SERVERS: server 'crm': allow: Field required",
        ),
        (
            '[{"name": "crm", "url": "ftp://h", "allow": []}]',
            "MCP_SERVERS: server 'crm': url: must be an http",
        ),
        ('[{"url": "http://h", "allow": []}]', "MCP_SERVERS: server #1: name: Field required"),
        (
            '[{"name": "crm", "url": "http://h", "allow": [],'
            ' "customer_arguments": {"id": "password"}}]',
            "MCP_SERVERS: server 'crm': customer_arguments.id: Input should be",
        ),
        (
            '[{"name":"a","url":"http://h","allow":[]},{"name":"a","url":"http://h","allow":[]}]',
            "MCP_SERVERS: server 'a': the name is used twice",
        ),
    ],
)
def test_bad_settings_give_one_clear_line(raw: str, message: str) -> None:
    with pytest.raises(McpConfigError) as info:
        parse_mcp_servers(raw)

    assert str(info.value).startswith(message)


async def test_a_header_variable_that_is_not_set_stops_start_up(fake_mcp: FakeMCPServer) -> None:
    server = crm(fake_mcp, headers={"Authorization": "Bearer ${NOPE_NOT_SET}"})

    with pytest.raises(McpConfigError, match=r"headers.Authorization needs \$\{NOPE_NOT_SET\}"):
        await load_mcp_tools([server], variables={})


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


async def test_only_allow_listed_tools_are_loaded(
    fake_mcp: FakeMCPServer, warnings: list[str]
) -> None:
    tools = await load_mcp_tools([crm(fake_mcp, allow=["lookup_customer", "not_offered"])])

    assert [t.name for t in tools] == ["lookup_customer"]
    assert any("does not offer allow-listed tool(s): not_offered" in w for w in warnings)


async def test_customer_arguments_are_hidden_from_the_model(fake_mcp: FakeMCPServer) -> None:
    tools = {t.name: t for t in await load_mcp_tools([crm(fake_mcp)])}

    schema = tools["create_ticket"].args_schema
    assert isinstance(schema, dict)
    assert set(schema["properties"]) == {"subject"}
    assert schema["required"] == ["subject"]
    assert "delete_everything" not in tools


async def test_headers_reach_the_server_with_variables_resolved(
    fake_mcp: FakeMCPServer, warnings: list[str]
) -> None:
    server = crm(fake_mcp, headers={"Authorization": "Bearer ${CRM_TOKEN}"})
    tools = await load_mcp_tools([server], variables={"CRM_TOKEN": "crm-s3cret"})

    await tools[0].ainvoke({"email": "ann@example.com", "runtime": runtime()})

    assert fake_mcp.request_headers
    assert all(h.get("authorization") == "Bearer crm-s3cret" for h in fake_mcp.request_headers)
    assert not any("crm-s3cret" in w for w in warnings)


async def test_a_server_that_is_down_gives_no_tools_and_a_warning(
    fake_mcp: FakeMCPServer, warnings: list[str]
) -> None:
    down = McpServer(name="down", url=f"http://127.0.0.1:{free_port()}/mcp", allow=["anything"])

    tools = await load_mcp_tools([down, crm(fake_mcp, allow=["lookup_customer"])])

    assert [t.name for t in tools] == ["lookup_customer"]
    assert any("MCP server down" in w and "continuing without its tools" in w for w in warnings)


async def test_a_server_that_hangs_is_given_up_after_the_connect_timeout(
    warnings: list[str],
) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        hanging = McpServer(
            name="hangs",
            url=f"http://127.0.0.1:{port}/mcp",
            allow=["x"],
            connect_timeout_seconds=0.5,
        )
        started = time.perf_counter()

        tools = await load_mcp_tools([hanging])

    assert tools == []
    assert time.perf_counter() - started < 3
    assert any("MCP server hangs" in w and "did not answer in 0.5 s" in w for w in warnings)


# --------------------------------------------------------------------------------------
# Calls, end to end through the agent
# --------------------------------------------------------------------------------------


async def test_an_mcp_tool_call_works_through_the_agent(
    fake_mcp: FakeMCPServer, fake_llm: FakeOpenAI
) -> None:
    tools = await load_mcp_tools([crm(fake_mcp)])
    fake_llm.script(
        ToolCallReply([ToolCall("lookup_customer", {"email": "ann@example.com"})]),
        reply_with_tool_result,
    )

    messages = await ask(agent_for(fake_llm, tools), "I am ann@example.com, what tier am I?")

    tool_message = next(m for m in messages if isinstance(m, ToolMessage))
    assert json.loads(str(tool_message.content))["tier"] == "gold"
    assert fake_llm.requests[1]["messages"][-1]["role"] == "tool"
    assert "Ann Example" in fake_llm.requests[1]["messages"][-1]["content"]
    offered = {t["function"]["name"] for t in fake_llm.requests[0]["tools"]}
    assert offered == set(ALLOW)
    assert fake_mcp.calls == [("lookup_customer", {"email": "ann@example.com"})]


async def test_the_customer_comes_from_the_context_not_the_model(
    fake_mcp: FakeMCPServer, fake_llm: FakeOpenAI
) -> None:
    tools = await load_mcp_tools([crm(fake_mcp)])
    fake_llm.script(
        ToolCallReply(
            [ToolCall("create_ticket", {"subject": "Broken mug", "customer_id": "someone-else"})]
        ),
        reply_with_tool_result,
    )

    messages = await ask(agent_for(fake_llm, tools), "Open a ticket: my mug arrived broken")

    assert fake_mcp.calls == [
        ("create_ticket", {"subject": "Broken mug", "customer_id": "tg-1001"})
    ]
    assert "created for tg-1001" in str(messages[-1].content)


async def test_a_tool_that_is_not_allow_listed_cannot_be_called(
    fake_mcp: FakeMCPServer, fake_llm: FakeOpenAI
) -> None:
    tools = await load_mcp_tools([crm(fake_mcp)])
    fake_llm.script(ToolCallReply([ToolCall("delete_everything", {})]), reply_with_tool_result)

    messages = await ask(agent_for(fake_llm, tools), "delete everything")

    tool_message = next(m for m in messages if isinstance(m, ToolMessage))
    assert tool_message.status == "error"
    assert "delete_everything is not a valid tool" in str(tool_message.content)
    assert fake_mcp.calls == []


async def test_a_raising_tool_gives_the_model_an_error_message(
    fake_mcp: FakeMCPServer, fake_llm: FakeOpenAI
) -> None:
    tools = await load_mcp_tools([crm(fake_mcp)])
    fake_llm.script(
        ToolCallReply([ToolCall("broken_tool", {"reason": "disk full"})]),
        reply_with_tool_result,
    )

    messages = await ask(agent_for(fake_llm, tools), "try the broken thing")

    tool_message = next(m for m in messages if isinstance(m, ToolMessage))
    assert tool_message.status == "error"  # visible as a failed call to operators
    sent = fake_llm.requests[1]["messages"][-1]
    assert sent["role"] == "tool"
    assert sent["content"].startswith("broken_tool failed: ")
    assert "the CRM database is down (disk full)" in sent["content"]
    assert str(messages[-1].content).startswith("From the tool: broken_tool failed")


async def test_a_slow_tool_times_out_into_a_message(
    fake_mcp: FakeMCPServer, fake_llm: FakeOpenAI
) -> None:
    tools = await load_mcp_tools([crm(fake_mcp, timeout_seconds=0.5)])
    fake_llm.script(
        ToolCallReply([ToolCall("slow_tool", {"seconds": 1.5})]), reply_with_tool_result
    )
    started = time.perf_counter()

    await ask(agent_for(fake_llm, tools), "be slow")

    assert time.perf_counter() - started < 1.4
    content = fake_llm.requests[1]["messages"][-1]["content"]
    assert content.startswith("slow_tool failed: the crm service did not answer in 0.5 s.")


async def test_a_server_that_goes_away_after_start_up_gives_a_message(
    fake_llm: FakeOpenAI,
) -> None:
    with FakeMCPServer() as short_lived:
        tools = await load_mcp_tools([crm(short_lived, allow=["lookup_customer"])])
    fake_llm.script(
        ToolCallReply([ToolCall("lookup_customer", {"email": "ann@example.com"})]),
        reply_with_tool_result,
    )

    messages = await ask(agent_for(fake_llm, tools), "who am I?")

    assert str(messages[-1].content) == (
        "From the tool: lookup_customer failed: the crm service could not be reached. "
        "Tell the customer it is unavailable right now."
    )
