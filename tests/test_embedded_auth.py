"""The embedded servers demand this installation's credentials: another local user who finds
the port can neither read the database nor mint panel sessions in Valkey."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ResponseError

from bot.server.embedded import HOST, LocalServers, find_server_processes

pytestmark = pytest.mark.timeout(120)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_local_servers_refuse_clients_without_the_installation_password(
    tmp_path: Path,
) -> None:
    async with LocalServers(tmp_path, mongo=True, redis=True) as servers:
        endpoints = servers.endpoints
        assert endpoints.mongodb_uri is not None and endpoints.redis_url is not None

        # Without credentials: refused.
        anonymous_redis = Redis(host=HOST, port=servers.port("valkey"))
        with pytest.raises((AuthenticationError, ResponseError)):
            await anonymous_redis.set("sb:panel:session:forged", "{}")
        await anonymous_redis.aclose()
        anonymous_mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            HOST, servers.port("mongo"), directConnection=True, serverSelectionTimeoutMS=5000
        )
        with pytest.raises(OperationFailure):
            await anonymous_mongo.switchboard.operators.insert_one({"email": "x@example.com"})
        await anonymous_mongo.close()

        # With the URIs the supervisor hands out: everything works.
        redis = Redis.from_url(endpoints.redis_url)
        assert await redis.set("k", "v")
        await redis.aclose()
        mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(endpoints.mongodb_uri)
        await mongo.switchboard.things.insert_one({"kept": True})
        await mongo.close()

        # The passwords live in 0600 files of a 0700 directory, never on a command line.
        secrets = tmp_path / "secrets"
        assert mode_of(secrets) == 0o700
        for name in ("mongo_password", "valkey_password"):
            assert mode_of(secrets / name) == 0o600
        for kind in ("mongo", "valkey"):
            assert mode_of(tmp_path / kind) == 0o700
            for pid in find_server_processes(kind, tmp_path):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                password = (secrets / f"{kind}_password").read_text().strip()
                assert password.encode() not in cmdline
        first_uris = endpoints

    # A restart reuses the same credentials and keeps the data.
    async with LocalServers(tmp_path, mongo=True, redis=True) as servers:
        assert servers.endpoints == first_uris
        assert servers.endpoints.mongodb_uri is not None
        mongo = AsyncMongoClient(servers.endpoints.mongodb_uri)
        assert await mongo.switchboard.things.find_one({"kept": True}) is not None
        await mongo.close()
