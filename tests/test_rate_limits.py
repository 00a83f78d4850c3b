"""Rate limits hold under load and fail the documented way when Redis is gone.

Against the real Valkey server: many sockets at once must not exhaust the Redis pool (which
made every limit give up and let everything through); with Redis unreachable, customer
limits let requests through and the login limits refuse them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import pytest
from beanie import PydanticObjectId

from bot.core.documents import Message
from bot.core.ratelimit import FAIL_CLOSED_BUCKETS, RATE_LIMITER_UNAVAILABLE, RateLimiter
from config import Settings
from tests.fakes.background import free_port
from tests.support import ingested, live_app, new_session, widget_socket

pytestmark = pytest.mark.timeout(120)

VISITORS = 150


def unavailable_count() -> float:
    return sum(
        sample.value
        for metric in RATE_LIMITER_UNAVAILABLE.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_limits_hold_with_many_sockets_sending_at_once(settings: Settings) -> None:
    one_each = settings.model_copy(update={"widget_message_rate": "1/minute"})
    async with live_app(one_each, run_worker=False) as app:
        sessions = await asyncio.gather(*(new_session(app) for _ in range(VISITORS)))
        before = unavailable_count()
        async with contextlib.AsyncExitStack() as stack:
            sockets = [
                await stack.enter_async_context(widget_socket(app, s["token"])) for s in sessions
            ]
            await asyncio.gather(*(ws.next() for ws in sockets))  # every history
            # Every visitor sends two messages at the same moment: one may pass, one not.
            await asyncio.gather(*(ws.say(f"first {n}") for n, ws in enumerate(sockets)))
            await asyncio.gather(*(ws.say(f"second {n}") for n, ws in enumerate(sockets)))
            answers = await asyncio.gather(
                *(ws.until(lambda f: f["type"] == "error") for ws in sockets)
            )
        assert {a["code"] for a in answers} == {"rate_limited"}
        assert unavailable_count() == before, "the limiter gave up under load"
        ids = [PydanticObjectId(s["conversation_id"]) for s in sessions]
        await ingested(app)  # a message is stored behind its durable append
        stored = await Message.find({"conversation_id": {"$in": ids}}).to_list()
        per_conversation = Counter(m.conversation_id for m in stored)
        assert sorted(per_conversation.values()) == [1] * VISITORS


async def test_without_redis_customer_limits_open_and_login_limits_close() -> None:
    limiter = RateLimiter(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    assert await limiter.allow("widget-message", "c1", "1/minute")
    assert await limiter.allow("widget-session", "10.0.0.1", "1/minute")
    assert await limiter.allow("widget-resume", "c1", "1/minute")
    assert {"panel-login-ip", "panel-login-email"} == FAIL_CLOSED_BUCKETS
    assert not await limiter.allow("panel-login-ip", "10.0.0.1", "10/minute")
    assert await limiter.over("panel-login-email", "a@example.com", "5/minute")
