"""Every channel adapter refuses to send an operators' private note (issue #25, item 4).

Each adapter runs in the live app against its fake provider (Telegram Bot API, Twilio REST)
or its real socket path (widget): a note handed to `send()` fails with the refusal and
reaches nobody, while an ordinary message on the same path is delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from beanie import PydanticObjectId
from pydantic import SecretStr

from bot.answers.replies import NoModel
from bot.core.documents import Note, utcnow
from bot.core.types import Author, DeliveryStatus, MessageView, OutboundMessage
from channels.base import NOTE_REFUSED
from config import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.support import LiveApp, live_app

pytestmark = pytest.mark.timeout(60)

TOKEN = "424242:AAF-test-token_for-switchboard"
ACCOUNT_SID = "AC" + "7e57" * 8
AUTH_TOKEN = "f00dfeed" * 4
OUR_NUMBER = "whatsapp:+15550104242"
CUSTOMER = "whatsapp:+15550100001"
NOTE_TEXT = "Customer is a VIP, refund without asking"


def note() -> MessageView:
    return Note(
        id=PydanticObjectId(), conversation_id=PydanticObjectId(), text=NOTE_TEXT, after_seq=3
    ).view()


def ordinary(text: str) -> MessageView:
    return MessageView(
        id=str(PydanticObjectId()),
        conversation_id=str(PydanticObjectId()),
        seq=4,
        author=Author.OPERATOR,
        text=text,
        created_at=utcnow(),
        status=DeliveryStatus.PENDING,
    )


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as server:
        yield server


async def refuses_then_sends(app: LiveApp, channel: str, chat: str) -> None:
    output = app.core.outputs[channel]
    refused = await output.send(OutboundMessage(message=note(), external_chat_id=chat))
    assert refused.status is DeliveryStatus.FAILED
    assert refused.error == NOTE_REFUSED
    sent = await output.send(OutboundMessage(message=ordinary("Hello!"), external_chat_id=chat))
    assert sent.status is DeliveryStatus.SENT, sent.error


async def test_telegram_refuses_a_note(settings: Settings, telegram: FakeTelegram) -> None:
    configured = settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_webhook_secret": SecretStr("tg-webhook-secret-9f8e7d6c5b4a"),
            "telegram_api_base": telegram.base_url,
        }
    )
    async with live_app(configured, replier=NoModel(), run_worker=False) as app:
        await refuses_then_sends(app, "telegram", "4242")
    assert telegram.sent_to(4242) == ["Hello!"]


async def test_whatsapp_refuses_a_note(settings: Settings, twilio: FakeTwilio) -> None:
    configured = settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_whatsapp_from": OUR_NUMBER,
            "twilio_api_base": twilio.base_url,
        }
    )
    async with live_app(configured, replier=NoModel(), run_worker=False) as app:
        await refuses_then_sends(app, "whatsapp", CUSTOMER)
    assert [m.body for m in twilio.sent()] == ["Hello!"]


async def test_the_widget_refuses_a_note(settings: Settings) -> None:
    async with live_app(settings, replier=NoModel(), run_worker=False) as app:
        await refuses_then_sends(app, "web", "visitor-1")
