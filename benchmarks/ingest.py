"""Telegram webhook ingest against a bare FastAPI endpoint on the same uvicorn, same run.

    uv run python benchmarks/ingest.py [--seconds 8] [--rate 500] [--sync] [--with-worker]
                                       [--no-consumer]

Two servers, each in its own process, started by this script:

- ours: `python -m bot serve` on the embedded default (SecantusDB, Valkey with AOF), with a
  Telegram bot in webhook mode; `--no-worker` unless `--with-worker` (the reply worker would
  answer every message; the ingest consumer runs either way). `--sync` sets
  INGEST_STREAM=false: every update is stored before the webhook answers (the old path);
  `--no-consumer` sets INGEST_CONSUMER=false: serve only appends (storing would be a
  worker's, elsewhere), which shows what the webhook itself costs.
- bare: a FastAPI app with one `POST /webhooks/telegram` that reads the body and answers
  `{"ok": true}`, under `uvicorn.run` with the same options `serve` uses.

Per server, distinct updates from 500 private chats:

1. latency: an open-loop load of `--rate` updates/s for `--seconds` over 32 keep-alive
   connections from this process; each latency counts from the update's scheduled time, so
   a server that falls behind is charged for the queue too. For ours, the script then waits
   until every acknowledged update is stored (the `/metrics` counters) and reports how fast
   the consumer stored them.
2. sustained: `wrk -t1 -c32` for `--seconds` (Debian's `apt-get install -y wrk`), the
   most updates/s each server answers with 200.

Targets (issue 23): ours ≥ 0.5× the bare endpoint's sustained rate; p99 ≤ 10 ms at 500/s.
`run()` returns the rows (name, ours, baseline, ratio, target) for the benchmark runner.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "424242:AAF-bench-token_for-switchboard"
SECRET = "bench-webhook-secret-0123456789"
CHATS = 500
CONNECTIONS = 32
PATH = "/webhooks/telegram"

WRK_SCRIPT = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  base = tonumber(args[1]) + tid * 10000000
  counter = 0
end
function request()
  counter = counter + 1
  local n = base + counter
  local chat = 700000000 + (n % %CHATS%)
  local body = string.format('{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,' ..
    '"is_bot":false,"first_name":"Load"},"chat":{"id":%d,"type":"private",' ..
    '"first_name":"Load"},"date":%d,"text":"load test %d"}}', n, n, chat, chat, os.time(), n)
  return wrk.format("POST", "%PATH%", {["Content-Type"] = "application/json",
    ["X-Telegram-Bot-Api-Secret-Token"] = "%SECRET%"}, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.duration))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def update_body(n: int) -> bytes:
    chat = 700_000_000 + n % CHATS
    who = {"id": chat, "is_bot": False, "first_name": "Load"}
    message = {
        "message_id": n,
        "from": who,
        "chat": {"id": chat, "type": "private", "first_name": "Load"},
        "date": int(time.time()),
        "text": f"load test {n}",
    }
    return json.dumps({"update_id": n, "message": message}).encode()


# --- the servers ----------------------------------------------------------------------------


def bare_main(port: int) -> None:
    """The bare endpoint, run with the options `python -m bot serve` gives uvicorn."""
    import uvicorn

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(PATH)
    async def webhook(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"ok": True})

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        proxy_headers=True,
        ws_max_size=256 * 1024,
        timeout_graceful_shutdown=10,
    )


@contextlib.asynccontextmanager
async def server(args: list[str], env: dict[str, str], ready_url: str) -> AsyncIterator[None]:
    """A server process, once `ready_url` answers 200; stopped afterwards."""
    with tempfile.TemporaryFile() as errors:
        proc = await asyncio.create_subprocess_exec(
            *args, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors
        )
        try:
            async with httpx.AsyncClient() as client:
                for _ in range(1200):
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
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()


def serve_env(data_dir: Path, port: int, *, sync: bool, consumer: bool = True) -> dict[str, str]:
    return {
        "INGEST_CONSUMER": "true" if consumer else "false",
        "APP_ENV": "dev",
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        # Nothing listens there: setWebhook fails (logged), no answer leaves.
        "TELEGRAM_API_BASE": "http://127.0.0.1:9",
        "INGEST_STREAM": "false" if sync else "true",
        "LOG_LEVEL": "WARNING",
        "SENTRY_DSN": "",
    }


# --- load -----------------------------------------------------------------------------------


@dataclass
class Latency:
    sent: int
    ok: int
    p50_ms: float
    p99_ms: float
    achieved: float


async def _connection(port: int, queue: asyncio.Queue[Any], out: list[tuple[float, int]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (item := await queue.get()) is not None:
            scheduled, body = item
            head = (
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            response = await reader.readuntil(b"\r\n\r\n")
            status = int(response.split(b" ", 2)[1])
            found = re.search(rb"(?i)content-length:\s*(\d+)", response)
            await reader.readexactly(int(found.group(1)) if found else 0)
            out.append((time.perf_counter() - scheduled, status))
    finally:
        writer.close()


async def open_loop(port: int, rate: float, seconds: float, first_id: int) -> Latency:
    """`rate` updates/s on a schedule; latency from each one's scheduled time."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    out: list[tuple[float, int]] = []
    workers = [asyncio.create_task(_connection(port, queue, out)) for _ in range(CONNECTIONS)]
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, update_body(first_id + i)))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    times = sorted(t for t, _ in out)
    ok = sum(1 for _, status in out if status == 200)

    def pct(q: float) -> float:
        return times[min(len(times) - 1, int(q * len(times)))] * 1000 if times else float("nan")

    return Latency(sent=total, ok=ok, p50_ms=pct(0.50), p99_ms=pct(0.99), achieved=ok / elapsed)


def sustained(port: int, seconds: float, first_id: int) -> tuple[float, int]:
    """wrk's answered requests/s (200s only) and the count of errors and non-2xx."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    script = WRK_SCRIPT.replace("%CHATS%", str(CHATS)).replace("%PATH%", PATH)
    script = script.replace("%SECRET%", SECRET)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        result = subprocess.run(
            [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{int(seconds)}s", "--timeout", "10s",
             "-s", lua.name, f"http://127.0.0.1:{port}", "--", str(first_id)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        os.unlink(lua.name)
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
    requests, errors, micros = (int(v) for v in line.split()[1:])
    return (requests - errors) / (micros / 1e6), errors


async def stored_count(client: httpx.AsyncClient) -> tuple[int, int]:
    """(customer messages stored, updates acknowledged by the stream) from /metrics."""
    text = (await client.get("/metrics")).text
    stored = appended = 0
    for line in text.splitlines():
        if line.startswith("switchboard_inbound_messages_total{") and 'outcome="stored"' in line:
            stored += int(float(line.rsplit(" ", 1)[1]))
        if line.startswith("switchboard_ingest_total{") and 'outcome="appended"' in line:
            appended += int(float(line.rsplit(" ", 1)[1]))
    return stored, appended


async def wait_stored(base: str, expected: int, limit_s: float = 600) -> tuple[int, float]:
    """Wait until `expected` messages are stored; (stored, seconds waited)."""
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while True:
            stored, _ = await stored_count(client)
            waited = time.perf_counter() - started
            if stored >= expected or waited > limit_s:
                return stored, waited
            await asyncio.sleep(0.25)


# --- the run --------------------------------------------------------------------------------


@dataclass
class Figures:
    latency: Latency
    rate: float
    errors: int
    stored: int | None = None
    drain_s: float | None = None
    store_rate: float | None = None


async def measure_ours(
    seconds: float,
    rate: float,
    *,
    sync: bool,
    with_worker: bool,
    first_id: int,
    consumer: bool = True,
) -> Figures:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="switchboard-ingest-") as tmp:
        args = [sys.executable, "-m", "bot", "serve", "--port", str(port)]
        args.append("--worker" if with_worker else "--no-worker")
        base = f"http://127.0.0.1:{port}"
        env = serve_env(Path(tmp) / "data", port, sync=sync, consumer=consumer)
        async with server(args, env, f"{base}/health/ready"):
            # Warm up: the first requests open pools and load lazily imported parts.
            await open_loop(port, 100, 1, first_id)
            if not consumer:  # nothing stores in this process: the webhook's own cost
                latency = await open_loop(port, rate, seconds, first_id + 1000)
                wrk_rate, errors = sustained(port, seconds, first_id + 10_000_000)
                return Figures(latency, wrk_rate, errors)
            await wait_stored(base, 100, limit_s=60)
            started = time.perf_counter()
            latency = await open_loop(port, rate, seconds, first_id + 1000)
            stored, waited = await wait_stored(base, 100 + latency.ok)
            loaded = time.perf_counter() - started
            stored -= 100
            # Stored during the load and the drain after it.
            store_rate = stored / loaded if loaded else None
            wrk_rate, errors = sustained(port, seconds, first_id + 10_000_000)
        return Figures(latency, wrk_rate, errors, stored, waited, store_rate)


async def measure_bare(seconds: float, rate: float, first_id: int) -> Figures:
    port = free_port()
    args = [sys.executable, __file__, "--bare", str(port)]
    async with server(args, {}, f"http://127.0.0.1:{port}/health"):
        await open_loop(port, 100, 1, first_id)
        latency = await open_loop(port, rate, seconds, first_id + 1000)
        wrk_rate, errors = sustained(port, seconds, first_id + 10_000_000)
    return Figures(latency, wrk_rate, errors)


def _rows(ours: Figures, bare: Figures, rate: float) -> list[dict[str, Any]]:
    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if b else None

    rows: list[dict[str, Any]] = [
        {
            "name": "ingest: sustained Telegram updates/s (wrk, 32 connections)",
            "ours": round(ours.rate, 1),
            "baseline": round(bare.rate, 1),
            "ratio": ratio(ours.rate, bare.rate),
            "target": "ratio >= 0.5",
        },
        {
            "name": f"ingest: p99 ms at {rate:.0f} updates/s",
            "ours": round(ours.latency.p99_ms, 2),
            "baseline": round(bare.latency.p99_ms, 2),
            "ratio": ratio(ours.latency.p99_ms, bare.latency.p99_ms),
            "target": "ours <= 10 ms",
        },
        {
            "name": f"ingest: p50 ms at {rate:.0f} updates/s",
            "ours": round(ours.latency.p50_ms, 2),
            "baseline": round(bare.latency.p50_ms, 2),
            "ratio": ratio(ours.latency.p50_ms, bare.latency.p50_ms),
            "target": "",
        },
    ]
    if ours.store_rate is not None:
        rows.append(
            {
                "name": "ingest: stored behind the webhook, messages/s (load + drain)",
                "ours": round(ours.store_rate, 1),
                "baseline": None,
                "ratio": None,
                "target": f"all stored: {ours.stored} of {ours.latency.ok} acknowledged",
            }
        )
    return rows


async def measure(
    seconds: float = 8,
    rate: float = 500,
    *,
    sync: bool = False,
    with_worker: bool = False,
    consumer: bool = True,
) -> tuple[Figures, Figures]:
    first_id = int(time.time()) % 1000 * 100_000_000
    bare = await measure_bare(seconds, rate, first_id)
    ours = await measure_ours(
        seconds,
        rate,
        sync=sync,
        with_worker=with_worker,
        first_id=first_id + 50_000_000,
        consumer=consumer,
    )
    return ours, bare


def run(
    seconds: float = 8, rate: float = 500, *, sync: bool = False, with_worker: bool = False
) -> list[dict[str, Any]]:
    """The benchmark's rows: name, ours, baseline, ratio, target."""
    ours, bare = asyncio.run(measure(seconds, rate, sync=sync, with_worker=with_worker))
    return _rows(ours, bare, rate)


async def table_rows(quick: bool) -> list[dict[str, Any]]:
    """Rows for `python -m benchmarks` (keys of its `Row`): sustained rate and p99 at 500/s."""
    ours, bare = await measure(3 if quick else 8, 500)
    return [
        {
            "name": "ingest: sustained Telegram updates/s (wrk, 32 connections)",
            "ours": round(ours.rate, 1),
            "baseline": round(bare.rate, 1),
            "unit": "updates/s",
            "target": "≥ 0.5× bare",
            "met": bool(bare.rate) and ours.rate / bare.rate >= 0.5,
        },
        {
            "name": "ingest: p99 at 500 updates/s",
            "ours": round(ours.latency.p99_ms, 2),
            "baseline": round(bare.latency.p99_ms, 2),
            "unit": "ms",
            "target": "≤ 10 ms",
            "met": ours.latency.p99_ms <= 10,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--sync", action="store_true", help="INGEST_STREAM=false (old path)")
    parser.add_argument("--with-worker", action="store_true", help="the reply worker in serve")
    parser.add_argument(
        "--no-consumer",
        action="store_true",
        help="INGEST_CONSUMER=false: serve only appends (a worker process would store)",
    )
    parser.add_argument("--bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        bare_main(args.bare)
        return
    ours, bare = asyncio.run(
        measure(
            args.seconds,
            args.rate,
            sync=args.sync,
            with_worker=args.with_worker,
            consumer=not args.no_consumer,
        )
    )
    for who, figures in (("ours", ours), ("bare", bare)):
        lat = figures.latency
        print(
            f"{who}: open loop {lat.sent} sent, {lat.ok} ok, {lat.achieved:.0f}/s, "
            f"p50 {lat.p50_ms:.2f} ms, p99 {lat.p99_ms:.2f} ms; wrk {figures.rate:.0f}/s "
            f"({figures.errors} errors)"
        )
    if ours.stored is not None:
        print(f"ours: {ours.stored} stored, drained {ours.drain_s:.1f} s after the load")
    print(f"\n{'benchmark':64} {'ours':>10} {'bare':>10} {'ratio':>7}  target")
    for row in _rows(ours, bare, args.rate):
        baseline = "" if row["baseline"] is None else row["baseline"]
        ratio = "" if row["ratio"] is None else row["ratio"]
        print(f"{row['name']:64} {row['ours']:>10} {baseline:>10} {ratio:>7}  {row['target']}")


if __name__ == "__main__":
    main()
