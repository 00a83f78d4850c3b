"""The embedded-default supervisor, against real SecantusDB and Valkey child processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from bot.server.embedded import (
    EmbeddedServerError,
    LocalServers,
    find_server_processes,
    log_path,
    ping,
    process_start_time,
    read_state,
    resolve_endpoints,
)
from config.settings import Settings

REPO = Path(__file__).resolve().parent.parent


async def _mongo_roundtrip(uri: str, doc: dict[str, object] | None = None) -> list[object]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=5000
    )
    try:
        assert (await client.admin.command("ping"))["ok"] == 1
        coll = client["t"]["items"]
        if doc is not None:
            await coll.insert_one(doc)
        return [d["name"] async for d in coll.find({}, {"_id": 0}).sort("name", 1)]
    finally:
        await client.close()


async def _redis(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=5, decode_responses=True)


async def _wait_for(predicate: object, seconds: float) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {seconds}s")


async def test_start_ping_and_exactly_one_server_each(tmp_path: Path) -> None:
    async with LocalServers(tmp_path, mongo=True, redis=True) as servers:
        endpoints = servers.endpoints
        assert endpoints.mongodb_uri is not None
        assert endpoints.redis_url is not None
        assert endpoints.mongodb_uri.startswith("mongodb://switchboard:")
        assert "@127.0.0.1:" in endpoints.mongodb_uri
        assert await _mongo_roundtrip(endpoints.mongodb_uri, {"name": "a"}) == ["a"]
        redis = await _redis(endpoints.redis_url)
        assert await redis.ping()
        await redis.aclose()

        assert servers.owned == {"mongo", "valkey"}
        state = read_state(tmp_path)
        for kind in ("mongo", "valkey"):
            assert find_server_processes(kind, tmp_path) == [servers.pid(kind)]
            assert state[kind].pid == servers.pid(kind)
            assert state[kind].owner_pid == os.getpid()
            assert log_path(tmp_path, kind).is_file()
        mongo_pid = servers.pid("mongo")
    assert read_state(tmp_path) == {}
    assert mongo_pid is not None
    assert process_start_time(mongo_pid) is None
    assert find_server_processes("mongo", tmp_path) == []
    assert find_server_processes("valkey", tmp_path) == []


async def test_data_survives_stop_and_start(tmp_path: Path) -> None:
    async with LocalServers(tmp_path, mongo=True, redis=True, restart=False) as servers:
        first = servers.endpoints
        assert first.mongodb_uri is not None
        assert first.redis_url is not None
        await _mongo_roundtrip(first.mongodb_uri, {"name": "kept"})
        redis = await _redis(first.redis_url)
        await redis.set("greeting", "hello")
        await redis.aclose()

    async with LocalServers(tmp_path, mongo=True, redis=True, restart=False) as servers:
        again = servers.endpoints
        assert again == first  # the remembered ports are reused when free
        assert again.mongodb_uri is not None
        assert again.redis_url is not None
        assert await _mongo_roundtrip(again.mongodb_uri) == ["kept"]
        redis = await _redis(again.redis_url)
        assert await redis.get("greeting") == "hello"  # from the AOF
        await redis.aclose()
    assert (tmp_path / "valkey" / "appendonlydir").is_dir()


async def test_monitor_restarts_a_killed_child(tmp_path: Path) -> None:
    async with LocalServers(tmp_path, mongo=True, redis=True) as servers:
        before = {kind: servers.pid(kind) for kind in ("mongo", "valkey")}
        ports = {kind: servers.port(kind) for kind in ("mongo", "valkey")}
        for pid in before.values():
            assert pid is not None
            os.kill(pid, signal.SIGKILL)

        await _wait_for(
            lambda: all(servers.restarts(kind) == 1 for kind in ("mongo", "valkey")), 20
        )
        for kind in ("mongo", "valkey"):
            assert servers.pid(kind) != before[kind]
            assert servers.port(kind) == ports[kind]  # clients reconnect to the same URI
            assert await ping(kind, ports[kind])
            assert find_server_processes(kind, tmp_path) == [servers.pid(kind)]
            assert read_state(tmp_path)[kind].pid == servers.pid(kind)


async def test_second_supervisor_attaches_and_leaves_servers_running(tmp_path: Path) -> None:
    async with LocalServers(tmp_path, mongo=True, redis=True) as owner:
        settings = Settings(data_dir=tmp_path, mongodb_uri=None, redis_url=None)
        resolved, attached = await resolve_endpoints(settings)
        assert attached is not None
        assert attached.owned == frozenset()
        assert attached.attached == {"mongo", "valkey"}
        assert resolved.mongodb_uri == owner.endpoints.mongodb_uri
        assert resolved.redis_url == owner.endpoints.redis_url
        await attached.stop()

        for kind in ("mongo", "valkey"):
            assert await ping(kind, owner.port(kind))
            assert find_server_processes(kind, tmp_path) == [owner.pid(kind)]


async def test_configured_uris_start_nothing(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, mongodb_uri="mongodb://db.example:27017", redis_url="redis://r:6379"
    )
    resolved, servers = await resolve_endpoints(settings)
    assert servers is None
    assert resolved is settings
    assert not (tmp_path / "run").exists()


_OWNER_SCRIPT = """
import asyncio, sys
from pathlib import Path
from bot.server.embedded import LocalServers

async def main() -> None:
    servers = LocalServers(Path(sys.argv[1]), mongo=True, redis=True,
                           die_with_parent=sys.argv[2] == "1")
    endpoints = await servers.start()
    print(endpoints.mongodb_uri, endpoints.redis_url, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _start_owner(data_dir: Path, *, die_with_parent: bool) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-c", textwrap.dedent(_OWNER_SCRIPT), str(data_dir)),
            "1" if die_with_parent else "0",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the owner process died before its servers came up"
    return proc, line


async def test_orphans_of_a_killed_owner_are_replaced(tmp_path: Path) -> None:
    # The owner's children do not die with it here: true orphans, still answering.
    owner, line = _start_owner(tmp_path, die_with_parent=False)
    mongo_uri, redis_url = line.split()
    await _mongo_roundtrip(mongo_uri, {"name": "before-crash"})
    orphans = {kind: record.pid for kind, record in read_state(tmp_path).items()}
    owner.kill()
    owner.wait()
    assert all(process_start_time(pid) is not None for pid in orphans.values())

    try:
        async with LocalServers(tmp_path, mongo=True, redis=True) as servers:
            assert servers.owned == {"mongo", "valkey"}  # a dead owner is not attached to
            assert servers.endpoints.mongodb_uri == mongo_uri  # same ports, freed by the orphans
            assert servers.endpoints.redis_url == redis_url
            for kind, old_pid in orphans.items():
                assert process_start_time(old_pid) is None
                assert find_server_processes(kind, tmp_path) == [servers.pid(kind)]
                assert read_state(tmp_path)[kind].owner_pid == os.getpid()
            assert await _mongo_roundtrip(mongo_uri) == ["before-crash"]
    finally:
        for pid in orphans.values():
            if process_start_time(pid) is not None:
                os.kill(pid, signal.SIGKILL)


async def test_children_die_with_their_owner(tmp_path: Path) -> None:
    owner, _ = _start_owner(tmp_path, die_with_parent=True)
    pids = [record.pid for record in read_state(tmp_path).values()]
    assert len(pids) == 2
    owner.kill()
    owner.wait()
    try:
        # Usually within a second; a busy CI disk can hold a server's shutdown flush longer.
        await _wait_for(lambda: all(process_start_time(pid) is None for pid in pids), 45)
    finally:
        for pid in pids:
            if process_start_time(pid) is not None:
                os.kill(pid, signal.SIGKILL)


async def test_a_server_that_cannot_start_names_itself_and_its_log(tmp_path: Path) -> None:
    # Valkey cannot create its AOF directory when a file has that name: it exits at once.
    (tmp_path / "valkey").mkdir()
    (tmp_path / "valkey" / "appendonlydir").write_text("in the way")
    servers = LocalServers(tmp_path, mongo=False, redis=True, start_timeout=10)
    with pytest.raises(EmbeddedServerError, match="Valkey") as info:
        await servers.start()
    message = str(info.value)
    assert "exited with code" in message
    assert str(log_path(tmp_path, "valkey")) in message
    assert "appendonly" in message.lower()  # the tail of the server's own log
    assert find_server_processes("valkey", tmp_path) == []
    assert read_state(tmp_path) == {}
