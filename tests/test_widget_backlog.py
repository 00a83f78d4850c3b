"""A widget that falls behind or was away long: nothing is dropped silently.

A socket whose event queue overflows (the client stopped reading while a long answer
streamed) gets every stored message from storage once it reads again; a history cut at a
page says so and the rest comes by `resume`; resumes are rate-limited and one visitor's
open sockets are capped.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from beanie import PydanticObjectId
from websockets.exceptions import ConnectionClosed

import bot.core.channel_context
import channels.widget
from bot.core.cleanup import TransientState
from bot.core.conversations import append_message
from bot.core.documents import Conversation
from bot.core.events import EVENT_QUEUE_OVERFLOWS, EventBus
from bot.core.runtime import Core
from bot.core.types import Author, ConversationEvent
from config import Settings
from tests.support import WidgetClient, live_app, new_session, widget_socket

pytestmark = pytest.mark.timeout(90)

PAGE = 5


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 5 instead of 50/500, so a dozen messages make several pages."""
    monkeypatch.setattr(bot.core.channel_context, "RESUME_PAGE", PAGE)
    monkeypatch.setattr(channels.widget, "HISTORY_PAGE", PAGE)


async def store_replies(core: Core, conversation_id: str, count: int) -> list[str]:
    conversation = await Conversation.get(PydanticObjectId(conversation_id))
    assert conversation is not None
    ids = []
    for n in range(count):
        stored, _ = await append_message(
            core=core, conversation=conversation, author=Author.OPERATOR, text=f"reply {n}"
        )
        ids.append(str(stored.id))
    return ids


def overflows() -> float:
    return EVENT_QUEUE_OVERFLOWS._value.get()


async def message_frames(ws: WidgetClient, count: int) -> list[dict[str, Any]]:
    """The next `count` message frames, skipping the streamed tokens in between."""
    found = []
    while len(found) < count:
        frame = await ws.until(lambda f: f["type"] in ("message", "history"), timeout=30)
        found.extend([frame["message"]] if frame["type"] == "message" else frame["messages"])
    return found


class HeldEvents(EventBus):
    """A bus that keeps what is published, to be released later in one burst."""

    def __init__(self, core: Core) -> None:
        super().__init__(core.redis, TransientState())
        self.held: list[ConversationEvent] = []

    async def publish(self, event: ConversationEvent) -> None:
        self.held.append(event)


async def test_a_socket_that_fell_behind_gets_every_message_from_storage(
    settings: Settings, small_pages: None
) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        cid = session["conversation_id"]
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()  # history
            # More than a page of replies is stored; their events come in the same burst as
            # a long answer's tokens, faster than the socket takes them: the socket's event
            # queue overflows and drops the replies' events.
            held = HeldEvents(app.core)
            ids = await store_replies(dataclasses.replace(app.core, bus=held), cid, 2 * PAGE + 2)
            token = ConversationEvent(
                type="token", conversation_id=cid, data={"message_id": "streaming", "text": "x"}
            )
            before = overflows()
            await asyncio.gather(
                *(app.core.bus.publish(token) for _ in range(1500)),
                *(app.core.bus.publish(event) for event in held.held),
            )
            assert overflows() > before, "the queue never overflowed: the test proves nothing"
            received = await message_frames(ws, len(ids))
            assert [m["id"] for m in received] == ids
            # Live again afterwards, and nothing comes twice.
            ids += await store_replies(app.core, cid, 1)
            (last,) = await message_frames(ws, 1)
            assert last["id"] == ids[-1]


async def test_a_history_cut_at_a_page_says_so_and_resume_pages_on(
    settings: Settings, small_pages: None
) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        ids = await store_replies(app.core, session["conversation_id"], 2 * PAGE + 2)
        async with widget_socket(app, session["token"], after_seq=0) as ws:
            pages = [await ws.next()]
            while pages[-1]["has_more"]:
                assert pages[-1]["last_seq"] == len(ids)
                after = pages[-1]["messages"][-1]["seq"]
                await ws.send({"type": "resume", "after_seq": after})
                pages.append(await ws.until(lambda f: f["type"] == "history"))
            assert [len(p["messages"]) for p in pages] == [PAGE, PAGE, 2]
            assert [m["id"] for p in pages for m in p["messages"]] == ids
        # The latest page (no after_seq) is the newest messages, not cut after them.
        async with widget_socket(app, session["token"]) as ws:
            latest = await ws.next()
            assert [m["id"] for m in latest["messages"]] == ids[-PAGE:]
            assert latest["has_more"] is False


async def test_resume_frames_are_rate_limited(settings: Settings) -> None:
    limited = settings.model_copy(update={"widget_resume_rate": "3/minute"})
    async with live_app(limited, run_worker=False) as app:
        session = await new_session(app)
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()
            for _ in range(5):
                await ws.send({"type": "resume", "after_seq": 0})
            frames = [await ws.next() for _ in range(5)]
            assert [f["type"] for f in frames] == ["history"] * 3 + ["error"] * 2
            assert {f["code"] for f in frames[3:]} == {"rate_limited"}
            client_id = await ws.say("still here")  # the socket keeps working
            assert (await ws.message("customer"))["client_id"] == client_id


async def test_one_visitor_cannot_open_unbounded_sockets(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        limit = channels.widget.MAX_SOCKETS_PER_VISITOR
        sockets = [widget_socket(app, session["token"]) for _ in range(limit)]
        opened = [await s.__aenter__() for s in sockets]
        try:
            for ws in opened:
                assert (await ws.next())["type"] == "history"
            async with widget_socket(app, session["token"]) as extra:
                error = await extra.next()
                assert error["type"] == "error" and error["code"] == "too_many_sockets"
                with pytest.raises(ConnectionClosed):
                    await extra.next()
                assert extra.ws.close_code == 4429
            # Another visitor is not affected.
            other = await new_session(app)
            async with widget_socket(app, other["token"]) as ws:
                assert (await ws.next())["type"] == "history"
        finally:
            await sockets[0].__aexit__(None, None, None)
        # A closed socket frees its place.
        for _ in range(50):
            async with widget_socket(app, session["token"]) as again:
                if (await again.next())["type"] == "history":
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("a closed socket did not free its place")
        for s in sockets[1:]:
            await s.__aexit__(None, None, None)
