"""WS /ws/operator: cookie and Origin checks, live events of every chat, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.panel.conftest import OPERATOR, SignedIn
from tests.panel.helpers import customer_writes
from tests.support import FrameSocket, LiveApp, eventually, new_session, widget_socket

pytestmark = pytest.mark.timeout(60)


def cookie_of(signed: SignedIn) -> str:
    return f"sb_panel_session={signed.client.cookies.get('sb_panel_session')}"


async def close_code(app: LiveApp, headers: dict[str, str]) -> int | None:
    async with websockets.connect(
        f"{app.ws_url}/ws/operator", additional_headers=headers, open_timeout=10
    ) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code


@contextlib.asynccontextmanager
async def panel_socket(app: LiveApp, signed: SignedIn) -> AsyncIterator[FrameSocket]:
    headers = {"Cookie": cookie_of(signed), "Origin": app.base_url}
    async with websockets.connect(
        f"{app.ws_url}/ws/operator", additional_headers=headers, open_timeout=10
    ) as ws:
        panel = FrameSocket(ws)
        ready = await panel.until(lambda f: f["type"] == "ready")
        assert ready["operator"]["email"] == OPERATOR[0]
        yield panel


async def test_no_cookie_or_a_dead_session_is_closed_with_4401(app: LiveApp) -> None:
    assert await close_code(app, {}) == 4401
    assert await close_code(app, {"Cookie": "sb_panel_session=forged"}) == 4401


async def test_a_foreign_origin_is_closed_with_4403(app: LiveApp, operator: SignedIn) -> None:
    headers = {"Cookie": cookie_of(operator), "Origin": "https://evil.example"}
    assert await close_code(app, headers) == 4403
    # Same host, other port: another origin too.
    headers["Origin"] = "http://127.0.0.1:1"
    assert await close_code(app, headers) == 4403


async def test_live_events_of_every_chat_reach_the_panel(app: LiveApp, operator: SignedIn) -> None:
    async with panel_socket(app, operator) as panel:
        session = await new_session(app, name="Frank", language="en")
        cid = session["conversation_id"]
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()
            await ws.send({"type": "typing"})
            typing = await panel.until(lambda f: f["type"] == "typing")
            assert typing == {
                "type": "typing",
                "conversation_id": cid,
                "seq": None,
                "author": "customer",
            }
            await ws.say("<b>hello</b>")
            created = await panel.until(
                lambda f: f["type"] == "message.created" and f["message"]["author"] == "customer"
            )
            assert created["conversation_id"] == cid
            assert created["seq"] == created["message"]["seq"]
            assert created["message"]["text"] == "<b>hello</b>"
            handoff = await panel.until(lambda f: f["type"] == "mode.changed")
            assert handoff["mode"] == "waiting_operator" and handoff["from"] == "ai"

            # The panel's typing frame reaches the customer as "operator is typing".
            await panel.ws.send(json.dumps({"type": "typing", "conversation_id": cid}))
            await ws.until(lambda f: f["type"] == "typing" and f["author"] == "operator")

            await operator.post(f"/api/conversations/{cid}/messages", {"text": "On it."})
            taken = await panel.until(lambda f: f["type"] == "mode.changed")
            assert taken["mode"] == "operator"
            assert taken["actor"] == f"operator:{operator.operator_id}"
            reply = await panel.until(
                lambda f: f["type"] == "message.created" and f["message"]["author"] == "operator"
            )
            assert reply["message"]["text"] == "On it."
            sent = await panel.until(
                lambda f: (
                    f["type"] == "message.updated" and f["message_id"] == reply["message"]["id"]
                )
            )
            assert sent["status"] == "sent"
            await ws.say("thanks")  # unread again (the operator's reply had cleared it)
            await panel.until(
                lambda f: f["type"] == "message.created" and f["message"]["text"] == "thanks"
            )
            await operator.post(f"/api/conversations/{cid}/read")
            read = await panel.until(lambda f: f["type"] == "conversation.read")
            assert read["conversation_id"] == cid

        await panel.ws.send("not json")
        assert (await panel.until(lambda f: f["type"] == "error"))["code"] == "bad_frame"
        await panel.ws.send(json.dumps({"type": "ping"}))
        await panel.until(lambda f: f["type"] == "pong")


async def test_a_closed_socket_releases_its_state(app: LiveApp, operator: SignedIn) -> None:
    core = app.core
    subscribers, held = core.bus.subscriber_count(), core.state.size()
    async with panel_socket(app, operator):
        assert core.bus.subscriber_count() == subscribers + 1
        assert core.state.size() == held + 1

    async def released() -> bool:
        return core.bus.subscriber_count() == subscribers and core.state.size() == held

    await eventually(released)


async def test_a_panel_sees_a_chat_it_did_not_open(app: LiveApp, operator: SignedIn) -> None:
    """The subscription covers every conversation, including ones created after it."""
    async with panel_socket(app, operator) as panel:
        grace = await customer_writes(app, "Grace", "first message")
        frame = await panel.until(
            lambda f: (
                f["type"] == "message.created" and f["conversation_id"] == grace.conversation_id
            )
        )
        assert frame["message"]["text"] == "first message"
