"""How responsive the app's event loop stays during a burst of wrong panel logins.

    uv run python benchmarks/login_event_loop.py [--logins 50] [--rounds 3]

The real app on a real port (embedded SecantusDB and Valkey in a temporary directory), one
operator account. A probe requests `/health` every 10 ms and records its latency while
`--logins` wrong logins arrive at once, each from its own address (`X-Forwarded-For`), so
every one of them reaches argon2. Three phases in the same run:

- idle: no logins (the baseline);
- off the loop: argon2 in its worker threads (the code as it is);
- on the loop: argon2 called inline (how it was), for comparison.

Printed: /health p50 / p99 / max per phase and the ratio of each to the idle baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core import operators
from bot.core.operators import create_operator
from bot.server.embedded import LocalServers
from config import Settings
from tests.support import live_app

EMAIL, PASSWORD = "bench@example.com", "bench-password-1"


async def probe(client: httpx.AsyncClient, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.get("/health")
        response.raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.01)


async def phase(client: httpx.AsyncClient, logins: int, *, idle_s: float = 1.5) -> list[float]:
    samples: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(probe(client, stop, samples))
    if logins:
        # A fresh client per burst: a kept-alive connection the server closed while idle
        # would fail the next burst's first request.
        burst = httpx.AsyncClient(base_url=client.base_url, timeout=120)
        attempts = [
            burst.post(
                "/api/auth/login",
                json={"email": EMAIL, "password": f"wrong-{i}"},
                headers={"X-Forwarded-For": f"198.18.{i // 250}.{i % 250 + 1}"},
            )
            for i in range(logins)
        ]
        async with burst:
            codes = [r.status_code for r in await asyncio.gather(*attempts)]
        assert set(codes) == {401}, codes
    else:
        await asyncio.sleep(idle_s)
    stop.set()
    await task
    return samples


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


async def main(logins: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        servers = LocalServers(Path(tmp) / "servers", mongo=True, redis=True)
        endpoints = await servers.start()
        try:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                app_env="test",
                data_dir=Path(tmp),
                mongodb_uri=endpoints.mongodb_uri,
                redis_url=endpoints.redis_url,
                mongodb_db=f"bench_{uuid.uuid4().hex[:8]}",
                log_level="WARNING",
            )
            async with (
                live_app(settings, run_worker=False) as app,
                httpx.AsyncClient(base_url=app.base_url, timeout=120) as client,
            ):
                await create_operator(email=EMAIL, password=PASSWORD)
                threaded = operators.verify_password

                async def inline(password_hash: str, password: str) -> bool:
                    return operators._matches(password_hash, password)

                results: dict[str, list[float]] = {
                    "idle": [],
                    "off the loop": [],
                    "on the loop": [],
                }
                for _ in range(rounds):
                    await app.core.redis.flushdb()
                    results["idle"] += await phase(client, 0)
                    operators.verify_password = threaded
                    results["off the loop"] += await phase(client, logins)
                    await app.core.redis.flushdb()
                    operators.verify_password = inline  # type: ignore[assignment]
                    results["on the loop"] += await phase(client, logins)
                    operators.verify_password = threaded
        finally:
            await servers.stop()
    base = summary(results["idle"])
    print(f"/health latency during {logins} parallel wrong logins, {rounds} rounds (ms)")
    print(f"{'phase':14} {'n':>5} {'p50':>8} {'p99':>8} {'max':>8}   p99 / idle p99")
    for name, samples in results.items():
        p50, p99, worst = summary(samples)
        print(
            f"{name:14} {len(samples):5} {p50:8.1f} {p99:8.1f} {worst:8.1f}   {p99 / base[1]:6.1f}×"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.logins, args.rounds))
