"""Quick replies: buttons the agent or an operator offers, in each channel's own form, and a
press that comes back as an ordinary customer message with its payload.

Telegram: the real aiogram client against `FakeTelegram` (inline keyboard out, a
callback_query in, answerCallbackQuery). WhatsApp: the real twilio client against
`FakeTwilio` (numbered options, or the quick-reply content template). Widget: its socket.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.answers.model_context import ModelContext
from bot.answers.replies import Reply, TokenSink
from bot.core.documents import Message
from bot.core.types import Author, QuickReply
from config import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.support import eventually, live_app, new_session, widget_socket
from tests.test_telegram import (
    TOKEN,
    message,
    private_chat,
    telegram_settings,
    update,
    user,
    wait_sent,
)
from tests.test_telegram import post as telegram_post
from tests.test_whatsapp import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    INBOUND,
    OUR_NUMBER,
    answered,
    customer_number,
    inbound_form,
)
from tests.test_whatsapp import post as twilio_post

pytestmark = pytest.mark.timeout(60)

QUESTION = "Did that answer help?"
BUTTONS = [QuickReply(title="Yes", payload="helpful:yes"), QuickReply(title="No")]
QUICK_SID = "HX" + "cd34" * 8


class OffersButtons:
    """Answers every message with a yes/no question and its buttons."""

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        return Reply(text=QUESTION, quick_replies=list(BUTTONS))


async def customer_texts(channel: str) -> list[Message]:
    return (
        await Message.find(Message.channel == channel, Message.author == Author.CUSTOMER)
        .sort("+seq")
        .to_list()
    )


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


def keyboard_of(params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    markup = params["reply_markup"]
    if isinstance(markup, str):
        markup = json.loads(markup)
    rows: list[list[dict[str, Any]]] = markup["inline_keyboard"]
    return rows


async def test_telegram_shows_an_inline_keyboard_and_a_press_is_a_message(
    settings: Settings, telegram: FakeTelegram
) -> None:
    async with live_app(telegram_settings(settings, telegram), replier=OffersButtons()) as app:
        uid = 7801
        response = await telegram_post(app, update(message=message(uid, 1, "hello")))
        assert response.status_code == 200
        await wait_sent(telegram, uid)
        (sent,) = telegram.calls_to("sendMessage")
        assert sent.params["text"] == QUESTION
        rows = keyboard_of(sent.params)
        assert rows == [
            [
                {"text": "Yes", "callback_data": "helpful:yes"},
                {"text": "No", "callback_data": "No"},
            ]
        ]

        press = update(
            callback_query={
                "id": "55001",
                "from": user(uid),
                "message": {
                    "message_id": 2,
                    "from": {"id": 424242, "is_bot": True, "first_name": "Switchboard"},
                    "chat": private_chat(uid),
                    "date": 1_760_000_000,
                    "text": QUESTION,
                    "reply_markup": {"inline_keyboard": rows},
                },
                "chat_instance": "-4400110022",
                "data": "helpful:yes",
            }
        )
        assert (await telegram_post(app, press)).status_code == 200

        async def pressed() -> bool:
            return len(await customer_texts("telegram")) == 2

        await eventually(pressed)
        last = (await customer_texts("telegram"))[-1]
        assert last.text == "Yes"
        assert [(a.kind, a.name, getattr(a, "payload", None)) for a in last.attachments] == [
            ("button_reply", "Yes", "helpful:yes")
        ]
        answered_ids = [
            c.params["callback_query_id"] for c in telegram.calls_to("answerCallbackQuery")
        ]
        assert answered_ids == ["55001"]
        # An ordinary message: the AI answers it like any other.
        await wait_sent(telegram, uid, 2)


@pytest.fixture
def twilio() -> AsyncIterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as server:
        yield server  # type: ignore[misc]


def whatsapp_settings(settings: Settings, fake: FakeTwilio, **extra: object) -> Settings:
    return settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_whatsapp_from": OUR_NUMBER,
            "twilio_api_base": fake.base_url,
            **extra,
        }
    )


async def test_whatsapp_without_a_quick_reply_template_numbers_the_options(
    settings: Settings, twilio: FakeTwilio
) -> None:
    async with live_app(whatsapp_settings(settings, twilio), replier=OffersButtons()) as app:
        await twilio_post(app, INBOUND, inbound_form(customer_number(), "hi"))
        await answered(twilio)
        (sent,) = twilio.sent()
        assert sent.body == f"{QUESTION}\n\n1. Yes\n2. No"
        assert "ContentSid" not in sent.form


async def test_whatsapp_sends_the_quick_reply_template_and_a_tap_is_a_message(
    settings: Settings, twilio: FakeTwilio
) -> None:
    configured = whatsapp_settings(settings, twilio, whatsapp_quick_reply_sid=QUICK_SID)
    async with live_app(configured, replier=OffersButtons()) as app:
        number = customer_number()
        await twilio_post(app, INBOUND, inbound_form(number, "hi"))
        await answered(twilio)
        (sent,) = twilio.sent()
        assert sent.form["ContentSid"] == QUICK_SID and "Body" not in sent.form
        assert json.loads(sent.form["ContentVariables"]) == {"1": QUESTION, "2": "Yes", "3": "No"}
        tap = inbound_form(
            number, "Yes", ButtonText="Yes", ButtonPayload="helpful:yes", MessageType="button"
        )
        await twilio_post(app, INBOUND, tap)
        last = (await customer_texts("whatsapp"))[-1]
        assert last.text == "Yes"
        assert [(a.kind, getattr(a, "payload", None)) for a in last.attachments] == [
            ("button_reply", "helpful:yes")
        ]


async def test_widget_frames_carry_chips_and_a_press_carries_its_payload(
    settings: Settings,
) -> None:
    async with live_app(settings, replier=OffersButtons()) as app:
        session = await new_session(app, name="Chip tester", language="en")
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()  # history
            await ws.say("hello")
            mine = await ws.message("customer")
            assert "quick_replies" not in mine  # messages without buttons keep their shape
            answer = await ws.message("ai")
            assert answer["quick_replies"] == [
                {"title": "Yes", "payload": "helpful:yes"},
                {"title": "No", "payload": None},
            ]
            await ws.send(
                {
                    "type": "message",
                    "text": "Yes",
                    "client_id": str(uuid.uuid4()),
                    "payload": "helpful:yes",
                }
            )
            await ws.until(lambda f: f["type"] == "message" and f["message"]["text"] == "Yes")
        last = (await customer_texts("web"))[-1]
        assert last.text == "Yes"
        assert [(a.kind, getattr(a, "payload", None)) for a in last.attachments] == [
            ("button_reply", "helpful:yes")
        ]
