"""Ingest: a webhook is answered once its update is durably appended; storing follows, once.

While storing is held up (a gate in front of the core, or the database stopped), webhooks and
widget messages are still acknowledged; what was acknowledged is stored once, in order per
chat, by whichever consumer gets to it, also after the process that answered was killed.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bot.core.documents import Message
from bot.core.ingest import IngestConsumer, IngestStream
from bot.core.processes import process_name
from bot.core.types import Author, InboundMessage, InboundResult
from bot.server.embedded import KINDS, LocalServers, find_server_processes
from channels.base import ChannelAdapter
from config import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.support import (
    LiveApp,
    eventually,
    free_port,
    ingested,
    live_app,
    new_session,
    widget_socket,
)
from tests.test_telegram import (
    HEADER,
    SECRET,
    TOKEN,
    FixedReplies,
    channel_of,
    message,
    telegram_settings,
    update,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


class Gate:
    """Holds every store at the core until opened (storage that is slow or down)."""

    def __init__(self, app: LiveApp, *, jitter_s: float = 0.0) -> None:
        self.open = asyncio.Event()
        self.jitter_s = jitter_s
        context = channel_of(app).context
        self._real = context.handle_inbound
        context.handle_inbound = self._held  # type: ignore[method-assign]

    async def _held(self, inbound: InboundMessage) -> InboundResult:
        await self.open.wait()
        if self.jitter_s:
            # Consumers race: without the order kept per chat, later messages would win.
            await asyncio.sleep(random.random() * self.jitter_s)
        return await self._real(inbound)


async def post_raw(app: LiveApp, payload: dict[str, object]) -> httpx.Response:
    """A webhook post that does not wait for the storing (the test's own gate holds it)."""
    async with httpx.AsyncClient(base_url=app.base_url, timeout=5) as client:
        return await client.post("/webhooks/telegram", json=payload, headers={HEADER: SECRET})


async def texts_of_chat(chat: int) -> list[str]:
    stored = await Message.find(
        Message.channel == "telegram",
        Message.author == Author.CUSTOMER,
        {"external_id": {"$regex": f"^{chat}:"}},
    ).to_list()
    return [m.text for m in sorted(stored, key=lambda m: m.seq)]


async def test_acknowledged_while_storing_is_held_then_stored_once_in_order(
    settings: Settings, fake: FakeTelegram
) -> None:
    async with live_app(telegram_settings(settings, fake), replier=FixedReplies()) as app:
        gate = Gate(app)
        first, second, third = (update(message=message(8101, n, f"part {n}")) for n in (1, 2, 3))
        # Nothing can be stored, yet every delivery is answered at once; the second one is
        # delivered three times (Telegram retrying after the append).
        for payload in (first, second, second, third, second):
            response = await post_raw(app, payload)
            assert response.status_code == 200, response.text
        assert await texts_of_chat(8101) == []
        assert await IngestStream(app.core.redis).backlog() == 3
        gate.open.set()
        await ingested(app)
        assert await texts_of_chat(8101) == ["part 1", "part 2", "part 3"]
        # A redelivery long after the message was stored is still stored once.
        assert (await post_raw(app, second)).status_code == 200
        await ingested(app)
        assert await texts_of_chat(8101) == ["part 1", "part 2", "part 3"]


async def test_order_per_chat_is_kept_with_consumers_racing(
    settings: Settings, fake: FakeTelegram
) -> None:
    async with live_app(telegram_settings(settings, fake), replier=FixedReplies()) as app:
        gate = Gate(app, jitter_s=0.03)
        channel: ChannelAdapter = channel_of(app)
        # Two more consumers of the same group, as further processes would be.
        others = [
            IngestConsumer(
                app.core.redis, {"telegram": channel.process_ingested}, name=process_name(f"t{i}")
            )
            for i in range(2)
        ]
        tasks = [asyncio.create_task(c.run()) for c in others]
        try:
            chats = [8201, 8202, 8203]
            for n in range(1, 9):
                for chat in chats:
                    payload = update(message=message(chat, n, f"{chat} says {n}"))
                    assert (await post_raw(app, payload)).status_code == 200
            gate.open.set()
            await ingested(app, timeout=60)
            for chat in chats:
                assert await texts_of_chat(chat) == [f"{chat} says {n}" for n in range(1, 9)]
        finally:
            for consumer in others:
                await consumer.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_widget_message_is_echoed_once_stored_and_a_resend_is_stored_once(
    settings: Settings, fake: FakeTelegram
) -> None:
    async with live_app(telegram_settings(settings, fake), replier=FixedReplies()) as app:
        gate = Gate(app)
        session = await new_session(app)
        async with widget_socket(app, session["token"]) as ws:
            await ws.until(lambda f: f["type"] == "history")
            client_id = await ws.say("is my parcel on its way?")
            await ws.say("is my parcel on its way?", client_id=client_id)  # a resend
            # The socket keeps serving while the message waits to be stored.
            await ws.send({"type": "ping"})
            await ws.until(lambda f: f["type"] == "pong")
            assert not [f for f in ws.frames if f["type"] == "message"]
            gate.open.set()
            echo = await ws.message("customer")
            assert echo["client_id"] == client_id
            await ingested(app)
        stored = Message.find(Message.channel == "web", Message.client_id == client_id)
        assert len(await stored.to_list()) == 1


async def test_without_redis_the_webhook_stores_before_it_answers(
    settings: Settings, fake: FakeTelegram
) -> None:
    async with live_app(telegram_settings(settings, fake), replier=FixedReplies()) as app:
        context = channel_of(app).context
        redis = app.core.redis
        # The ingest stream's Redis goes away (nothing listens there: every command refused).
        dead = Redis(host="127.0.0.1", port=free_port())
        app.core.redis = dead
        context._ingest = None  # type: ignore[attr-defined]
        try:
            response = await post_raw(app, update(message=message(8301, 1, "still there?")))
            assert response.status_code == 200
            # Stored before the answer: no waiting for a consumer.
            assert await texts_of_chat(8301) == ["still there?"]
        finally:
            app.core.redis = redis
            context._ingest = None  # type: ignore[attr-defined]
            await dead.aclose()


# --- a killed process ---------------------------------------------------------------------


def serve(data_dir: Path, port: int, fake: FakeTelegram) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB", "REDIS"))}
    env.update(
        DATA_DIR=str(data_dir),
        APP_ENV="dev",
        LOG_LEVEL="WARNING",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE=fake.base_url,
    )
    env.pop("PUBLIC_BASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def ready(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/health/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("serve did not become ready")


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    for kind in KINDS:
        for pid in find_server_processes(kind, tmp_path / "data"):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)


async def stored_texts(data_dir: Path) -> list[str]:
    servers = LocalServers(data_dir, mongo=True, redis=False)
    endpoints = await servers.start()  # attaches to the servers `serve` runs
    assert endpoints.mongodb_uri is not None
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(endpoints.mongodb_uri)
    try:
        found = client["switchboard"]["messages"].find(
            {"channel": "telegram", "author": "customer"}
        )
        return [str(m["text"]) async for m in found]
    finally:
        await client.close()
        await servers.stop()


@pytest.mark.timeout(300)
async def test_a_process_killed_right_after_the_200_loses_nothing(
    data_dir: Path, fake: FakeTelegram
) -> None:
    port = free_port()
    payload = update(message=message(8401, 1, "killed right after the answer"))
    first = serve(data_dir, port, fake)
    try:
        await ready(port)
        # The database stalls: nothing can be stored while the webhook is answered.
        (mongo,) = find_server_processes("mongo", data_dir)
        os.kill(mongo, signal.SIGSTOP)
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.post(
                    f"http://127.0.0.1:{port}/webhooks/telegram",
                    json=payload,
                    headers={HEADER: SECRET},
                )
            assert response.status_code == 200
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            os.kill(mongo, signal.SIGCONT)
    finally:
        if first.poll() is None:
            first.kill()

    second = serve(data_dir, port, fake)
    try:
        await ready(port)
        # Telegram delivers it once more (the 200 may not have reached it): still one message.
        async with httpx.AsyncClient(timeout=10) as client:
            again = await client.post(
                f"http://127.0.0.1:{port}/webhooks/telegram", json=payload, headers={HEADER: SECRET}
            )
        assert again.status_code == 200

        async def stored_once() -> bool:
            return await stored_texts(data_dir) == ["killed right after the answer"]

        await eventually(stored_once, timeout=60, interval=0.5)
        await asyncio.sleep(1)
        assert await stored_texts(data_dir) == ["killed right after the answer"]
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
