"""The widget's wire protocol on a live app: sessions over HTTP, the conversation over WS.

Every test talks to the real app (uvicorn on a real port) with a real WebSocket client and
checks what a widget would see: the frames, their order, their sequence numbers, and what
ends up stored.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import websockets
from beanie import PydanticObjectId
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from bot.answers.agent import AgentReplies
from bot.answers.replies import NoModel
from bot.core.cleanup import TransientState
from bot.core.conversations import append_message
from bot.core.documents import Conversation, Message
from bot.core.events import EventBus
from bot.core.modes import transition
from bot.core.pipeline import handle_incoming_message
from bot.core.runtime import Core
from bot.core.types import Author, ConversationEvent, InboundMessage, Mode
from config import Settings
from tests.fakes.openai_server import FakeOpenAI, TextReply
from tests.support import live_app, new_session, widget_socket, with_model

pytestmark = pytest.mark.timeout(60)


# --- helpers ---------------------------------------------------------------------------------


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a visitor token, read without checking it (the test is not the server)."""
    return dict(jwt.decode(token, options={"verify_signature": False}))


def signed(settings: Settings, **claims: Any) -> str:
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def bad_tokens(settings: Settings, good: str) -> dict[str, str]:
    """Tokens a visitor must not get in with, by what is wrong with them."""
    real = claims_of(good)
    now = datetime.now(UTC)
    return {
        "garbage": "not-a-token",
        "forged": jwt.encode(real, "someone-elses-secret-0123456789abcdef", algorithm="HS256"),
        "expired": signed(
            settings, **{**real, "iat": now - timedelta(days=40), "exp": now - timedelta(days=1)}
        ),
        "wrong type": signed(settings, **{**real, "typ": "operator"}),
        "no expiry": signed(settings, sub=real["sub"], cid=real["cid"], typ="widget"),
    }


async def conversation_of(session: dict[str, str]) -> Conversation:
    conversation = await Conversation.get(PydanticObjectId(session["conversation_id"]))
    assert conversation is not None
    return conversation


async def stored_messages(conversation_id: str) -> list[Message]:
    return (
        await Message.find(Message.conversation_id == PydanticObjectId(conversation_id))
        .sort("+seq")
        .to_list()
    )


async def closed_with(ws: websockets.ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame until the server closes the socket, and the close code."""
    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(json.loads(await ws.recv()))
    except ConnectionClosed:
        pass
    return frames, ws.close_code


def sequenced(frames: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(seq, what) of the message and status frames, in arrival order."""
    out: list[tuple[int, str]] = []
    for frame in frames:
        if frame["type"] == "message":
            out.append((frame["seq"], f"message:{frame['message']['author']}"))
        elif frame["type"] == "status":
            out.append((frame["seq"], f"status:{frame['mode']}"))
    return out


# --- sessions --------------------------------------------------------------------------------


async def test_session_is_created_and_resumed_with_the_same_conversation(
    settings: Settings,
) -> None:
    async with live_app(settings, run_worker=False) as app:
        first = await new_session(app, name="Ann", language="en")
        assert set(first) >= {"token", "conversation_id"}
        assert first["token"] and first["conversation_id"]

        again = await new_session(app, token=first["token"])
        assert again["conversation_id"] == first["conversation_id"]
        assert claims_of(again["token"])["sub"] == claims_of(first["token"])["sub"]

        stranger = await new_session(app)
        assert stranger["conversation_id"] != first["conversation_id"]


async def test_session_with_a_bad_token_is_refused_with_a_reason(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app, app.client() as client:
        good = await new_session(app)
        for what, token in bad_tokens(settings, good["token"]).items():
            response = await client.post("/api/widget/sessions", json={"token": token})
            assert response.status_code == 401, what
            detail = response.json().get("detail")
            assert isinstance(detail, str) and "token" in detail, (what, detail)
        expired = bad_tokens(settings, good["token"])["expired"]
        response = await client.post("/api/widget/sessions", json={"token": expired})
        assert "expired" in response.json()["detail"]


async def test_too_many_new_sessions_from_one_address_get_429(settings: Settings) -> None:
    # Visitors come through a reverse proxy on loopback (trusted by uvicorn), which names
    # each visitor's address in X-Forwarded-For; the limit is per visitor address.
    limited = settings.model_copy(update={"widget_session_rate": "3/minute"})
    visitor = {"X-Forwarded-For": "203.0.113.7"}
    async with live_app(limited, run_worker=False) as app, app.client() as client:
        for _ in range(3):
            ok = await client.post("/api/widget/sessions", json={}, headers=visitor)
            assert ok.status_code == 200
        refused = await client.post("/api/widget/sessions", json={}, headers=visitor)
        assert refused.status_code == 429
        assert "too many" in refused.json()["detail"]
        other = await client.post(
            "/api/widget/sessions", json={}, headers={"X-Forwarded-For": "198.51.100.9"}
        )
        assert other.status_code == 200


# --- connecting ------------------------------------------------------------------------------


async def test_socket_with_a_bad_token_gets_an_error_frame_then_close_4401(
    settings: Settings,
) -> None:
    async with live_app(settings, run_worker=False) as app:
        good = await new_session(app)
        cases = {**bad_tokens(settings, good["token"]), "missing": ""}
        for what, token in cases.items():
            async with websockets.connect(f"{app.ws_url}/ws/widget?token={token}") as ws:
                frames, code = await closed_with(ws)
            assert code == 4401, what
            assert [f["type"] for f in frames] == ["error"], (what, frames)
            expected = "token_expired" if what == "expired" else "unauthorized"
            assert frames[0]["code"] == expected, (what, frames)
            assert frames[0]["detail"], what


@pytest.mark.parametrize("after_seq", ["abc", "-1", "1.5"])
async def test_bad_after_seq_in_the_url_gets_an_error_then_close_4400(
    settings: Settings, after_seq: str
) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        url = f"{app.ws_url}/ws/widget?token={session['token']}&after_seq={after_seq}"
        async with websockets.connect(url) as ws:
            frames, code = await closed_with(ws)
        assert code == 4400
        assert [(f["type"], f["code"]) for f in frames] == [("error", "bad_request")]
        assert "after_seq" in frames[0]["detail"]


async def test_history_on_connect_is_the_latest_page_and_after_seq_is_exact(
    settings: Settings,
) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        conversation = await conversation_of(session)
        for i in range(1, 56):  # seq 1..55
            await append_message(
                core=app.core, conversation=conversation, author=Author.OPERATOR, text=f"m{i}"
            )
        assert conversation.id is not None
        await transition(  # seq 56: a mode change, not a message
            core=app.core,
            conversation_id=conversation.id,
            to=Mode.OPERATOR,
            actor="operator:test",
            notify=False,
        )
        await append_message(  # seq 57
            core=app.core, conversation=conversation, author=Author.OPERATOR, text="m57"
        )

        async with widget_socket(app, session["token"]) as ws:
            latest = await ws.next()
        assert latest["type"] == "history"
        assert [m["seq"] for m in latest["messages"]] == [*range(7, 56), 57]
        assert len(latest["messages"]) == 50
        assert latest["messages"][-1]["text"] == "m57"
        assert latest["last_seq"] == 57 and latest["mode"] == "operator"
        first = latest["messages"][0]
        assert set(first) >= {
            "id",
            "conversation_id",
            "seq",
            "author",
            "text",
            "created_at",
            "status",
        }
        assert first["conversation_id"] == session["conversation_id"]
        assert datetime.fromisoformat(first["created_at"]).utcoffset() == timedelta(0)

        async with widget_socket(app, session["token"], after_seq=54) as ws:
            since = await ws.next()
            assert since["type"] == "history"
            assert [(m["seq"], m["text"]) for m in since["messages"]] == [(55, "m55"), (57, "m57")]
            assert since["last_seq"] == 57 and since["mode"] == "operator"

            # The same question asked on an open socket.
            await ws.send({"type": "resume", "after_seq": 55})
            resumed = await ws.next()
            assert resumed["type"] == "history"
            assert [m["seq"] for m in resumed["messages"]] == [57]
            assert resumed["last_seq"] == 57 and resumed["mode"] == "operator"

        async with widget_socket(app, session["token"], after_seq=57) as ws:
            up_to_date = await ws.next()
            assert up_to_date["messages"] == [] and up_to_date["last_seq"] == 57
            # ...and what comes next arrives live, numbered after last_seq.
            await append_message(
                core=app.core, conversation=conversation, author=Author.OPERATOR, text="m58"
            )
            live = await ws.message("operator")
            assert (live["seq"], live["text"]) == (58, "m58")


async def test_new_conversation_history_is_empty(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        async with widget_socket(app, session["token"]) as ws:
            history = await ws.next()
        assert history == {
            "type": "history",
            "messages": [],
            "last_seq": 0,
            "mode": "ai",
            "has_more": False,
        }


# --- the visitor's frames --------------------------------------------------------------------


async def test_a_resent_client_id_is_stored_once_and_confirmed_with_the_same_message(
    settings: Settings,
) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        client_id = str(uuid.uuid4())
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()  # history
            await ws.say("Where is my order?", client_id)
            first = await ws.message("customer")
            assert first["client_id"] == client_id and first["text"] == "Where is my order?"
            assert first["seq"] == 1

            await ws.say("Where is my order?", client_id)  # the widget did not see the echo
            again = await ws.message("customer")
            assert (again["id"], again["seq"], again["client_id"]) == (
                first["id"],
                first["seq"],
                client_id,
            )

        # A resend after a reconnect (the outbox is flushed again) is the same message too.
        async with widget_socket(app, session["token"], after_seq=1) as ws:
            assert (await ws.next())["messages"] == []
            await ws.say("Where is my order?", client_id)
            third = await ws.message("customer")
            assert third["id"] == first["id"]

        stored = await stored_messages(session["conversation_id"])
        assert [(m.text, m.client_id) for m in stored] == [("Where is my order?", client_id)]


async def test_malformed_frames_get_clear_errors_and_the_socket_keeps_working(
    settings: Settings,
) -> None:
    small = settings.model_copy(update={"widget_max_text": 100})
    async with live_app(small, run_worker=False) as app:
        session = await new_session(app)
        cid = str(uuid.uuid4())

        def message(**fields: Any) -> str:
            return json.dumps({"type": "message", **fields})

        # raw frame -> (error code, client_id the error names or None)
        cases: list[tuple[str, str, str | None]] = [
            ("not json at all", "bad_frame", None),
            ("[1, 2, 3]", "bad_frame", None),
            ("null", "bad_frame", None),
            (json.dumps({"type": "dance"}), "bad_frame", None),
            (json.dumps({"text": "no type"}), "bad_frame", None),
            (message(text="hi"), "bad_client_id", None),
            (message(text="hi", client_id="abc"), "bad_client_id", "abc"),
            (message(text="hi", client_id=42), "bad_client_id", None),
            (message(text="", client_id=cid), "empty_message", cid),
            (message(text="  \n ", client_id=cid), "empty_message", cid),
            (message(client_id=cid), "empty_message", cid),
            (message(text="x" * 101, client_id=cid), "too_long", cid),
            ("x" * (100 * 4 + 1025), "too_large", None),
            (json.dumps({"type": "resume", "after_seq": "abc"}), "bad_frame", None),
            (json.dumps({"type": "resume", "after_seq": -1}), "bad_frame", None),
            (json.dumps({"type": "resume"}), "bad_frame", None),
        ]
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()  # history
            for raw, code, named in cases:
                await ws.ws.send(raw)
                error = await ws.next()
                assert error["type"] == "error", raw[:60]
                assert error["code"] == code, (raw[:60], error)
                assert isinstance(error["detail"], str) and error["detail"], raw[:60]
                assert error.get("client_id") == named, (raw[:60], error)
                if code == "too_long":
                    assert "100" in error["detail"]

            # Still open, still in business: a valid message at the limit is stored.
            ok_id = await ws.say("y" * 100)
            echo = await ws.message("customer")
            assert echo["client_id"] == ok_id and echo["seq"] == 1
            await ws.send({"type": "typing"})  # accepted silently
            await ws.send({"type": "resume", "after_seq": 0})
            history = await ws.until(lambda f: f["type"] == "history")
            assert [m["id"] for m in history["messages"]] == [echo["id"]]
            assert not [f for f in ws.frames[len(cases) + 1 :] if f["type"] == "error"]

        stored = await stored_messages(session["conversation_id"])
        assert [m.client_id for m in stored] == [ok_id]


async def test_binary_frame_is_refused_without_killing_the_socket(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()
            await ws.ws.send(b"\x00\x01binary")
            error = await ws.next()
            assert error["type"] == "error" and error["code"] == "bad_frame"
            client_id = await ws.say("still here")
            assert (await ws.message("customer"))["client_id"] == client_id


async def test_a_ping_is_answered_with_a_pong_on_a_live_socket(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()
            for _ in range(3):
                await ws.send({"type": "ping"})
                assert await ws.next() == {"type": "pong"}
            client_id = await ws.say("still here")
            assert (await ws.message("customer"))["client_id"] == client_id


# --- the server's frames ---------------------------------------------------------------------


async def test_a_message_stored_by_another_process_arrives_live(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        visitor = claims_of(session["token"])["sub"]
        # Another process: its own Redis connection and event bus, the same database.
        other_redis = Redis.from_url(app.core.settings.redis_url or "")
        other: Core = dataclasses.replace(
            app.core,
            redis=other_redis,
            state=TransientState(),
            bus=EventBus(other_redis, TransientState()),
        )
        try:
            async with widget_socket(app, session["token"]) as ws:
                await ws.next()  # history
                result = await handle_incoming_message(
                    InboundMessage(
                        channel="web",
                        external_chat_id=visitor,
                        external_user_id=visitor,
                        external_message_id=f"{visitor}:{uuid.uuid4()}",
                        text="from my phone",
                    ),
                    core=other,
                )
                assert result.created
                live = await ws.message("customer")
                assert (live["id"], live["text"]) == (result.message.id, "from my phone")

                conversation = await conversation_of(session)
                stored, _ = await append_message(
                    core=other,
                    conversation=conversation,
                    author=Author.OPERATOR,
                    text="Hi, Olga here.",
                )
                reply = await ws.message("operator")
                assert (reply["id"], reply["seq"]) == (str(stored.id), 2)
        finally:
            await other_redis.aclose()


async def test_an_ai_answer_streams_tokens_before_its_message(settings: Settings) -> None:
    answer = "Your order ships tomorrow from Hamburg."
    with FakeOpenAI() as fake:
        fake.script(TextReply(answer, token_delay=0.02))
        configured = with_model(settings, fake)
        async with live_app(configured, replier=AgentReplies(configured, [])) as app:
            session = await new_session(app)
            async with widget_socket(app, session["token"]) as ws:
                await ws.next()  # history
                await ws.say("Where is my order 42?")
                final = await ws.message("ai")
            stored = await stored_messages(session["conversation_id"])
        assert [(m.author, m.text) for m in stored] == [
            (Author.CUSTOMER, "Where is my order 42?"),
            (Author.AI, answer),
        ]
        assert str(stored[1].id) == final["id"]
        assert final["text"] == answer
        tokens = [f for f in ws.frames if f["type"] == "token"]
        assert len(tokens) >= 3, "the answer did not stream"
        assert {t["message_id"] for t in tokens} == {final["id"]}
        assert "".join(t["text"] for t in tokens) == answer
        kinds = [f["type"] for f in ws.frames]
        first_token = kinds.index("token")
        assert kinds.index("typing") < first_token  # "AI is typing…" shows first
        assert ws.frames[kinds.index("typing")]["author"] == "ai"
        assert max(i for i, k in enumerate(kinds) if k == "token") < len(kinds) - 1
        assert fake.requests[0]["stream"] is True
        assert fake.requests[0]["messages"][-1]["content"] == "Where is my order 42?"


async def test_two_sockets_of_one_conversation_each_get_every_frame_once_in_seq_order(
    settings: Settings,
) -> None:
    # NoModel: the first message hands the chat to an operator (system message + status).
    async with live_app(settings, replier=NoModel()) as app:
        session = await new_session(app)
        conversation_id = PydanticObjectId(session["conversation_id"])
        async with (
            widget_socket(app, session["token"]) as tab_a,
            widget_socket(app, session["token"]) as tab_b,
        ):
            for tab in (tab_a, tab_b):
                assert (await tab.next())["type"] == "history"

            await tab_a.say("I need help")  # 1 customer, 2 system notice, 3 waiting_operator
            for tab in (tab_a, tab_b):  # 4 nobody is online: when a person answers
                await tab.until(lambda f: f.get("seq") == 4)
            await transition(  # 5 operator, 6 "operator joined"
                core=app.core,
                conversation_id=conversation_id,
                to=Mode.OPERATOR,
                actor="operator:test",
            )
            conversation = await Conversation.get(conversation_id)
            assert conversation is not None
            await append_message(  # 7
                core=app.core,
                conversation=conversation,
                author=Author.OPERATOR,
                text="Hello, how can I help?",
            )
            await tab_b.say("My parcel is late")  # 8, sent from the other tab
            await tab_b.until(lambda f: f.get("seq") == 8)
            await transition(  # 9 ai, 10 "back to AI"
                core=app.core,
                conversation_id=conversation_id,
                to=Mode.AI,
                actor="operator:test",
            )
            for tab in (tab_a, tab_b):
                await tab.until(lambda f: f.get("seq") == 10)
        stored = await stored_messages(session["conversation_id"])

        expected = [
            (1, "message:customer"),
            (2, "message:system"),
            (3, "status:waiting_operator"),
            (4, "message:system"),
            (5, "status:operator"),
            (6, "message:system"),
            (7, "message:operator"),
            (8, "message:customer"),
            (9, "status:ai"),
            (10, "message:system"),
        ]
        seen: list[list[str]] = []
        for tab in (tab_a, tab_b):
            assert sequenced(tab.frames) == expected
            ids = [f["message"]["id"] for f in tab.frames if f["type"] == "message"]
            assert len(ids) == len(set(ids)) == 7
            seen.append(ids)
            assert not [f for f in tab.frames if f["type"] == "error"]
        assert seen[0] == seen[1]
        assert [str(m.id) for m in stored] == seen[0]


async def test_socket_keeps_serving_after_the_visitor_resumes_a_stale_token(
    settings: Settings,
) -> None:
    """A visitor back with an old (still valid) token sees the conversation they left."""
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()
            await ws.say("first visit")
            await ws.message("customer")
        resumed = await new_session(app, token=session["token"])
        async with widget_socket(app, resumed["token"]) as ws:
            history = await ws.next()
        assert [m["text"] for m in history["messages"]] == ["first visit"]


async def test_a_draft_still_streaming_after_a_take_over_is_not_shown(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app:
        session = await new_session(app)
        cid = session["conversation_id"]

        def token(text: str) -> ConversationEvent:
            return ConversationEvent(
                type="token", conversation_id=cid, data={"message_id": "draft", "text": text}
            )

        async with widget_socket(app, session["token"]) as ws:
            await ws.next()  # history
            await app.core.bus.publish(token("Your order "))
            first = await ws.until(lambda f: f["type"] == "token")
            assert first["text"] == "Your order "  # while the AI has the chat, drafts stream

            await transition(
                core=app.core,
                conversation_id=PydanticObjectId(cid),
                to=Mode.OPERATOR,
                actor="operator:olga",
                notify=False,
            )
            await ws.until(lambda f: f["type"] == "status" and f["mode"] == "operator")
            # The model's task is cancelled through the cleanup hooks, but tokens already
            # on the bus (or from a worker that has not heard yet) may still arrive.
            await app.core.bus.publish(token("ships tomorrow."))
            await app.core.bus.publish(
                ConversationEvent(type="typing", conversation_id=cid, data={"author": "operator"})
            )
            await ws.until(lambda f: f["type"] == "typing")
        assert [f["text"] for f in ws.frames if f["type"] == "token"] == ["Your order "]
