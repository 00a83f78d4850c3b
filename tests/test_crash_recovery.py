"""`serve` killed in the middle of an answer: after a restart the customer gets it, once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from bot.server.embedded import KINDS, find_server_processes
from tests.fakes.openai_server import FakeOpenAI, TextReply
from tests.support import free_port

REPO = Path(__file__).resolve().parent.parent


def serve(data_dir: Path, port: int, fake: FakeOpenAI) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB", "REDIS"))}
    env.update(
        DATA_DIR=str(data_dir),
        APP_ENV="dev",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="test",
        LOG_LEVEL="WARNING",
        REPLY_DEBOUNCE_MS="0",
    )
    env.pop("PUBLIC_BASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def ready(port: int, timeout: float = 60) -> None:
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
            os.kill(pid, signal.SIGKILL)


async def test_an_answer_cut_off_by_a_crash_arrives_once_after_restart(
    data_dir: Path,
) -> None:
    with FakeOpenAI() as fake:
        # The first answer is slow enough to be killed in the middle; the retry is quick.
        fake.script(TextReply("Too late.", first_token_delay=30), TextReply("Here you are."))
        port = free_port()
        first = serve(data_dir, port, fake)
        try:
            await ready(port)
            async with httpx.AsyncClient() as client:
                session = (
                    await client.post(f"http://127.0.0.1:{port}/api/widget/sessions", json={})
                ).json()
            url = f"ws://127.0.0.1:{port}/ws/widget?token={session['token']}"
            async with websockets.connect(url) as ws:
                await ws.recv()  # history
                client_id = str(uuid.uuid4())
                await ws.send(json.dumps({"type": "message", "text": "hi", "client_id": client_id}))
                echo = json.loads(await ws.recv())
                assert echo["message"]["client_id"] == client_id  # stored: it must be answered
            deadline = time.monotonic() + 20
            while not fake.calls and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert fake.calls, "the model was never asked"
        finally:
            first.send_signal(signal.SIGKILL)  # mid-answer: the model has not said a word
            first.wait(timeout=10)

        second = serve(data_dir, port, fake)
        try:
            await ready(port)
            async with websockets.connect(url) as ws:
                history = json.loads(await ws.recv())
                answers = [m for m in history["messages"] if m["author"] == "ai"]
                deadline = time.monotonic() + 40
                while not answers and time.monotonic() < deadline:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 45))
                    if frame["type"] == "message" and frame["message"]["author"] == "ai":
                        answers.append(frame["message"])
                assert [a["text"] for a in answers] == ["Here you are."]
                # Nothing else follows: one answer, not two.
                later: list[dict[str, object]] = []
                with contextlib.suppress(TimeoutError):
                    while True:
                        later.append(json.loads(await asyncio.wait_for(ws.recv(), 3)))
                assert not [f for f in later if f["type"] == "message"]
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
