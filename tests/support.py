"""Helpers the tests share: a live app on a real port, widget clients, a recording channel,
settings for the fake model, polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
import websockets
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection

from bot.answers.engine import Engine
from bot.answers.knowledge import KnowledgeSearch
from bot.answers.replies import ReplyGenerator
from bot.core.runtime import Core
from bot.core.types import DeliveryResult, DeliveryStatus, OutboundMessage
from bot.server.app import create_app
from config import Settings
from tests.fakes.background import free_port
from tests.fakes.openai_server import FakeOpenAI

CHANNEL = "test"
"""The channel of `RecordingOutput`, for messages said straight to the core."""


def with_model(settings: Settings, fake: FakeOpenAI, **update: Any) -> Settings:
    """``settings`` whose chat model is the fake OpenAI server (plus any other ``update``)."""
    return settings.model_copy(
        update={"openai_base_url": fake.base_url, "openai_api_key": SecretStr("test"), **update}
    )


class RecordingOutput:
    """The sending side of a channel that records what it was asked to deliver."""

    name = CHANNEL

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, outbound: OutboundMessage) -> DeliveryResult:
        self.sent.append(outbound)
        return DeliveryResult(DeliveryStatus.SENT, provider_message_id=f"p-{len(self.sent)}")


@dataclass
class LiveApp:
    base_url: str
    ws_url: str
    core: Core
    engine: Engine
    server: uvicorn.Server

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10)


@contextlib.asynccontextmanager
async def live_app(
    settings: Settings,
    *,
    replier: ReplyGenerator | None = None,
    knowledge: KnowledgeSearch | None = None,
    run_worker: bool = True,
    port: int | None = None,
) -> AsyncIterator[LiveApp]:
    """The real app on a real port (a free one unless given), in this event loop, with its
    worker unless told not to."""
    port = port or free_port()
    settings = settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{port}"})
    app = create_app(
        settings,
        run_worker=run_worker,
        replier=replier,
        knowledge=knowledge,
        configure_logging=False,
    )
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", ws_max_size=256 * 1024
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the app stopped during start-up")
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not start")
        await asyncio.sleep(0.02)
    try:
        yield LiveApp(
            base_url=f"http://127.0.0.1:{port}",
            ws_url=f"ws://127.0.0.1:{port}",
            core=app.state.core,
            engine=app.state.engine,
            server=server,
        )
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


async def new_session(app: LiveApp, **body: Any) -> dict[str, str]:
    async with app.client() as client:
        response = await client.post("/api/widget/sessions", json=body)
        response.raise_for_status()
        return dict(response.json())


class FrameSocket:
    """A socket of JSON frames (the widget's, the operator panel's) with a buffer of the
    frames it received."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return dict(frame)

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15
    ) -> dict[str, Any]:
        """Read frames until one matches; the frames before it stay in `frames`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame; got {self.frames[-5:]}")
            frame = await self.next(remaining)
            if predicate(frame):
                return frame


class WidgetClient(FrameSocket):
    """A widget's socket: it also sends frames and says messages."""

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def say(self, text: str, client_id: str | None = None) -> str:
        client_id = client_id or str(uuid.uuid4())
        await self.send({"type": "message", "text": text, "client_id": client_id})
        return client_id

    async def message(self, author: str, timeout: float = 15) -> dict[str, Any]:
        frame = await self.until(
            lambda f: f["type"] == "message" and f["message"]["author"] == author, timeout
        )
        return dict(frame["message"])


@contextlib.asynccontextmanager
async def widget_socket(
    app: LiveApp, token: str, after_seq: int | None = None
) -> AsyncIterator[WidgetClient]:
    url = f"{app.ws_url}/ws/widget?token={token}"
    if after_seq is not None:
        url += f"&after_seq={after_seq}"
    async with websockets.connect(url, open_timeout=10) as ws:
        yield WidgetClient(ws)


async def ingested(app: LiveApp, timeout: float = 20) -> None:
    """Wait until every update the app acknowledged is stored (the ingest stream is empty).

    A webhook is answered once its update is durably appended; the storing follows.
    """
    from bot.core.ingest import IngestStream

    stream = IngestStream(app.core.redis)

    async def empty() -> bool:
        return await stream.backlog() == 0

    await eventually(empty, timeout=timeout, interval=0.01)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 20, interval: float = 0.05
) -> None:
    """Wait until an async condition holds (for effects of background work).

    A check that fails an assertion has not held yet either (the document it reads may not
    exist yet); the last such failure is the error if time runs out. The default timeout is
    generous because CI machines stall now and then (a disk flush holding Valkey for
    seconds); a passing check returns at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await check():
                return
            failure: AssertionError = AssertionError("condition not met in time")
        except AssertionError as exc:
            failure = exc
        if time.monotonic() > deadline:
            raise failure
        await asyncio.sleep(interval)
