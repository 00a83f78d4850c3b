"""Memory of an open widget socket in `serve`, against a bare FastAPI WebSocket, same run.

    uv run python benchmarks/socket_memory.py [--sockets 1000]

`python -m bot serve` on its embedded defaults: N widget sessions are created, then 2 × N
widget sockets opened (each gets its `history` frame) and held; the API process's resident
memory (VmRSS of that process, not of the database and Valkey children) grows by the second
N sockets' cost (the first N fill the heap's free space). The baseline is a bare FastAPI
app with one WebSocket endpoint that accepts and waits, on the same uvicorn, with the same
client. Target (issue 23): ≤ 1.5× bare per socket.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ttft_overhead import free_port  # noqa: E402

BARE = """
import sys, uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
app = FastAPI()
@app.get("/health")
async def health(): return {"status": "ok"}
@app.websocket("/ws")
async def ws(socket: WebSocket):
    await socket.accept()
    await socket.send_text('{"type": "history", "messages": []}')
    try:
        while True:
            await socket.receive_text()
    except WebSocketDisconnect:
        pass
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


@contextlib.asynccontextmanager
async def server(args: list[str], env: dict[str, str], ready: str) -> AsyncIterator[int]:
    """A server process until `ready` answers; yields its PID."""
    with tempfile.TemporaryFile() as log:
        proc = await asyncio.create_subprocess_exec(
            *args, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=log
        )
        try:
            async with httpx.AsyncClient() as client:
                for _ in range(900):
                    if proc.returncode is not None:
                        log.seek(0)
                        raise RuntimeError(f"{args} exited: {log.read().decode()[-2000:]}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(ready)).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
            yield proc.pid
        finally:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()


async def open_sockets(urls: list[str]) -> list[Any]:
    """Open every socket and wait for its first (history) frame, 50 at a time."""
    sockets: list[Any] = []
    for start in range(0, len(urls), 50):
        batch = await asyncio.gather(*(websockets.connect(u) for u in urls[start : start + 50]))
        for ws in batch:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            assert frame["type"] == "history", frame
        sockets.extend(batch)
    return sockets


async def held_memory(pid: int, urls: list[str]) -> float:
    """KB of resident memory per open socket, at the margin.

    A first round of sockets fills what the process's heap had free (a long-running
    `serve` has more of it than a fresh bare app); the second round's growth is the cost
    of a socket."""
    first = await open_sockets(urls)
    await asyncio.sleep(1)
    before = rss_kb(pid)
    second = await open_sockets(urls)
    await asyncio.sleep(2)
    after = rss_kb(pid)
    for ws in first + second:
        await ws.close()
    return (after - before) / len(urls)


@dataclass
class Result:
    sockets: int
    ours_kb: float
    bare_kb: float


async def measure(n: int) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "APP_ENV": "dev",
            "DATA_DIR": str(Path(tmp) / "data"),
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "SENTRY_DSN": "",
            "WIDGET_SESSION_RATE": "1000000/minute",
            "WIDGET_RESUME_RATE": "1000000/minute",
            "WIDGET_MESSAGE_RATE": "1000000/minute",
        }
        async with server([sys.executable, "-m", "bot", "serve"], env, f"{base}/health") as pid:
            tokens: list[str] = []
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                for i in range(n):
                    response = await client.post("/api/widget/sessions", json={"name": f"M {i}"})
                    response.raise_for_status()
                    tokens.append(response.json()["token"])
            ws_base = base.replace("http", "ws")
            ours = await held_memory(pid, [f"{ws_base}/ws/widget?token={t}" for t in tokens])
    port = free_port()
    args = [sys.executable, "-c", BARE, str(port)]
    async with server(args, {}, f"http://127.0.0.1:{port}/health") as pid:
        bare = await held_memory(pid, [f"ws://127.0.0.1:{port}/ws"] * n)
    return Result(n, ours, bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    args = parser.parse_args()
    result = asyncio.run(measure(args.sockets))
    print(f"sockets: {result.sockets}")
    print(f"serve (widget socket):  {result.ours_kb:7.1f} KB per socket")
    print(f"bare FastAPI socket:    {result.bare_kb:7.1f} KB per socket")
    ratio = result.ours_kb / result.bare_kb if result.bare_kb > 0 else float("nan")
    print(f"ratio: {ratio:.2f} (target <= 1.5: {'met' if ratio <= 1.5 else 'missed'})")


if __name__ == "__main__":
    main()
