"""HTTP actions: defined as data, called over real HTTP, safe for the agent.

The demo order service (``bot.server.demo_actions``) and a few test endpoints run on a real uvicorn
on a free port; the agent test drives the real ``langchain`` agent and the real
``langchain_openai`` client against the scripted fake OpenAI server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from langchain.agents import create_agent
from langchain.tools import ToolRuntime
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langchain_openai import ChatOpenAI
from loguru import logger

from bot.answers.agent_context import AgentContext
from bot.answers.http_actions import (
    HttpAction,
    HttpActionConfigError,
    build_http_action_tools,
    expose_fields,
    load_http_actions,
    parse_http_actions,
)
from bot.server.demo_actions import demo_router
from tests.fakes.background import BackgroundServer
from tests.fakes.openai_server import JSON, FakeOpenAI, Step, ToolCall, ToolCallReply

EXAMPLE_FILE = Path(__file__).resolve().parent.parent / "config" / "actions" / "order_status.json"
CUSTOMER = AgentContext(
    conversation_id="conv-1",
    contact_id="contact-1",
    channel="widget",
    external_user_id="visitor-42",
    language="en",
    display_name="Ann",
)


# --------------------------------------------------------------------------------------
# A real HTTP server: the demo router plus a few test endpoints
# --------------------------------------------------------------------------------------


class Service(BackgroundServer):
    """The demo router and test endpoints on uvicorn, in a thread with its own loop."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        app = FastAPI()
        app.include_router(demo_router)
        super().__init__(app, name="test service")
        self._routes(app)

    def _routes(self, app: FastAPI) -> None:
        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            self.requests.append(
                {
                    "method": request.method,
                    "raw_path": request.scope["raw_path"].decode(),
                    "path": request.url.path,
                    "query": dict(request.query_params),
                    "headers": dict(request.headers),
                    "body": (await request.body()).decode(),
                }
            )
            return await call_next(request)

        @app.get("/echo/{value}")
        async def echo(value: str) -> dict[str, Any]:
            return {"value": value, "secret": "hidden", "nested": {"a": 1, "b": 2}}

        @app.post("/tickets")
        async def tickets(request: Request) -> JSONResponse:
            return JSONResponse({"ticket": "T-1", "got": await request.json()}, status_code=201)

        @app.get("/admin/{anything:path}")
        async def admin(anything: str) -> dict[str, str]:
            return {"admin": "reached"}

        @app.get("/slow")
        async def slow() -> dict[str, str]:
            await asyncio.sleep(1)
            return {"status": "late"}

        @app.get("/boom")
        async def boom() -> JSONResponse:
            return JSONResponse({"error": "db down", "stack": "secret internals"}, 500)

        @app.get("/text")
        async def text() -> PlainTextResponse:
            return PlainTextResponse("<html>not json</html>")

        @app.get("/moved")
        async def moved() -> RedirectResponse:
            return RedirectResponse("http://example.invalid/elsewhere")


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with Service() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    yield lines
    logger.remove(sink)


def runtime(context: AgentContext = CUSTOMER) -> ToolRuntime[AgentContext]:
    return ToolRuntime(
        state={},
        context=context,
        config={},
        stream_writer=lambda _: None,
        tool_call_id="call_test",
        store=None,
    )


def action(**fields: Any) -> HttpAction:
    base: dict[str, Any] = {
        "name": "echo",
        "description": "Echo a value.",
        "parameters": {
            "type": "object",
            "properties": {"value": {"type": "string"}},
            "required": ["value"],
        },
        "url": "${BASE}/echo/{value}",
        "expose": ["value", "nested.a"],
    }
    return HttpAction.model_validate({**base, **fields})


def one_tool(
    service: Service,
    client: httpx.AsyncClient,
    spec: HttpAction,
    **variables: str,
) -> BaseTool:
    [tool] = build_http_action_tools(
        [spec], client=client, variables={"BASE": service.base_url, **variables}
    )
    return tool


async def call(tool: BaseTool, **args: Any) -> str:
    result = await tool.ainvoke({**args, "runtime": runtime()})
    assert isinstance(result, str)
    return result


def order_status_tool(service: Service, client: httpx.AsyncClient) -> BaseTool:
    actions = load_http_actions(EXAMPLE_FILE)
    [tool] = build_http_action_tools(
        actions, client=client, variables={"PUBLIC_BASE_URL": service.base_url}
    )
    return tool


# --------------------------------------------------------------------------------------
# The example action against the demo order service
# --------------------------------------------------------------------------------------


async def test_example_file_describes_order_status(service: Service) -> None:
    [spec] = load_http_actions(EXAMPLE_FILE)
    assert spec.name == "order_status"
    assert spec.model_schema()["required"] == ["order_id"]
    assert spec.model_schema()["additionalProperties"] is False


async def test_order_status_shows_only_exposed_fields(
    service: Service, client: httpx.AsyncClient
) -> None:
    tool = order_status_tool(service, client)

    text = await call(tool, order_id="A-1001")

    data = json.loads(text)
    assert data["status"] == "shipped"
    assert data["tracking"]["number"] == "DP123456789"
    assert data["items"] == [
        {"name": "Blue mug", "quantity": 2},
        {"name": "Tea sampler", "quantity": 1},
    ]
    for hidden in ("internal_note", "warehouse", "payment", "requested_by", "placed_at"):
        assert hidden not in data
    assert "sku" not in text and "4242" not in text


async def test_order_status_processing_and_unknown(
    service: Service, client: httpx.AsyncClient
) -> None:
    tool = order_status_tool(service, client)

    assert json.loads(await call(tool, order_id="A-1002"))["status"] == "processing"
    assert await call(tool, order_id="Z-0") == "order_status failed: not found (HTTP 404)."


async def test_customer_identity_comes_from_the_context(
    service: Service, client: httpx.AsyncClient
) -> None:
    tool = order_status_tool(service, client)
    service.requests.clear()

    await tool.ainvoke({"order_id": "A-1001", "runtime": runtime()})

    [request] = service.requests
    assert request["query"] == {"customer": "visitor-42"}
    assert request["headers"]["x-demo-channel"] == "widget"


async def test_model_cannot_supply_the_customer_identity(
    service: Service, client: httpx.AsyncClient
) -> None:
    tool = order_status_tool(service, client)
    service.requests.clear()

    text = await call(tool, order_id="A-1001", external_user_id="someone-else")

    assert text.startswith("order_status was not called: unknown argument(s) 'external_user_id'")
    assert "allowed: order_id" in text
    assert service.requests == []


async def test_a_parameter_named_like_the_identity_does_not_override_it(
    service: Service, client: httpx.AsyncClient
) -> None:
    spec = action(
        parameters={
            "type": "object",
            "properties": {"value": {"type": "string"}, "external_user_id": {"type": "string"}},
            "required": ["value"],
        },
        query={"who": "{customer.external_user_id}"},
    )
    tool = one_tool(service, client, spec)
    service.requests.clear()

    await call(tool, value="x", external_user_id="attacker")

    assert service.requests[0]["query"] == {"who": "visitor-42"}


# --------------------------------------------------------------------------------------
# Arguments and URL safety
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, "missing required argument(s) 'order_id'"),
        ({"order_id": 1001}, "'order_id' must be a string"),
        ({"order_id": ""}, "'order_id' must have at least 1 characters"),
        ({"order_id": "A-1", "extra": 1}, "unknown argument(s) 'extra' (allowed: order_id)"),
    ],
)
async def test_bad_arguments_get_a_message_the_model_can_act_on(
    service: Service, client: httpx.AsyncClient, args: dict[str, Any], expected: str
) -> None:
    tool = order_status_tool(service, client)
    service.requests.clear()

    text = await call(tool, **args)

    assert text == f"order_status was not called: {expected}. Fix the arguments and try again."
    assert service.requests == []


async def test_typed_arguments_enum_and_pattern(
    service: Service, client: httpx.AsyncClient
) -> None:
    spec = action(
        parameters={
            "type": "object",
            "properties": {
                "value": {"type": "string", "pattern": "^[A-Z]-\\d+$"},
                "size": {"type": "integer", "minimum": 1, "maximum": 5},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
            },
            "required": ["value"],
        },
        query={"size": "{size}", "mode": "{mode}"},
    )
    tool = one_tool(service, client, spec)
    service.requests.clear()

    assert "does not have the expected format" in await call(tool, value="nope")
    assert "'size' must be at most 5" in await call(tool, value="A-1", size=9)
    assert '\'mode\' must be one of "fast", "slow"' in await call(tool, value="A-1", mode="x")
    await call(tool, value="A-1", size=2.0)  # an integral float is an integer
    await call(tool, value="A-2")  # optional arguments left out are left out of the query

    assert [r["query"] for r in service.requests] == [{"size": "2"}, {}]


@pytest.mark.parametrize("value", ["A-1001/cancel", "../admin/x", "..", ".", "a\\b"])
async def test_a_path_argument_cannot_reach_another_path(
    service: Service, client: httpx.AsyncClient, value: str
) -> None:
    tool = one_tool(service, client, action())
    service.requests.clear()

    text = await call(tool, value=value)

    assert text.startswith("echo was not called: 'value' must not be empty, '.', '..'")
    assert service.requests == []


@pytest.mark.parametrize("value", ["A-1001?admin=1", "a b&c=d", "x#frag", "%2e%2e", "ü-1"])
async def test_arguments_are_percent_encoded_into_the_path(
    service: Service, client: httpx.AsyncClient, value: str
) -> None:
    tool = one_tool(service, client, action())
    service.requests.clear()

    text = await call(tool, value=value)

    assert json.loads(text) == {"value": value, "nested": {"a": 1}}
    [request] = service.requests
    assert request["path"].startswith("/echo/")
    assert request["query"] == {}


async def test_the_real_order_endpoint_sees_the_literal_id(
    service: Service, client: httpx.AsyncClient
) -> None:
    tool = order_status_tool(service, client)
    service.requests.clear()

    text = await call(tool, order_id="A-1001?x=1")

    assert text == "order_status failed: not found (HTTP 404)."
    assert service.requests[0]["raw_path"] == "/demo/orders/A-1001%3Fx%3D1"


async def test_query_template_values_are_encoded(
    service: Service, client: httpx.AsyncClient
) -> None:
    tool = one_tool(service, client, action(url="${BASE}/echo/fixed?q={value}&k=1"))
    service.requests.clear()

    await call(tool, value="a&k=2#x")

    assert service.requests[0]["query"] == {"q": "a&k=2#x", "k": "1"}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://{value}.example.com/x", "never in the scheme or host"),
        ("http://example.com:{value}/x", "never in the scheme or host"),
        ("{value}/x", "must start with http:// or https://"),
        ("ftp://example.com/{value}", "must start with http:// or https://"),
        ("${BASE}{value}", "after the base URL comes '/' or '?'"),
        ("${BASE}/x/${OTHER}", "only allowed at the very start"),
        ("${BASE}/x/{nope}", "{nope} is not a declared parameter"),
        ("${BASE}/x/{customer.password}", "is not a customer field"),
        ("${BASE}/x#{value}", "a fragment (#) is not allowed"),
    ],
)
def test_unsafe_or_wrong_templates_are_refused_at_start_up(url: str, problem: str) -> None:
    raw = [action().model_dump() | {"url": url}]

    with pytest.raises(HttpActionConfigError) as info:
        parse_http_actions(raw, source="actions.json")

    message = str(info.value)
    assert message.startswith("HTTP_ACTIONS_FILE actions.json: action 'echo': url")
    assert problem in message


def test_a_base_variable_must_be_an_http_url(
    service: Service,
) -> None:
    with pytest.raises(HttpActionConfigError, match="is not an http"):
        build_http_action_tools(
            [action()], client=httpx.AsyncClient(), variables={"BASE": "file:///etc"}
        )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "has space"}, "name: String should match pattern"),
        ({"expose": None}, "expose: Input should be a valid list"),
        ({"method": "TRACE"}, "method: Input should be"),
        (
            {"parameters": {"type": "object", "properties": {"runtime": {"type": "string"}}}},
            "'runtime' cannot be a parameter name",
        ),
        (
            {"parameters": {"type": "object", "properties": {"x": {"type": "object"}}}},
            "properties.x.type must be one of",
        ),
        (
            {"parameters": {"type": "object", "properties": {}, "additionalProperties": True}},
            "additionalProperties must be false",
        ),
        ({"body": {"a": "{value}"}}, "body: a GET request has no body"),
        ({"headers": {"X-Id": "{value}"}}, "headers.X-Id: {value} cannot be used here"),
        ({"timeout_seconds": 0}, "timeout_seconds: Input should be greater than 0"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
    ],
)
def test_invalid_definitions_name_the_file_and_the_action(
    change: dict[str, Any], problem: str
) -> None:
    raw = [action().model_dump() | change]

    with pytest.raises(HttpActionConfigError) as info:
        parse_http_actions(raw, source="actions.json")

    assert str(info.value).startswith("HTTP_ACTIONS_FILE actions.json: action ")
    assert problem in str(info.value)


def test_file_level_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps({"actions": [action().model_dump()] * 2}), encoding="utf-8")

    with pytest.raises(HttpActionConfigError, match=r"broken\.json: not valid JSON"):
        load_http_actions(broken)
    with pytest.raises(HttpActionConfigError, match=r"action 'echo': the name is used twice"):
        load_http_actions(twice)
    with pytest.raises(HttpActionConfigError, match="cannot read"):
        load_http_actions(tmp_path / "missing.json")


# --------------------------------------------------------------------------------------
# Failures become sentences for the model
# --------------------------------------------------------------------------------------


async def test_timeout_gives_an_error_string(service: Service, client: httpx.AsyncClient) -> None:
    tool = one_tool(
        service,
        client,
        action(url="${BASE}/slow", parameters={"type": "object"}, timeout_seconds=0.3),
    )
    started = time.perf_counter()

    text = await call(tool)

    assert time.perf_counter() - started < 2
    assert text.startswith("echo failed: the service did not answer in 0.3 s.")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/boom", "echo failed: the service had an error (HTTP 500)."),
        ("/text", "echo failed: the service answered with something that is not JSON."),
        ("/moved", "echo failed: the service answered with a redirect, which is not followed"),
    ],
)
async def test_bad_answers_give_error_strings(
    service: Service, client: httpx.AsyncClient, path: str, expected: str
) -> None:
    tool = one_tool(service, client, action(url="${BASE}" + path, parameters={"type": "object"}))

    text = await call(tool)

    assert text.startswith(expected)
    assert "secret internals" not in text


async def test_unreachable_service_gives_an_error_string(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    [tool] = build_http_action_tools(
        [action()], client=client, variables={"BASE": f"http://127.0.0.1:{port}"}
    )

    assert (await call(tool, value="x")).startswith("echo failed: the service could not be reached")


async def test_without_a_context_the_tool_answers_instead_of_raising(
    service: Service, client: httpx.AsyncClient
) -> None:
    tool = one_tool(service, client, action())
    bare: ToolRuntime[None] = ToolRuntime(
        state={},
        context=None,
        config={},
        stream_writer=lambda _: None,
        tool_call_id="x",
        store=None,
    )

    text = await tool.ainvoke({"value": "x", "runtime": bare})

    assert text == "echo failed: it is not available in this conversation."


# --------------------------------------------------------------------------------------
# Headers, secrets and bodies
# --------------------------------------------------------------------------------------


async def test_header_from_env_var_is_sent_and_never_logged(
    service: Service,
    client: httpx.AsyncClient,
    logs: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ECHO_API_TOKEN", "s3cret-token-value")
    monkeypatch.setenv("BASE", service.base_url)
    spec = action(headers={"Authorization": "Bearer ${ECHO_API_TOKEN}"})
    [tool] = build_http_action_tools([spec], client=client)  # variables: the environment
    service.requests.clear()

    await call(tool, value="x")

    assert service.requests[0]["headers"]["authorization"] == "Bearer s3cret-token-value"
    assert logs, "the call is logged"
    assert not any("s3cret" in line for line in logs)


def test_a_missing_variable_stops_start_up(service: Service) -> None:
    spec = action(headers={"Authorization": "Bearer ${NOT_SET_ANYWHERE}"})

    with pytest.raises(HttpActionConfigError) as info:
        build_http_action_tools(
            [spec], client=httpx.AsyncClient(), variables={"BASE": service.base_url}
        )

    assert str(info.value) == (
        "action 'echo': headers.Authorization needs ${NOT_SET_ANYWHERE}, which is not set"
    )


async def test_post_body_keeps_types_and_takes_identity_from_context(
    service: Service, client: httpx.AsyncClient
) -> None:
    spec = action(
        name="create_ticket",
        method="post",
        url="${BASE}/tickets",
        parameters={
            "type": "object",
            "properties": {
                "subject": {"type": "string"},
                "urgent": {"type": "boolean"},
                "count": {"type": "integer"},
            },
            "required": ["subject"],
        },
        body={
            "subject": "{subject}",
            "urgent": "{urgent}",
            "count": "{count}",
            "contact": "{customer.contact_id}",
            "label": "via {customer.channel}",
        },
        expose=["ticket"],
    )
    tool = one_tool(service, client, spec)
    service.requests.clear()

    text = await call(tool, subject="Broken mug", urgent=True)

    assert json.loads(text) == {"ticket": "T-1"}
    [request] = service.requests
    assert request["method"] == "POST"
    assert json.loads(request["body"]) == {
        "subject": "Broken mug",
        "urgent": True,
        "contact": "contact-1",
        "label": "via widget",
    }


def test_expose_fields_filters_nested_data_and_lists() -> None:
    data = {
        "a": {"b": 1, "c": 2},
        "items": [{"name": "x", "sku": 1}, {"name": "y"}, "scalar"],
        "d": 3,
    }

    assert expose_fields(data, ["a.b", "items.name", "missing.path"]) == {
        "a": {"b": 1},
        "items": [{"name": "x"}, {"name": "y"}],
    }
    assert expose_fields(data, ["a", "a.b"]) == {"a": {"b": 1, "c": 2}}
    assert expose_fields([{"d": 1, "e": 2}], ["d"]) == [{"d": 1}]
    assert expose_fields("text", ["a"]) is None


async def test_long_answers_are_cut(service: Service, client: httpx.AsyncClient) -> None:
    tool = one_tool(service, client, action(expose=["value"], max_response_chars=60))

    text = await call(tool, value="v" * 200)

    assert len(text) < 80 and text.endswith("…(truncated)")


# --------------------------------------------------------------------------------------
# End to end through the real agent
# --------------------------------------------------------------------------------------


async def test_agent_sees_only_exposed_fields_end_to_end(
    service: Service, client: httpx.AsyncClient
) -> None:
    tools = build_http_action_tools(
        load_http_actions(EXAMPLE_FILE),
        client=client,
        variables={"PUBLIC_BASE_URL": service.base_url},
    )

    def answer(body: JSON) -> Step:
        order = json.loads(body["messages"][-1]["content"])
        return (
            f"Order {order['order_id']} is {order['status']} with {order['tracking']['carrier']}."
        )

    service.requests.clear()
    async with FakeOpenAI() as fake:
        fake.script(ToolCallReply([ToolCall("order_status", {"order_id": "A-1001"})]), answer)
        model = ChatOpenAI(
            base_url=fake.base_url, api_key="test", model="gpt-4o-mini", max_retries=0
        )
        agent = create_agent(model, tools, context_schema=AgentContext)

        result = await agent.ainvoke(
            {"messages": [{"role": "user", "content": "Where is my order A-1001?"}]},
            context=CUSTOMER,
        )
        seen = fake.requests

    assert result["messages"][-1].content == "Order A-1001 is shipped with DemoPost."
    [tool_message] = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert tool_message.status == "success"
    sent = seen[1]["messages"][-1]
    assert sent["role"] == "tool"
    shown = json.loads(sent["content"])
    assert set(shown) == {"order_id", "status", "estimated_delivery", "tracking", "items"}
    assert set(shown["tracking"]) == {"carrier", "number", "url"}
    for secret in ("internal_note", "WH-EAST-3", "PAY-998877", "4242", "visitor-42", "MUG-BLUE"):
        assert secret not in sent["content"]
    assert seen[0]["tools"][0]["function"]["parameters"]["properties"].keys() == {"order_id"}
    # the identity went to the service from the run's context
    assert service.requests[0]["query"] == {"customer": "visitor-42"}


async def test_a_failed_action_is_an_error_tool_message_the_model_explains(
    service: Service, client: httpx.AsyncClient
) -> None:
    tools = build_http_action_tools(
        load_http_actions(EXAMPLE_FILE),
        client=client,
        variables={"PUBLIC_BASE_URL": service.base_url},
    )
    async with FakeOpenAI() as fake:
        fake.script(
            ToolCallReply([ToolCall("order_status", {"order_id": "A-9999"})]),
            lambda body: f"Sorry: {body['messages'][-1]['content']}",
        )
        model = ChatOpenAI(
            base_url=fake.base_url, api_key="test", model="gpt-4o-mini", max_retries=0
        )
        agent = create_agent(model, tools, context_schema=AgentContext)

        result = await agent.ainvoke(
            {"messages": [{"role": "user", "content": "Where is A-9999?"}]}, context=CUSTOMER
        )

    [tool_message] = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert tool_message.status == "error"
    assert tool_message.content == "order_status failed: not found (HTTP 404)."
    assert result["messages"][-1].content == "Sorry: order_status failed: not found (HTTP 404)."
