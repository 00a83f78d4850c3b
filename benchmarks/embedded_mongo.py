"""SecantusDB vs nx-27017 on Switchboard's own MongoDB access pattern. Run by hand:

    uv run python benchmarks/embedded_mongo.py [--docs 10000] [--nx-bin PATH]

nx-27017 is not a project dependency: install it into a throwaway venv
(`uv venv /tmp/nxenv && uv pip install --python /tmp/nxenv/bin/python nx-27017`) and pass
`--nx-bin /tmp/nxenv/bin/nx-27017` (or set NX27017_BIN; /tmp/nxenv is also tried). Each
server runs as a child process on a fresh data directory and is driven over TCP by PyMPongo's
`AsyncMongoClient`, one client, one operation at a time — as the bot does.

Workload (messages of 200 conversations):
- insert: `insert_one` of each message, indexes (conversation_id, seq desc) and unique
  (channel, external_id) in place;
- history: the 50 newest messages of one conversation (sort seq desc, limit 50);
- counter: `find_one_and_update` `$inc` + upsert (per-conversation sequence numbers);
- by key: `find_one` on the unique (channel, external_id) key (webhook dedup).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument

CONVERSATIONS = 200
MAX_SECONDS_PER_STEP = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def secantus_command(data: Path, port: int) -> list[str]:
    script = Path(sys.executable).parent / "secantusd-py"
    config = data / "secantusd.toml"
    config.write_text("")
    store = data / "store"
    return [
        *(str(script), "--host", "127.0.0.1", "--port", str(port)),
        *("--storage-path", str(store), "--log-level", "WARNING", "--config", str(config)),
    ]


def nx_binary(explicit: str | None) -> str | None:
    for candidate in (
        explicit,
        os.environ.get("NX27017_BIN"),
        shutil.which("nx-27017"),
        "/tmp/nxenv/bin/nx-27017",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def nx_command(binary: str) -> Callable[[Path, int], list[str]]:
    def command(data: Path, port: int) -> list[str]:
        return [
            *(binary, "--host", "127.0.0.1", "-p", str(port)),
            *("--data-dir", str(data / "store"), "--log-file", str(data / "nx.log")),
            *("--pid-file", str(data / "nx.pid")),
        ]

    return command


async def timed(
    name: str, count: int, op: Callable[[int], Awaitable[object]], *, capped: bool = True
) -> tuple[str, int, float]:
    start = time.perf_counter()
    done = 0
    for i in range(count):
        await op(i)
        done += 1
        if capped and time.perf_counter() - start > MAX_SECONDS_PER_STEP:
            break
    elapsed = time.perf_counter() - start
    rate = done / elapsed
    print(f"  {name:<10} {done:>6} ops in {elapsed:6.2f}s  {rate:8.1f} ops/s", flush=True)
    return name, done, rate


async def workload(uri: str, docs: int) -> dict[str, float]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=20_000, tz_aware=True
    )
    db = client["bench"]
    messages = db["messages"]
    counters = db["counters"]
    await messages.create_index([("conversation_id", ASCENDING), ("seq", DESCENDING)])
    await messages.create_index([("channel", ASCENDING), ("external_id", ASCENDING)], unique=True)
    now = datetime.now(UTC)

    async def insert(i: int) -> object:
        return await messages.insert_one(
            {
                "conversation_id": f"c{i % CONVERSATIONS}",
                "seq": i // CONVERSATIONS + 1,
                "channel": "widget",
                "external_id": f"m{i}",
                "author": "customer" if i % 2 else "ai",
                "text": f"message number {i} with a little text to look like a chat line",
                "status": "delivered",
                "created_at": now,
            }
        )

    async def history(i: int) -> object:
        cursor = messages.find({"conversation_id": f"c{i % CONVERSATIONS}"})
        page = await cursor.sort("seq", DESCENDING).limit(50).to_list()
        assert len(page) == min(50, docs // CONVERSATIONS)
        return page

    async def counter(i: int) -> object:
        return await counters.find_one_and_update(
            {"_id": f"c{i % CONVERSATIONS}"},
            {"$inc": {"seq": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )

    async def by_key(i: int) -> object:
        found = await messages.find_one({"channel": "widget", "external_id": f"m{(i * 7) % docs}"})
        assert found is not None
        return found

    rates = {}
    for name, count, op in (
        ("insert", docs, insert),
        ("history", 500, history),
        ("counter", 2000, counter),
        ("by key", 2000, by_key),
    ):
        # Every message must be in before the reads; the other steps stop after a while.
        _, _, rates[name] = await timed(name, count, op, capped=name != "insert")
    await client.close()
    return rates


async def wait_ready(uri: str, proc: subprocess.Popen[bytes]) -> float:
    start = time.perf_counter()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=30_000
    )
    try:
        while proc.poll() is None:
            try:
                await client.admin.command("ping")
                return time.perf_counter() - start
            except Exception:  # not up yet
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server exited with {proc.returncode}")
    finally:
        await client.close()


def stop(proc: subprocess.Popen[bytes], port: int) -> None:
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    with contextlib.suppress(OSError):  # wakes secantusd's accept thread (bot/server/embedded.py)
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def run(name: str, command: Callable[[Path, int], list[str]], docs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        data = Path(tmp)
        port = free_port()
        log = (data / "server.out").open("wb")
        # A plain Popen is fine here: it returns at once and nothing else runs meanwhile.
        proc = subprocess.Popen(  # noqa: ASYNC220
            command(data, port), stdout=log, stderr=subprocess.STDOUT
        )
        uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        try:
            startup = await wait_ready(uri, proc)
            print(f"{name}: up in {startup:.2f}s", flush=True)
            rates = await workload(uri, docs)
            rates["startup s"] = startup
            return rates
        finally:
            stop(proc, port)
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--nx-bin", default=None, help="path to the nx-27017 command")
    args = parser.parse_args()

    results = {"SecantusDB": asyncio.run(run("secantus", secantus_command, args.docs))}
    binary = nx_binary(args.nx_bin)
    if binary is None:
        print("nx-27017 not found: install it in a throwaway venv and pass --nx-bin")
    else:
        results["nx-27017"] = asyncio.run(run("nx-27017", nx_command(binary), args.docs))

    print(f"\n{args.docs} messages, {CONVERSATIONS} conversations; ops/s, one client")
    names = list(results)
    print(f"{'step':<10}" + "".join(f"{n:>14}" for n in names) + "   ratio S/nx")
    for step in ("insert", "history", "counter", "by key", "startup s"):
        row = "".join(f"{results[n][step]:>14.1f}" for n in names)
        ratio = ""
        if len(names) == 2:
            ratio = f"   {results[names[0]][step] / results[names[1]][step]:8.2f}x"
        print(f"{step:<10}{row}{ratio}")


if __name__ == "__main__":
    main()
