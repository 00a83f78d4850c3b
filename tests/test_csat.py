"""CSAT after a close, in each channel's own buttons (issue #25, item 7).

Closing a chat asks its customer once for a 1–5 rating: stars in the widget (its socket),
an inline keyboard on Telegram (the real aiogram client against `FakeTelegram`), numbered
options on WhatsApp (the real twilio client against `FakeTwilio`; the customer answers
"4"). A rating is stored on the conversation once, thanked once, never answered by the AI,
and the chat stays closed; analytics reads it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from bot.core.analytics import summary
from bot.core.documents import Conversation, Message, utcnow
from bot.core.operator_actions import close, takeover
from bot.core.operators import create_operator
from bot.core.types import Author, Mode
from config import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.support import eventually, live_app, new_session, widget_socket
from tests.test_quick_replies import keyboard_of, telegram, twilio, whatsapp_settings
from tests.test_telegram import message, private_chat, telegram_settings, update, user, wait_sent
from tests.test_telegram import post as telegram_post
from tests.test_whatsapp import INBOUND, answered, customer_number, inbound_form
from tests.test_whatsapp import post as twilio_post

__all__ = ["telegram", "twilio"]  # fixtures

pytestmark = pytest.mark.timeout(60)

STARS = [f"csat:{n}" for n in range(1, 6)]


async def only_conversation(channel: str) -> Conversation:
    (conversation,) = await Conversation.find(Conversation.channel == channel).to_list()
    return conversation


async def texts(conversation: Conversation, author: Author) -> list[str]:
    found = (
        await Message.find(Message.conversation_id == conversation.id, Message.author == author)
        .sort("+seq")
        .to_list()
    )
    return [m.text for m in found]


async def operator_closes(app: object, conversation: Conversation) -> None:
    operator = await create_operator(email=f"{uuid.uuid4().hex[:8]}@example.com", password="x" * 12)
    core = app.core  # type: ignore[attr-defined]
    await takeover(core=core, conversation_id=str(conversation.id), operator=operator)
    await close(core=core, conversation_id=str(conversation.id), operator=operator)


async def test_widget_stars_after_close_are_counted_once_and_not_answered(
    settings: Settings,
) -> None:
    async with live_app(settings) as app:
        session = await new_session(app, name="Rater", language="en")
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()  # history
            await ws.say("hello")
            await ws.message("ai")
            conversation = await only_conversation("web")
            await operator_closes(app, conversation)
            request = await ws.until(
                lambda f: f["type"] == "message" and bool(f["message"].get("quick_replies"))
            )
            offered = request["message"]["quick_replies"]
            assert [q["payload"] for q in offered] == STARS
            for text, payload in [("★★★★", "csat:4"), ("★★", "csat:2")]:
                await ws.send(
                    {
                        "type": "message",
                        "text": text,
                        "client_id": str(uuid.uuid4()),
                        "payload": payload,
                    }
                )
                await ws.until(
                    lambda f, t=text: f["type"] == "message" and f["message"]["text"] == t
                )

            def thanked(f: dict[str, object]) -> bool:
                m = f.get("message")
                return isinstance(m, dict) and m.get("text") == "Thank you for your rating!"

            if not any(thanked(f) for f in ws.frames):
                await ws.until(thanked)

        fresh = await Conversation.get(conversation.id)
        assert fresh is not None and fresh.csat is not None
        assert (fresh.csat["score"], fresh.csat["channel"]) == (4, "web")  # the first one
        assert fresh.csat["with_operator"] is True
        assert fresh.mode is Mode.CLOSED  # a rating reopens nothing
        system = await texts(fresh, Author.SYSTEM)
        assert system.count("Thank you for your rating!") == 1
        assert len([t for t in system if t.startswith("How would you rate")]) == 1
        assert len(await texts(fresh, Author.AI)) == 1  # only the answer to "hello"

        figures = await summary(
            start=utcnow() - timedelta(hours=1),
            end=utcnow() + timedelta(hours=1),
            channel=None,
            now=utcnow(),
        )
        assert figures.csat == {
            "count": 1,
            "average": 4.0,
            "ai_only": {"count": 0, "average": None},
            "with_operator": {"count": 1, "average": 4.0},
        }


async def test_telegram_rating_is_an_inline_keyboard_of_stars(
    settings: Settings, telegram: FakeTelegram
) -> None:
    async with live_app(telegram_settings(settings, telegram)) as app:
        uid = 7901
        await telegram_post(app, update(message=message(uid, 1, "hello")))
        await wait_sent(telegram, uid)
        await operator_closes(app, await only_conversation("telegram"))
        request = None

        async def asked() -> bool:
            nonlocal request
            request = next(
                (
                    c
                    for c in telegram.calls_to("sendMessage")
                    if "csat:1" in str(c.params.get("reply_markup"))
                ),
                None,
            )
            return request is not None

        await eventually(asked)
        assert request is not None
        (row,) = keyboard_of(request.params)  # five stars on one row
        assert [b["callback_data"] for b in row] == STARS
        press = update(
            callback_query={
                "id": "66001",
                "from": user(uid),
                "chat_instance": "-1",
                "message": {
                    "message_id": 9,
                    "from": {"id": 1, "is_bot": True, "first_name": "B"},
                    "chat": private_chat(uid),
                    "date": 1_760_000_000,
                    "text": "rate",
                    "reply_markup": {"inline_keyboard": [row]},
                },
                "data": "csat:5",
            }
        )
        assert (await telegram_post(app, press)).status_code == 200

        async def rated() -> bool:
            chat = await only_conversation("telegram")
            return chat.csat is not None

        await eventually(rated)
        chat = await only_conversation("telegram")
        assert chat.csat is not None and chat.csat["score"] == 5 and chat.mode is Mode.CLOSED


async def test_whatsapp_rating_is_numbered_and_a_digit_answers_it(
    settings: Settings, twilio: FakeTwilio
) -> None:
    async with live_app(whatsapp_settings(settings, twilio)) as app:
        number = customer_number()
        await twilio_post(app, INBOUND, inbound_form(number, "hi"))
        await answered(twilio)
        await operator_closes(app, await only_conversation("whatsapp"))

        def rating_request() -> list[str]:
            return [s.body for s in twilio.sent() if "5. ★★★★★" in (s.body or "")]

        async def asked() -> bool:
            return bool(rating_request())

        await eventually(asked)
        (body,) = rating_request()
        assert "1. ★\n2. ★★\n3. ★★★\n4. ★★★★\n5. ★★★★★" in body
        await twilio_post(app, INBOUND, inbound_form(number, "4"))

        async def rated() -> bool:
            return (await only_conversation("whatsapp")).csat is not None

        await eventually(rated)
        chat = await only_conversation("whatsapp")
        assert chat.csat is not None and chat.csat["score"] == 4 and chat.mode is Mode.CLOSED
        # A digit is a rating only as an answer to the options: later it is a message again.
        await twilio_post(app, INBOUND, inbound_form(number, "4"))

        async def reopened() -> bool:
            return (await only_conversation("whatsapp")).mode is Mode.AI

        await eventually(reopened)
