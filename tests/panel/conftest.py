"""Fixtures of the panel tests: a live app with two operators, signed-in clients, Chromium."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from redis.asyncio import Redis

from bot.answers.replies import NoModel
from bot.core import inbound_claims
from bot.core.documents import Contact, Conversation, Message, ModeChange, Note, PromptBlock
from bot.core.operators import create_operator
from bot.server.embedded import Endpoints
from config import Settings
from tests.support import LiveApp, live_app

ADMIN = ("admin@example.com", "admin-password-1")
OPERATOR = ("olga@example.com", "olga-password-1")


@dataclass
class SignedIn:
    client: httpx.AsyncClient
    csrf: str
    operator_id: str

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    async def post(self, path: str, json: object | None = None) -> httpx.Response:
        return await self.client.post(path, json=json, headers=self.headers())


@pytest.fixture(scope="package")
async def shared_app(
    endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveApp]:
    """One live app for the panel tests (start-up is the slow part), no chat model: the AI hands
    every chat to operators. Two accounts: an admin and an operator."""
    assert endpoints.mongodb_uri is not None and endpoints.redis_url is not None
    redis = Redis.from_url(endpoints.redis_url)
    await redis.flushdb()
    await redis.aclose()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="test",
        data_dir=tmp_path_factory.mktemp("panel"),
        mongodb_uri=endpoints.mongodb_uri,
        redis_url=endpoints.redis_url,
        mongodb_db=f"test_panel_{uuid.uuid4().hex[:12]}",
        jwt_secret="test-secret-0123456789abcdef-0123456789",  # type: ignore[arg-type]
        reply_debounce_ms=0,
        reply_reclaim_idle_ms=300,
        log_level="WARNING",
    )
    async with live_app(settings, replier=NoModel()) as running:
        await create_operator(email=ADMIN[0], password=ADMIN[1], role="admin")
        await create_operator(email=OPERATOR[0], password=OPERATOR[1])
        yield running
        await running.core.mongo.drop_database(settings.mongodb_db)


@pytest.fixture
async def app(shared_app: LiveApp) -> LiveApp:
    """The module's app with no chats, prompt blocks, sessions or rate-limit counts left."""
    for document in (Contact, Conversation, Message, ModeChange, Note, PromptBlock):
        await document.get_pymongo_collection().delete_many({})
    # Claims outlive a message only until it is erased; a wiped chat must not keep them.
    await Message.get_pymongo_collection().database[inbound_claims.COLLECTION].delete_many({})
    redis = shared_app.core.redis
    for pattern in ("sb:rl*", "sb:panel:*", "sb:login:*", "sb:presence:*"):
        async for key in redis.scan_iter(match=pattern):
            await redis.delete(key)
    return shared_app


async def sign_in(app: LiveApp, email: str, password: str) -> SignedIn:
    client = app.client()
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    return SignedIn(client=client, csrf=body["csrf_token"], operator_id=body["operator"]["id"])


@pytest.fixture
async def operator(app: LiveApp) -> AsyncIterator[SignedIn]:
    signed = await sign_in(app, *OPERATOR)
    try:
        yield signed
    finally:
        await signed.client.aclose()


@pytest.fixture
async def admin(app: LiveApp) -> AsyncIterator[SignedIn]:
    signed = await sign_in(app, *ADMIN)
    try:
        yield signed
    finally:
        await signed.client.aclose()
