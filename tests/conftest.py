"""Fixtures: real local servers (SecantusDB, Valkey) started the way the platform starts them."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright
from redis.asyncio import Redis

from bot.answers.engine import Engine, running_engine
from bot.answers.replies import NoModel
from bot.core.queue import STREAM
from bot.core.runtime import Core
from bot.server.bootstrap import running_core
from bot.server.embedded import Endpoints, LocalServers
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
    async with running_core(settings, configure_logging=False) as running:
        # Each test's database is dropped after it, so reply jobs, chat locks and failure
        # counts an earlier test left in the shared Valkey name chats that no longer exist:
        # a fresh stream keeps them out of this test's queue (and its pending count).
        await running.redis.delete(STREAM)
        async for key in running.redis.scan_iter(match="sb:lock:reply:*"):
            await running.redis.delete(key)
        async for key in running.redis.scan_iter(match="sb:reply-attempts:*"):
            await running.redis.delete(key)
        await running.queue.ensure_group()
        yield running
        await running.mongo.drop_database(settings.mongodb_db)


@pytest.fixture
async def engine(core: Core) -> AsyncIterator[Engine]:
    """The answering engine over `core`, without a model (tests swap in their own replier)."""
    async with running_engine(core, replier=NoModel()) as running:
        yield running


# A real Chromium (Debian's package) driven by Playwright, shared by every browser test.
CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"no Chromium at {CHROMIUM} (apt-get install chromium, or set "
            "PLAYWRIGHT_CHROMIUM_EXECUTABLE)"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()
