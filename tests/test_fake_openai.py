"""The fake OpenAI server, exercised through the real ``openai`` / ``langchain_openai`` clients."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import SecretStr

from tests.fakes.openai_server import (
    JSON,
    Delay,
    ErrorReply,
    FakeOpenAI,
    Garbage,
    Step,
    TextReply,
    ToolCall,
    ToolCallReply,
)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    server.reset()
    yield server
    server.reset()


def chat(fake: FakeOpenAI, timeout: float = 5.0, max_retries: int = 0, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=fake.base_url,
        api_key=SecretStr("test"),
        model="gpt-4o-mini",
        max_retries=max_retries,
        timeout=timeout,
        **kwargs,
    )


@tool
def order_status(order_id: str) -> str:
    """Look up the status of an order."""
    return f"order {order_id} ships tomorrow"


@tool
def handoff(reason: str) -> str:
    """Hand the conversation over to a human operator."""
    return "handed off"


async def collect(model: Any, prompt: Any) -> tuple[list[AIMessageChunk], AIMessageChunk]:
    chunks: list[AIMessageChunk] = [chunk async for chunk in model.astream(prompt)]
    assert chunks
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return chunks, total


async def answer(model: Any, prompt: Any, *, stream: bool) -> AIMessage:
    if stream:
        return (await collect(model, prompt))[1]
    reply = await model.ainvoke(prompt)
    assert isinstance(reply, AIMessage)
    return reply


async def drain(model: Any, prompt: Any, into: list[str]) -> None:
    async for chunk in model.astream(prompt):
        into.append(str(chunk.content))


# -- text ------------------------------------------------------------------------------


def test_invoke_returns_scripted_text_and_records_request(fake: FakeOpenAI) -> None:
    fake.script("Hello! How can I help?")

    reply = chat(fake).invoke([HumanMessage("hi")])

    assert isinstance(reply, AIMessage)
    assert reply.content == "Hello! How can I help?"
    assert reply.response_metadata["finish_reason"] == "stop"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == 5  # one "token" per word
    assert fake.remaining == 0
    [body] = fake.requests
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert not body.get("stream")
    assert fake.calls[0].headers["authorization"] == "Bearer test"


async def test_empty_script_echoes_last_user_text(fake: FakeOpenAI) -> None:
    reply = await chat(fake).ainvoke("where is my parcel?")
    assert reply.content == "ok: where is my parcel?"


async def test_astream_yields_token_chunks_with_usage_and_records_ttft(fake: FakeOpenAI) -> None:
    text = "Your order ships tomorrow morning."
    fake.script(TextReply(text, first_token_delay=0.05, token_delay=0.01))

    started = time.perf_counter()
    chunks, total = await collect(chat(fake, stream_usage=True), "when?")

    contents = [c.content for c in chunks if c.content]
    assert len(contents) == 5
    assert "".join(str(c) for c in contents) == text
    assert total.content == text
    assert total.usage_metadata is not None
    assert total.usage_metadata["output_tokens"] == 5
    body = fake.requests[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    call = fake.calls[0]
    assert call.stream
    assert call.time_to_first_token is not None
    assert call.time_to_first_token >= 0.05
    assert call.first_token_at is not None
    assert call.first_token_at >= started
    assert call.finished_at is not None
    assert call.finished_at - call.first_token_at >= 0.04


async def test_custom_token_split_is_streamed_as_given(fake: FakeOpenAI) -> None:
    fake.script(TextReply("Привет, мир", tokens=["При", "вет", ", ", "мир"]))
    chunks, total = await collect(chat(fake), "hi")
    assert [c.content for c in chunks if c.content] == ["При", "вет", ", ", "мир"]
    assert total.content == "Привет, мир"


def test_token_split_must_join_to_text() -> None:
    with pytest.raises(ValueError, match="join"):
        TextReply("abc", tokens=["a", "b"])


# -- tool calls ------------------------------------------------------------------------

SINGLE = [ToolCall("order_status", {"order_id": "A-42"}, id="call_single")]
PARALLEL = [
    ToolCall("order_status", {"order_id": "A-42"}, id="call_one"),
    ToolCall("handoff", {"reason": 'customer asked for a "human" — now'}, id="call_two"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("calls", [SINGLE, PARALLEL], ids=["single", "parallel"])
async def test_tool_calls_are_parsed(fake: FakeOpenAI, stream: bool, calls: list[ToolCall]) -> None:
    fake.script(ToolCallReply(calls, argument_chunk_size=5))
    model = chat(fake).bind_tools([order_status, handoff])

    message: AIMessage
    if stream:
        chunks, message = await collect(model, "where is A-42?")
        # the arguments really arrived in several fragments per call
        assert sum(len(c.tool_call_chunks) for c in chunks) > 2 * len(calls)
    else:
        message = await answer(model, "where is A-42?", stream=False)

    assert message.response_metadata.get("finish_reason") == "tool_calls"
    assert message.invalid_tool_calls == []
    assert [(tc["id"], tc["name"], tc["args"]) for tc in message.tool_calls] == [
        (c.id, c.name, c.arguments) for c in calls
    ]
    body = fake.requests[0]
    assert bool(body.get("stream")) is stream
    assert [t["function"]["name"] for t in body["tools"]] == ["order_status", "handoff"]


async def test_tool_call_ids_are_generated_and_unique(fake: FakeOpenAI) -> None:
    fake.script(ToolCallReply([ToolCall("order_status", {"order_id": "1"})] * 2))
    message = await chat(fake).bind_tools([order_status]).ainvoke("two orders")
    assert isinstance(message, AIMessage)
    ids = [tc["id"] for tc in message.tool_calls]
    assert all(i and i.startswith("call_") for i in ids)
    assert len(set(ids)) == 2


async def test_callable_step_sees_tool_results(fake: FakeOpenAI) -> None:
    def respond(body: JSON) -> Step:
        tool_messages = [m for m in body["messages"] if m["role"] == "tool"]
        if not tool_messages:
            return ToolCallReply([ToolCall("order_status", {"order_id": "A-42"}, id="c1")])
        return f"Good news: {tool_messages[-1]['content']}."

    fake.script(respond, respond)
    model = chat(fake).bind_tools([order_status])
    history: list[Any] = [HumanMessage("where is A-42?")]

    first = await model.ainvoke(history)
    assert isinstance(first, AIMessage)
    [call] = first.tool_calls
    history += [first, ToolMessage(order_status.invoke(call["args"]), tool_call_id=call["id"])]
    second = await model.ainvoke(history)

    assert second.content == "Good news: order A-42 ships tomorrow."
    sent = fake.requests[1]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "c1"
    assert sent[2] == {"role": "tool", "content": "order A-42 ships tomorrow", "tool_call_id": "c1"}


async def test_create_agent_runs_a_tool_loop_against_the_fake(fake: FakeOpenAI) -> None:
    fake.script(
        ToolCallReply([ToolCall("order_status", {"order_id": "A-42"})]),
        lambda body: f"Done: {body['messages'][-1]['content']}",
    )
    agent = create_agent(chat(fake), tools=[order_status], system_prompt="Be brief.")

    result = await agent.ainvoke({"messages": [{"role": "user", "content": "where is A-42?"}]})

    assert result["messages"][-1].content == "Done: order A-42 ships tomorrow"
    first, second = fake.requests
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    assert second["messages"][-1]["role"] == "tool"


# -- errors ----------------------------------------------------------------------------


async def test_500_raises_internal_server_error(fake: FakeOpenAI) -> None:
    fake.script(ErrorReply.server_error("boom"))
    with pytest.raises(openai.InternalServerError) as info:
        await chat(fake).ainvoke("hi")
    assert info.value.status_code == 500
    assert info.value.body == {
        "message": "boom",
        "type": "server_error",
        "param": None,
        "code": None,
    }


async def test_429_carries_retry_after(fake: FakeOpenAI) -> None:
    fake.script(ErrorReply.rate_limited(retry_after=7))
    with pytest.raises(openai.RateLimitError) as info:
        await chat(fake).ainvoke("hi")
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.code == "rate_limit_exceeded"


async def test_client_retries_after_scripted_5xx(fake: FakeOpenAI) -> None:
    # a short retry-after keeps the client's back-off (and the test) fast
    fake.script(ErrorReply(503, "overloaded", headers={"retry-after": "0.01"}), "recovered")
    reply = await chat(fake, max_retries=1).ainvoke("hi")
    assert reply.content == "recovered"
    assert len(fake.requests) == 2


async def test_streaming_request_gets_http_error_too(fake: FakeOpenAI) -> None:
    fake.script(ErrorReply.unauthorized())
    with pytest.raises(openai.AuthenticationError):
        await collect(chat(fake), "hi")


async def test_missing_bearer_token_gets_401(fake: FakeOpenAI) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        response = await client.post("/chat/completions", json={"messages": []})
        models = await client.get("/models", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert models.status_code == 401
    assert fake.requests == []


async def test_specific_api_key_is_enforced() -> None:
    async with FakeOpenAI(api_key="sk-right") as fake:
        with pytest.raises(openai.AuthenticationError):
            await chat(fake).ainvoke("hi")
        ok = ChatOpenAI(base_url=fake.base_url, api_key=SecretStr("sk-right"), max_retries=0)
        assert (await ok.ainvoke("hi")).content == "ok: hi"


async def test_delay_beyond_timeout_raises_timeout(fake: FakeOpenAI) -> None:
    fake.script(Delay(5.0, then=TextReply("too late")))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await chat(fake, timeout=0.3).ainvoke("hi")
    assert time.monotonic() - started < 2.0


async def test_delay_within_timeout_then_answers(fake: FakeOpenAI) -> None:
    fake.script(Delay(0.1, then="slow but fine"))
    started = time.monotonic()
    reply = await chat(fake, timeout=2.0).ainvoke("hi")
    assert reply.content == "slow but fine"
    assert time.monotonic() - started >= 0.1


# -- garbage ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_malformed_json_raises(fake: FakeOpenAI, stream: bool) -> None:
    fake.script(Garbage("malformed_json"))
    with pytest.raises(json.JSONDecodeError):
        await answer(chat(fake), "hi", stream=stream)


async def test_truncated_body_raises_connection_error(fake: FakeOpenAI) -> None:
    fake.script(Garbage("truncated"))
    with pytest.raises(openai.APIConnectionError):
        await chat(fake).ainvoke("hi")


async def test_truncated_stream_raises_after_partial_tokens(fake: FakeOpenAI) -> None:
    fake.script(Garbage("truncated"))
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        await drain(chat(fake), "hi", into=received)
    assert "".join(received) == "Hel"


async def test_empty_choices(fake: FakeOpenAI) -> None:
    fake.script(Garbage("empty_choices"), Garbage("empty_choices"))
    with pytest.raises(IndexError):
        await chat(fake).ainvoke("hi")
    # streamed, an empty-choices chunk is legal (it is how usage arrives): empty answer
    _, total = await collect(chat(fake), "hi")
    assert total.content == ""


# -- models and embeddings -------------------------------------------------------------


async def test_models_endpoint(fake: FakeOpenAI) -> None:
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    ids = [m.id async for m in client.models.list()]
    assert "gpt-4o-mini" in ids
    assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-9")
    await client.close()


async def test_embeddings_are_deterministic(fake: FakeOpenAI) -> None:
    embeddings = OpenAIEmbeddings(
        openai_api_base=fake.base_url,
        openai_api_key=SecretStr("test"),
        model="text-embedding-3-small",
        check_embedding_ctx_length=False,  # no tiktoken download
        max_retries=0,
    )
    vectors = await embeddings.aembed_documents(["refund policy", "opening hours"])
    again = await embeddings.aembed_query("refund policy")

    assert len(vectors) == 2
    assert len(vectors[0]) == fake.embedding_dimensions
    assert again == pytest.approx(vectors[0], abs=1e-6)
    assert vectors[0] != pytest.approx(vectors[1], abs=1e-3)
    assert again == pytest.approx(FakeOpenAI.embedding_for("refund policy"), abs=1e-6)
    # the openai client asks for base64 by default; the fake honours it
    assert fake.embedding_requests[0]["encoding_format"] == "base64"
