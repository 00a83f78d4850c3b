"""Malformed, oversized, deeply nested and out-of-range input at every customer entry point:
each gets a 4xx (or an error frame) with a reason, a socket is never cut without a close
frame, and a message whose only fault is a value the database cannot hold is stored."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from bot.core.documents import Message
from bot.core.types import Author
from config import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.support import LiveApp, live_app, new_session, widget_socket
from tests.test_telegram import (
    TOKEN,
    FixedReplies,
    _now,
    message,
    post,
    telegram_settings,
    update,
)

pytestmark = pytest.mark.timeout(60)

DEEP = 8000  # levels: far past json's recursion limit, 16 KB of brackets
HUGE = 2**70  # beyond MongoDB's 8-byte integers


def nested(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


async def raw_http(app: LiveApp, head: str, body: bytes) -> bytes:
    """Send a request by hand (headers promising more than is sent) and read the answer."""
    host, port = app.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode() + b"\r\n\r\n" + body)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


# --- HTTP ------------------------------------------------------------------------------------


async def test_a_huge_session_body_is_refused_before_it_is_read(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app:
        # 100 MB promised, 1 KB sent: the answer comes without waiting for the rest.
        declared = await raw_http(
            app,
            "POST /api/widget/sessions HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000000",
            b"{" + b" " * 1024,
        )
        assert declared.startswith(b"HTTP/1.1 413"), declared[:200]
        assert b"larger than" in declared
        # No length given (chunked): refused once the limit is passed, not at the end.
        chunk = b" " * 32768
        chunked = await raw_http(
            app,
            "POST /api/widget/sessions HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked",
            b"%x\r\n%s\r\n" % (len(chunk), chunk),
        )
        assert chunked.startswith(b"HTTP/1.1 413"), chunked[:200]
        async with app.client() as client:
            deep = await client.post(
                "/api/widget/sessions",
                content='{"name": ' + nested(3000) + "}",
                headers={"content-type": "application/json"},
            )
            assert deep.status_code == 400 and "nested" in deep.json()["detail"]
            assert (await client.post("/api/widget/sessions", json={})).status_code == 200


async def test_telegram_refuses_deep_nesting_and_stores_out_of_range_fields(
    settings: Settings, fake: FakeTelegram
) -> None:
    async with live_app(telegram_settings(settings, fake), replier=FixedReplies()) as app:
        deep = await post(app, '{"update_id": 1, "message": ' + nested() + "}")
        assert deep.status_code == 400 and "nested" in deep.json()["detail"]

        photo = {"file_id": "AgAD-p", "file_unique_id": "p1", "width": 90, "height": HUGE}
        document = {"file_id": "BQAD-d", "file_unique_id": "d1", "file_size": HUGE}
        for payload in (
            update(message=message(7801, 1, photo=[photo], caption="my photo")),
            update(message=message(7801, 2, document=document)),
            update(message=message(7801, 3, "broken emoji \ud83d here")),
            update(edited_message=message(7801, 4, "edited", edit_date=HUGE)),
        ):
            response = await post(app, json.dumps(payload))  # ASCII: escapes survive
            # A 5xx would have Telegram redeliver this message forever.
            assert response.status_code == 200, response.text
        stored = await Message.find(
            Message.channel == "telegram", Message.author == Author.CUSTOMER
        ).to_list()
        by_id = {m.external_id: m for m in stored}
        assert set(by_id) == {"7801:1", "7801:2", "7801:3", f"7801:4:edit:{_now}"}
        # Nothing the customer sent is lost: the oversized numbers are kept as text.
        assert by_id["7801:1"].text == "my photo"
        assert by_id["7801:1"].attachments[0].model_dump()["height"] == str(HUGE)
        assert by_id["7801:2"].attachments[0].model_dump()["size"] == str(HUGE)
        assert by_id["7801:3"].text == "broken emoji \ufffd here"


# --- the widget socket -----------------------------------------------------------------------


async def test_widget_frames_with_bad_values_get_error_frames_on_a_live_socket(
    settings: Settings,
) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        cid = str(uuid.uuid4())
        cases: list[tuple[str, str]] = [
            (nested(), "bad_frame"),
            ('{"type": "message", "text": ' + nested(200) + "}", "bad_frame"),
            (json.dumps({"type": "resume", "after_seq": 2**63}), "bad_frame"),
            (json.dumps({"type": "resume", "after_seq": HUGE}), "bad_frame"),
            ('{"type": "message", "text": "hi", "client_id": "\\ud800"}', "bad_client_id"),
        ]
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()  # history
            for raw, code in cases:
                await ws.ws.send(raw)
                error = await ws.next()
                assert error["type"] == "error" and error["code"] == code, (raw[:40], error)
                assert error["detail"], raw[:40]
            # A lone surrogate in the text: stored (as U+FFFD) and confirmed, not a cut socket.
            half = json.dumps({"type": "message", "text": "half an emoji ", "client_id": cid})
            await ws.ws.send(half.replace('emoji "', 'emoji \\ud83d"'))
            echo = await ws.message("customer")
            assert echo["client_id"] == cid and echo["text"] == "half an emoji \ufffd"
            await ws.send({"type": "resume", "after_seq": 0})
            history = await ws.until(lambda f: f["type"] == "history")
            assert [m["client_id"] for m in history["messages"]] == [cid]


@pytest.mark.parametrize("after_seq", [str(2**63), str(HUGE), "-1"])
async def test_an_out_of_range_after_seq_is_refused_with_a_close_frame(
    settings: Settings, after_seq: str
) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        async with widget_socket(app, session["token"], after_seq=int(after_seq)) as ws:
            error: dict[str, Any] = await ws.next()
            assert error["type"] == "error" and error["code"] == "bad_request"
            assert "after_seq" in error["detail"]
            with pytest.raises(ConnectionClosed):
                await ws.next()
            assert ws.ws.close_code == 4400
