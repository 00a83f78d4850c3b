"""Transient state is released through one hook path: nothing grows with connections."""

from __future__ import annotations

import asyncio

from bot.core.cleanup import TransientState, connection_scope
from config import Settings
from tests.support import live_app, new_session, widget_socket


async def test_release_runs_each_hook_once_even_when_one_fails() -> None:
    state = TransientState()
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    async def closing() -> None:
        ran.append("async")

    state.register("conn:1", "a", lambda: ran.append("sync"))
    state.register("conn:1", "b", broken)
    state.register("conn:1", "c", closing)
    assert await state.release("conn:1") == 3
    assert sorted(ran) == ["async", "sync"]
    assert await state.release("conn:1") == 0
    assert state.size() == 0 and state.scopes() == 0


async def test_shutdown_releases_everything() -> None:
    state = TransientState()
    ran: list[str] = []
    for n in range(5):
        state.register(connection_scope(str(n)), "sub", lambda n=n: ran.append(str(n)))
    await state.release_all()
    assert len(ran) == 5 and state.size() == 0


async def test_thousand_widget_connections_leave_nothing_behind(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        state, bus = app.core.state, app.core.bus
        # Warm up once so lazily created things exist before the baseline is taken.
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()
        await asyncio.sleep(0.1)
        baseline_tasks = asyncio.all_tasks()
        baseline = (state.size(), state.scopes(), bus.subscriber_count(), len(baseline_tasks))
        for _ in range(1000):
            async with widget_socket(app, session["token"]) as ws:
                assert (await ws.next())["type"] == "history"
        # The server notices the last disconnects a moment later (seconds on a busy CI box).
        for _ in range(300):
            now = (state.size(), state.scopes(), bus.subscriber_count(), len(asyncio.all_tasks()))
            if now == baseline:
                break
            await asyncio.sleep(0.05)
        lingering = sorted(
            repr(t.get_coro()) for t in asyncio.all_tasks() if t not in baseline_tasks
        )
        assert now == baseline, lingering
