"""Knowledge answers per second with many customers at once, against the query embedders' own rate.

    uv run python benchmarks/knowledge_throughput.py [--customers 200] [--rounds 3]

`python -m bot serve` on its embedded defaults without a model (knowledge answers: the
guardrails, the hybrid search, the answer shaped from the best passages), the sample
knowledge base ingested first. Each round, every customer (a widget session of its own, its
socket already open) sends one question at the same moment; a customer's wait is the time
from its `message` frame to the AI's stored answer reaching its socket.

The baseline, measured in the same run and process family: the query embedders the search
runs for every question (e5 and USE, one question at a time, as the server's model thread
does), loaded in this process after the server has stopped. Target (issue 23, item 3):
answers/s ≥ 0.7× the embedders' queries/s, and the 200 customers' p95 wait ≤ 5 s. Repeated
rounds show whether each round is slower than the one before.

The customers all come from 127.0.0.1 here, so the widget's per-address session and message
limits are raised for the run (in production they would come from 200 addresses).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ttft_overhead import frames_until, free_port, is_ai_message, pct, process  # noqa: E402

KB = ROOT / "tests" / "rag" / "kb_sample"

# What customers of the sample shop ask; a customer number makes every text distinct, so no
# answer comes from a cache of an identical question.
QUESTIONS = (
    "How long does delivery take to {n} Main Street?",
    "Can I return a jacket I bought {n} days ago?",
    "Какие способы оплаты вы принимаете? Заказ {n}",
    "Do you ship internationally, to Canada for example? ({n})",
    "Как оформить рассрочку на телевизор за {n}0 рублей?",
    "My parcel {n} arrived damaged, what do I do?",
    "Where is the nearest pickup point? I live in district {n}",
    "Есть ли подарочная упаковка для заказа {n}?",
    "How do I reset my password? Account {n}",
    "Can I change the address of order {n} after paying?",
)


def serve_env(tmp: Path, port: int) -> dict[str, str]:
    return {
        "APP_ENV": "dev",
        "DATA_DIR": str(tmp / "data"),
        "PORT": str(port),
        "WIDGET_SESSION_RATE": "100000/minute",
        "WIDGET_MESSAGE_RATE": "100000/minute",
        "WIDGET_RESUME_RATE": "100000/minute",
        "LOG_LEVEL": "WARNING",
        "SENTRY_DSN": "",
    }


def env_without_model(env: dict[str, str]) -> dict[str, str]:
    """This shell's environment and `env`, with no model configured: knowledge answers only."""
    return {k: v for k, v in {**os.environ, **env}.items() if not k.startswith("OPENAI_")}


def question(n: int, round_no: int) -> str:
    return QUESTIONS[n % len(QUESTIONS)].format(n=n + 1000 * round_no)


@dataclass
class Round:
    waits: list[float]  # seconds, one per customer
    span: float  # first question sent → last answer seen, seconds

    @property
    def rate(self) -> float:
        return len(self.waits) / self.span


async def customer(ws: Any, text: str, start: asyncio.Event | None = None) -> float:
    """One question: the time from sending it (once `start` is set) to the AI's answer."""
    if start is not None:
        await start.wait()
    sent = time.perf_counter()
    await ws.send(json.dumps({"type": "message", "text": text, "client_id": str(uuid.uuid4())}))
    await frames_until(ws, is_ai_message)
    return time.perf_counter() - sent


async def measure_platform(customers: int, rounds: int, base_url: str | None = None) -> list[Round]:
    """The rounds against a fresh embedded `serve`, or against the platform at `base_url`."""
    if base_url is not None:
        return await run_rounds(base_url, customers, rounds)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = env_without_model(serve_env(Path(tmp), port))
        ingest = [sys.executable, "-m", "bot", "kb", "ingest", str(KB)]
        done = await asyncio.create_subprocess_exec(
            *ingest, env=env, cwd=ROOT, stdout=subprocess.DEVNULL
        )
        if await done.wait():
            raise RuntimeError("kb ingest failed")
        serve = [sys.executable, "-m", "bot", "serve"]
        async with process(serve, env, f"{base}/health", inherit=False):
            return await run_rounds(base, customers, rounds)


async def run_rounds(base: str, customers: int, rounds: int) -> list[Round]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        tokens = []
        for n in range(customers):
            response = await client.post("/api/widget/sessions", json={"name": f"C{n}"})
            response.raise_for_status()
            tokens.append(response.json()["token"])
    sockets = []
    try:
        for token in tokens:
            ws = await websockets.connect(f"{base.replace('http', 'ws')}/ws/widget?token={token}")
            await frames_until(ws, lambda f: f["type"] == "history")
            sockets.append(ws)
        # One warm-up question, answered before the rounds start.
        await customer(sockets[0], "Hello, what do you sell?")
        results = []
        for round_no in range(rounds):
            start = asyncio.Event()
            began = time.perf_counter()
            jobs = [
                asyncio.create_task(customer(ws, question(n, round_no), start))
                for n, ws in enumerate(sockets)
            ]
            start.set()
            waits = await asyncio.wait_for(asyncio.gather(*jobs), 600)
            results.append(Round(list(waits), time.perf_counter() - began))
        return results
    finally:
        for ws in sockets:
            await ws.close()


def embedder_rate(customers: int) -> float:
    """Queries/s of the search's two query embedders, one question at a time, in this process."""
    from rag.embeddings import E5Embeddings, USEEmbeddings

    e5, use = E5Embeddings(), USEEmbeddings()
    for text in ("warm up", "прогрев"):
        e5.embed_query_array(text)
        use.embed_query_array(text)
    texts = [question(n, 99) for n in range(customers)]
    began = time.perf_counter()
    for text in texts:
        e5.embed_query_array(text)
        use.embed_query_array(text)
    return len(texts) / (time.perf_counter() - began)


@dataclass
class Results:
    rounds: list[Round]
    embedder_qps: float
    customers: int


async def measure(customers: int, rounds: int, base_url: str | None = None) -> Results:
    platform = await measure_platform(customers, rounds, base_url)
    return Results(platform, embedder_rate(customers), customers)


def report(results: Results) -> None:
    print(f"{results.customers} customers, one question each per round, all at once")
    print(f"query embedders alone (e5 + USE, one at a time): {results.embedder_qps:.1f} queries/s")
    print(f"{'round':>5} {'answers/s':>10} {'ratio':>6} {'p50 s':>7} {'p95 s':>7} {'last s':>7}")
    for i, r in enumerate(results.rounds, 1):
        print(
            f"{i:5d} {r.rate:10.1f} {r.rate / results.embedder_qps:6.2f} "
            f"{statistics.median(r.waits):7.2f} {pct(r.waits, 0.95):7.2f} {max(r.waits):7.2f}"
        )
    print("target: answers/s >= 0.7x the embedders' queries/s; p95 wait <= 5 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--base-url",
        default=None,
        help="a platform already running (its knowledge base ingested, widget limits raised)",
    )
    args = parser.parse_args()
    report(asyncio.run(measure(args.customers, args.rounds, args.base_url)))


if __name__ == "__main__":
    main()
