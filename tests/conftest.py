"""Fixtures: real local servers (SecantusDB, Valkey) started the way the platform starts them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.bootstrap import running_core
from bot.embedded import Endpoints, LocalServers
from bot.replies import NoModel
from bot.runtime import Core
from config import Settings


@pytest.fixture(scope="session")
async def endpoints(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Endpoints]:
    servers = LocalServers(tmp_path_factory.mktemp("servers"), mongo=True, redis=True)
    found = await servers.start()
    try:
        yield found
    finally:
        await servers.stop()


@pytest.fixture
async def settings(endpoints: Endpoints, tmp_path: Path) -> Settings:
    """Settings for one test: its own database, an empty Redis, fast timings."""
    assert endpoints.mongodb_uri is not None and endpoints.redis_url is not None
    redis = Redis.from_url(endpoints.redis_url)
    await redis.flushdb()
    await redis.aclose()
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="test",
        data_dir=tmp_path,
        mongodb_uri=endpoints.mongodb_uri,
        redis_url=endpoints.redis_url,
        mongodb_db=f"test_{uuid.uuid4().hex[:12]}",
        jwt_secret="test-secret-0123456789abcdef-0123456789",  # type: ignore[arg-type]
        reply_debounce_ms=0,
        reply_reclaim_idle_ms=300,
        llm_timeout_seconds=2,
        log_level="WARNING",
    )


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[Core]:
    """The core of a process without HTTP: for service-level tests."""
    async with running_core(settings, replier=NoModel(), configure_logging=False) as running:
        yield running
        await running.mongo.drop_database(settings.mongodb_db)
