"""Time the platform adds to the model's time to first token, as a widget user sees it.

    uv run python benchmarks/ttft_overhead.py [--runs 200] [--first-token-ms 50] [--before-ref main]

Three processes, as in a deployment: `python -m bot serve` on its embedded defaults (SecantusDB,
Valkey, the reply worker in process, the real agent: create_agent over langchain-openai),
the scripted fake OpenAI server of tests/fakes, and this client speaking the widget protocol.
Linux's `perf_counter` is one monotonic clock for all of them. For each message:

    widget TTFT   = first `token` frame at the widget − message sent by the widget
    model TTFT    = first token sent by the fake − request received by the fake
    added         = widget TTFT − model TTFT
                  = before (message sent → model request) + relay (first token → widget)

Measured in the same run, as baselines:

- the model's own TTFT (the fake's timing);
- a bare FastAPI app: one WebSocket endpoint that hands the text straight to langchain-openai's
  `ChatOpenAI.astream` and forwards its tokens: no storage, no queue, no agent. Its added time is
  the floor that the web stack and the model client cost before any platform work.

- with `--before-ref REF`: the same platform as committed at REF (exported with `git
  archive`, run from that copy with this venv), at REF's own default settings.

Every server runs at its default settings (before issue 23 that meant a 400 ms burst
debounce). Target (issue 23): the widget's first visible token no more than 15 ms (p50) /
30 ms (p99) after the bare app's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ANSWER = "Sure, here is the answer you asked for."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the fake model, in its own process ---------------------------------------------------


def _fake_main(conn: Connection, first_token_s: float) -> None:
    from tests.fakes.openai_server import FakeOpenAI, TextReply

    with FakeOpenAI() as fake:
        fake.default = lambda body: TextReply(ANSWER, first_token_delay=first_token_s)
        conn.send(fake.base_url)
        while conn.recv() == "calls":
            conn.send([(c.received_at, c.first_token_at) for c in fake.calls])
            fake.calls.clear()


@dataclass
class FakeModel:
    base_url: str
    conn: Connection

    def calls(self) -> list[tuple[float, float | None]]:
        """(request received, first token sent) of every call since the last time."""
        self.conn.send("calls")
        calls: list[tuple[float, float | None]] = self.conn.recv()
        return calls


@contextlib.contextmanager
def fake_model(first_token_s: float) -> Iterator[FakeModel]:
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_fake_main, args=(theirs, first_token_s), daemon=True
    )
    process.start()
    try:
        yield FakeModel(base_url=ours.recv(), conn=ours)
    finally:
        ours.send("stop")
        process.join(5)
        process.kill()


# --- the servers under test ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def process(
    args: list[str],
    env: dict[str, str],
    ready_url: str,
    cwd: Path | None = None,
    inherit: bool = True,
) -> AsyncIterator[None]:
    """Run a server process until its `ready_url` answers 200; stop it afterwards.

    `env` adds to this process's environment, or with `inherit=False` is the whole of it.
    """
    with tempfile.TemporaryFile() as errors:
        proc = await asyncio.create_subprocess_exec(
            *args,
            env={**os.environ, **env} if inherit else env,
            cwd=cwd or ROOT,
            stdout=errors,
            stderr=errors,
        )
        try:
            async with httpx.AsyncClient() as client:
                for _ in range(600):
                    if proc.returncode is not None:
                        errors.seek(0)
                        raise RuntimeError(f"{args} exited: {errors.read().decode()[-2000:]}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(ready_url)).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                else:
                    raise RuntimeError(f"{args} did not become ready")
            yield
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()


def serve_env(tmp: Path, port: int, fake: FakeModel) -> dict[str, str]:
    return {
        "APP_ENV": "dev",
        "DATA_DIR": str(tmp / "data"),
        "PORT": str(port),
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "bench",
        "WIDGET_MESSAGE_RATE": "100000/minute",
        "LOG_LEVEL": "WARNING",
        "SENTRY_DSN": "",
    }


# --- the widget client ---------------------------------------------------------------------


async def frames_until(ws: Any, accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if accept(frame):
            return frame


def is_ai_message(frame: dict[str, Any]) -> bool:
    return bool(frame["type"] == "message" and frame["message"]["author"] == "ai")


@dataclass
class Sample:
    sent: float
    seen: float


async def platform_samples(base: str, runs: int, think_s: float) -> list[Sample]:
    """Widget messages to the running platform, a fresh chat every 20 messages.

    A customer reads an answer before writing again (`think_s`): the platform finishes
    delivering one answer before the next question arrives, as it does in a real chat.
    """
    samples: list[Sample] = []
    token = ""
    async with httpx.AsyncClient(base_url=base) as client:
        for n in range(runs):
            if n % 20 == 0:
                response = await client.post("/api/widget/sessions", json={"name": f"Bench {n}"})
                response.raise_for_status()
                token = response.json()["token"]
            url = base.replace("http", "ws") + f"/ws/widget?token={token}"
            async with websockets.connect(url) as ws:
                await frames_until(ws, lambda f: f["type"] == "history")
                frame = {"type": "message", "text": f"question {n}", "client_id": str(uuid.uuid4())}
                sent = time.perf_counter()
                await ws.send(json.dumps(frame))
                await frames_until(ws, lambda f: f["type"] == "token")
                seen = time.perf_counter()
                await frames_until(ws, is_ai_message)
            samples.append(Sample(sent, seen))
            await asyncio.sleep(think_s)
    return samples


async def bare_samples(base: str, runs: int, think_s: float) -> list[Sample]:
    samples: list[Sample] = []
    url = base.replace("http", "ws") + "/ws"
    for n in range(runs):
        async with websockets.connect(url) as ws:
            sent = time.perf_counter()
            await ws.send(json.dumps({"text": f"question {n}"}))
            await frames_until(ws, lambda f: f["type"] == "token")
            seen = time.perf_counter()
            await frames_until(ws, lambda f: f["type"] == "done")
        samples.append(Sample(sent, seen))
        await asyncio.sleep(think_s)
    return samples


# --- numbers --------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Timing:
    added: list[float]
    before: list[float]
    relay: list[float]
    model: list[float]


def timing(samples: list[Sample], calls: list[tuple[float, float | None]], warmup: int) -> Timing:
    if len(calls) != len(samples):
        raise RuntimeError(f"{len(samples)} messages but {len(calls)} model calls")
    out = Timing([], [], [], [])
    for sample, (received, first) in list(zip(samples, calls, strict=True))[warmup:]:
        assert first is not None
        model = first - received
        out.model.append(model * 1000)
        out.before.append((received - sample.sent) * 1000)
        out.relay.append((sample.seen - first) * 1000)
        out.added.append(((sample.seen - sample.sent) - model) * 1000)
    return out


def widget_ttft(timing: Timing) -> list[float]:
    """What the customer sees: message sent → first visible token (model TTFT included)."""
    return [a + m for a, m in zip(timing.added, timing.model, strict=True)]


def report(platform: Timing, bare: Timing, first_token_ms: float) -> None:
    print(f"runs: {len(platform.added)}; fake model first-token delay: {first_token_ms:.0f} ms")
    base = statistics.median(platform.model)
    print(f"{'':38} {'p50 ms':>9} {'p99 ms':>9} {'p99 / model p50':>16}")
    rows = (
        ("model TTFT (baseline)", platform.model),
        ("added by the platform", platform.added),
        ("  before the model call", platform.before),
        ("  token relay to the widget", platform.relay),
        ("added by a bare FastAPI app (floor)", bare.added),
        ("  before the model call", bare.before),
        ("  token relay", bare.relay),
    )
    for name, values in rows:
        print(
            f"{name:38} {pct(values, 0.5):9.2f} {pct(values, 0.99):9.2f} "
            f"{pct(values, 0.99) / base:16.3f}"
        )
    for q, limit in ((0.5, 15), (0.99, 30)):
        over = pct(widget_ttft(platform), q) - pct(widget_ttft(bare), q)
        verdict = "met" if over <= limit else "missed"
        print(
            f"first visible token p{q * 100:.0f} over the bare app: {over:.1f} ms "
            f"(target <= {limit} ms: {verdict})"
        )


@dataclass
class Results:
    """One run: the platform now, the bare app, and optionally the platform at another ref."""

    platform: Timing
    bare: Timing
    before: Timing | None
    cold_ms: float  # the first message after start-up, sent → first token (not in `platform`)
    first_token_ms: float


@contextlib.contextmanager
def exported(ref: str) -> Iterator[Path]:
    """The tree of a git ref in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as tmp:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


async def measure_platform(
    fake: FakeModel, runs: int, think_s: float, warmup: int, tree: Path = ROOT
) -> tuple[Timing, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = [sys.executable, "-m", "bot", "serve"]
        env = serve_env(Path(tmp), port, fake)
        async with process(serve, env, f"{base}/health", cwd=tree):
            fake.calls()
            samples = await platform_samples(base, runs + warmup, think_s)
            calls = fake.calls()
            cold = (samples[0].seen - samples[0].sent) * 1000
            return timing(samples, calls, warmup), cold


async def measure(
    runs: int, first_token_ms: float, think_ms: float, before_ref: str | None = None
) -> Results:
    """Run every server against one fake model, one after another."""
    warmup = 10
    think_s = think_ms / 1000
    with fake_model(first_token_ms / 1000) as fake:
        platform, cold = await measure_platform(fake, runs, think_s, warmup)
        before = None
        if before_ref:
            with exported(before_ref) as tree:
                before, _ = await measure_platform(fake, runs, think_s, warmup, tree)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        bare = [sys.executable, str(ROOT / "benchmarks" / "bare_app.py"), str(port), fake.base_url]
        async with process(bare, {}, f"{base}/health"):
            fake.calls()
            samples = await bare_samples(base, runs + warmup, think_s)
            floor = timing(samples, fake.calls(), warmup)
    return Results(platform, floor, before, cold, first_token_ms)


async def run(runs: int, first_token_ms: float, think_ms: float, before_ref: str | None) -> None:
    results = await measure(runs, first_token_ms, think_ms, before_ref)
    report(results.platform, results.bare, first_token_ms)
    print(f"first message after start-up (cold), sent → first token: {results.cold_ms:.1f} ms")
    if results.before is not None:
        print(f"\n--- the platform at {before_ref}, its default settings ---")
        report(results.before, results.bare, first_token_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--first-token-ms", type=float, default=50.0)
    parser.add_argument("--think-ms", type=float, default=200.0, help="pause between messages")
    parser.add_argument("--before-ref", default=None, help="also measure this git ref (main)")
    args = parser.parse_args()
    asyncio.run(run(args.runs, args.first_token_ms, args.think_ms, args.before_ref))


if __name__ == "__main__":
    main()
