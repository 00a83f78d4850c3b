"""WhatsApp's 24-hour customer-service window: the panel shows it, free text is refused
outside it, and the configured template (ContentSid + ContentVariables) goes instead —
sent by an operator, automatically for system notices, and after a 63016 failure.

The app runs on a real port; Twilio is `FakeTwilio` reached by the real `twilio` client.
"Outside the window" is made by moving the customer's last message back 25 hours in the
database, as time would.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Browser, expect
from pydantic import SecretStr

from bot.core.documents import Conversation, utcnow
from bot.core.operators import create_operator
from bot.core.types import Author, DeliveryStatus
from config import Settings
from tests.fakes.twilio_api import FakeTwilio, TwilioError
from tests.support import LiveApp, live_app
from tests.test_whatsapp import (
    ACCOUNT_SID,
    ANSWER,
    AUTH_TOKEN,
    INBOUND,
    OUR_NUMBER,
    FixedReplies,
    answered,
    assert_twiml,
    customer_number,
    inbound_form,
    post,
    replies_in,
    status_of,
)

pytestmark = pytest.mark.timeout(90)

TEMPLATE_SID = "HX" + "ab12" * 8
OPERATOR = ("wanda@example.com", "wanda-password-1")
WAIT_MS = 15_000
SCREENSHOT = "/tmp/panel-whatsapp-window.png"


def settings_for(settings: Settings, fake: FakeTwilio, *, template: bool) -> Settings:
    update: dict[str, object] = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "twilio_whatsapp_from": OUR_NUMBER,
        "twilio_api_base": fake.base_url,
    }
    if template:
        update["whatsapp_template_sid"] = TEMPLATE_SID
        update["whatsapp_template_variables"] = {"1": "{name}", "2": "{text}"}
    return settings.model_copy(update=update)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as server:
        yield server


@pytest.fixture
async def app(settings: Settings, fake: FakeTwilio) -> AsyncIterator[LiveApp]:
    configured = settings_for(settings, fake, template=True)
    async with live_app(configured, replier=FixedReplies(ANSWER)) as running:
        await create_operator(email=OPERATOR[0], password=OPERATOR[1])
        yield running


@pytest.fixture
async def app_without_template(settings: Settings, fake: FakeTwilio) -> AsyncIterator[LiveApp]:
    configured = settings_for(settings, fake, template=False)
    async with live_app(configured, replier=FixedReplies(ANSWER)) as running:
        await create_operator(email=OPERATOR[0], password=OPERATOR[1])
        yield running


@contextlib.asynccontextmanager
async def signed_in(app: LiveApp) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    async with app.client() as client:
        response = await client.post(
            "/api/auth/login", json={"email": OPERATOR[0], "password": OPERATOR[1]}
        )
        assert response.status_code == 200, response.text
        yield client, {"X-CSRF-Token": response.json()["csrf_token"]}


async def customer_wrote(app: LiveApp, fake: FakeTwilio, number: str) -> Conversation:
    """The customer writes and gets the AI's answer (inside the window)."""
    assert_twiml(await post(app, INBOUND, inbound_form(number, "where is my parcel?")))
    await answered(fake)
    conversation = await Conversation.find_one(
        Conversation.channel == "whatsapp", Conversation.external_chat_id == number
    )
    assert conversation is not None
    return conversation


async def age_window(conversation: Conversation, hours: float = 25) -> None:
    """Time passes: the customer's last message is `hours` old."""
    await Conversation.get_pymongo_collection().update_one(
        {"_id": conversation.id},
        {"$set": {"last_customer_message_at": utcnow() - timedelta(hours=hours)}},
    )


def variables_of(form: dict[str, str]) -> dict[str, str]:
    raw: dict[str, str] = json.loads(form["ContentVariables"])
    return raw


async def test_outside_the_window_free_text_is_refused_and_the_template_goes_instead(
    app: LiveApp, fake: FakeTwilio
) -> None:
    number = customer_number()
    conversation = await customer_wrote(app, fake, number)
    async with signed_in(app) as (client, csrf):
        item = (await client.get(f"/api/conversations/{conversation.id}")).json()
        assert item["window"]["open"] is True

        await age_window(conversation)
        item = (await client.get(f"/api/conversations/{conversation.id}")).json()
        assert item["window"]["open"] is False
        listed = (await client.get("/api/conversations")).json()["items"]
        assert [i["window"]["open"] for i in listed if i["id"] == str(conversation.id)] == [False]
        template = (await client.get("/api/whatsapp/template")).json()
        assert template["configured"] is True and template["content_sid"] == TEMPLATE_SID

        fake.reset()
        # Taking the chat over tells the customer: a system notice that must arrive goes as
        # the template, on its own.
        response = await client.post(f"/api/conversations/{conversation.id}/takeover", headers=csrf)
        assert response.status_code == 200, response.text
        await answered(fake)
        (notice,) = fake.sent()
        assert notice.form["ContentSid"] == TEMPLATE_SID and "Body" not in notice.form
        assert variables_of(notice.form) == {
            "1": "Dariusz Kowalczyk",
            "2": "An operator has joined the conversation.",
        }

        # Free text would fail at WhatsApp: refused with a reason, nothing reaches Twilio.
        response = await client.post(
            f"/api/conversations/{conversation.id}/messages",
            json={"text": "Hi, any news?"},
            headers=csrf,
        )
        assert response.status_code == 409
        assert "24-hour" in response.json()["detail"]
        assert "template" in response.json()["detail"]
        assert len(fake.requests) == 1

        response = await client.post(
            f"/api/conversations/{conversation.id}/messages",
            json={"text": "Your parcel\nis at the depot.", "template": True},
            headers=csrf,
        )
        assert response.status_code == 200, response.text
        assert response.json()["message"]["status"] == "sent"
        await answered(fake, 2)
        sent = fake.sent()[1]
        assert sent.form["ContentSid"] == TEMPLATE_SID and "Body" not in sent.form
        # A line break is not allowed inside a template variable: flattened.
        assert variables_of(sent.form)["2"] == "Your parcel is at the depot."
        stored = await status_of(sent.sid, DeliveryStatus.SENT)
        assert stored.author is Author.OPERATOR

        # The customer writes again: the window is open, free text goes as free text.
        assert_twiml(await post(app, INBOUND, inbound_form(number, "thanks!")))
        item = (await client.get(f"/api/conversations/{conversation.id}")).json()
        assert item["window"]["open"] is True
        response = await client.post(
            f"/api/conversations/{conversation.id}/messages",
            json={"text": "You're welcome."},
            headers=csrf,
        )
        assert response.status_code == 200, response.text
        await answered(fake, 3)
        assert fake.sent()[2].body == "You're welcome."
        assert "ContentSid" not in fake.sent()[2].form


async def test_without_a_template_the_panel_refuses_both(
    app_without_template: LiveApp, fake: FakeTwilio
) -> None:
    app = app_without_template
    conversation = await customer_wrote(app, fake, customer_number())
    await age_window(conversation)
    async with signed_in(app) as (client, csrf):
        assert (await client.get("/api/whatsapp/template")).json()["configured"] is False
        path = f"/api/conversations/{conversation.id}/messages"
        free = await client.post(path, json={"text": "hello?"}, headers=csrf)
        assert free.status_code == 409 and "24-hour" in free.json()["detail"]
        template = await client.post(path, json={"text": "", "template": True}, headers=csrf)
        assert template.status_code == 409
        assert "WHATSAPP_TEMPLATE_SID" in template.json()["detail"]
    assert len(fake.requests) == 1  # the AI's answer only


async def test_a_63016_refusal_is_sent_again_as_the_template(
    app: LiveApp, fake: FakeTwilio
) -> None:
    # Twilio's clock says the window closed (ours does not know yet): the free-form answer
    # is refused with 63016, and the template carries it instead.
    fake.script(TwilioError.outside_window())
    number = customer_number()
    assert_twiml(await post(app, INBOUND, inbound_form(number, "still there?")))
    await answered(fake)
    assert [r.status for r in fake.requests] == [400, 201]
    (sent,) = fake.sent()
    assert sent.form["ContentSid"] == TEMPLATE_SID
    assert variables_of(sent.form)["2"] == ANSWER
    reply = await status_of(sent.sid, DeliveryStatus.SENT)
    assert reply.author is Author.AI and reply.error is None


async def test_a_63016_status_report_sends_the_template(app: LiveApp, fake: FakeTwilio) -> None:
    number = customer_number()
    await customer_wrote(app, fake, number)
    (free,) = fake.sent()
    assert free.body == ANSWER
    await status_of(free.sid, DeliveryStatus.SENT)

    response = await fake.report(
        free.sid,
        "failed",
        error_code=63016,
        error_message="Failed to send freeform message because you are outside the allowed window.",
    )
    assert response.status_code == 200
    await answered(fake, 2)
    template = fake.sent()[1]
    assert template.form["ContentSid"] == TEMPLATE_SID
    assert variables_of(template.form) == {"1": "Dariusz Kowalczyk", "2": ANSWER}
    # The answer is the template's now: its reports land on the same message.
    (reply,) = [m for m in await replies_in(number) if m.author is Author.AI]
    assert reply.provider_message_id == template.sid
    assert reply.status is DeliveryStatus.SENT
    await fake.report(template.sid, "delivered")
    await status_of(template.sid, DeliveryStatus.DELIVERED)
    # A template refused the same way is final: it is not sent a third time.
    await fake.report(template.sid, "failed", error_code=63016, error_message="outside")
    failed = await status_of(template.sid, DeliveryStatus.FAILED)
    assert failed.error is not None and failed.error.startswith("63016")
    assert len(fake.sent()) == 2


@pytest.mark.browser
async def test_the_panel_shows_a_closed_window_and_sends_the_template(
    app: LiveApp, fake: FakeTwilio, browser: Browser
) -> None:
    number = customer_number()
    conversation = await customer_wrote(app, fake, number)
    await age_window(conversation)
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(f"{app.base_url}/panel/")
        await page.get_by_label("E-mail").fill(OPERATOR[0])
        await page.get_by_label("Password").fill(OPERATOR[1])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#conn-state")).to_have_text("Live", timeout=WAIT_MS)
        await page.get_by_test_id("chat-item").filter(has_text="Dariusz Kowalczyk").click()
        banner = page.locator("#window-banner")
        await expect(banner).to_be_visible(timeout=WAIT_MS)
        await expect(banner).to_contain_text("24 hours")
        await expect(page.locator("#chat-window")).to_have_text("outside the 24-hour window")
        send = page.locator("#reply-send")
        await expect(send).to_have_text("Send template")

        fake.reset()
        reply = page.get_by_label("Reply")
        await reply.fill("We have news about your parcel.")
        await page.screenshot(path=SCREENSHOT)
        await reply.press("Enter")
        # Replying takes the chat over: its notice, then the reply, both as the template.
        await answered(fake, 2)
        notice, sent = fake.sent()
        assert notice.form["ContentSid"] == sent.form["ContentSid"] == TEMPLATE_SID
        assert variables_of(sent.form)["2"] == "We have news about your parcel."
        await expect(reply).to_have_value("", timeout=WAIT_MS)

        # The customer writes: the window opens live, free text is possible again.
        assert_twiml(await post(app, INBOUND, inbound_form(number, "oh, tell me")))
        await expect(banner).to_be_hidden(timeout=WAIT_MS)
        await expect(send).to_have_text("Send")
        await expect(page.locator("#chat-window")).to_contain_text("window open until")
        assert errors == []
    finally:
        await context.close()


async def test_a_chat_of_another_channel_has_no_window(app: LiveApp) -> None:
    async with signed_in(app) as (client, csrf):
        session = (await client.post("/api/widget/sessions", json={"name": "Web visitor"})).json()
        item = (await client.get(f"/api/conversations/{session['conversation_id']}")).json()
        assert item["window"] is None
        response = await client.post(
            f"/api/conversations/{session['conversation_id']}/messages",
            json={"text": "hi", "template": True},
            headers=csrf,
        )
        assert response.status_code == 422
