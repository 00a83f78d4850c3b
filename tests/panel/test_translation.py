"""Translation for operators (issue #25, item 2), through the panel's REST API.

With a model (the real langchain-openai client against the fake OpenAI server on loopback):
a Russian customer's message is shown in the operator's English, PII-masked on its way to
the model and cached on the message; the operator's English reply reaches the widget in
Russian with the original kept for operators. Without a model the panel hears that
translation is unavailable; a failing or slow model never stops the reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bot.answers.translation import UNAVAILABLE, Translator
from bot.core.documents import Message
from tests.fakes.openai_server import Delay, ErrorReply, FakeOpenAI, TextReply, last_user_text
from tests.panel.conftest import OPERATOR, SignedIn
from tests.panel.helpers import customer_writes, sign_in
from tests.support import LiveApp, widget_socket, with_model

pytestmark = pytest.mark.timeout(60)

WAIT_MS = 15_000
SCREENSHOT = "/tmp/panel-translation.png"

QUESTION = "Здравствуйте, мой email ivan@example.com, где мой заказ?"
REPLY = "Your order ships today, we will write to ivan@example.com"
# What the fake model answers for each masked text it is given.
TRANSLATIONS = {
    "Здравствуйте, мой email [EMAIL], где мой заказ?": (
        "Hello, my email is [EMAIL], where is my order?"
    ),
    "Your order ships today, we will write to [EMAIL]": (
        "Ваш заказ отправят сегодня, напишем на [EMAIL]"
    ),
}


def translate(body: dict[str, Any]) -> TextReply:
    text = last_user_text(body)
    return TextReply(TRANSLATIONS.get(text, f"untranslated: {text}"))


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default=translate) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> FakeOpenAI:
    fake_server.reset()
    return fake_server


@pytest.fixture
def translating(app: LiveApp, fake: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The app's translator on the fake model (the app itself runs without one)."""
    state = app.server.config.app.state
    state.translator = Translator.from_settings(with_model(app.core.settings, fake))
    try:
        yield fake
    finally:
        del state.translator


async def _customer_message(conversation_id: str) -> Message:
    found = await Message.find_one({"text": QUESTION})
    assert found is not None and str(found.conversation_id) == conversation_id
    return found


async def test_a_customer_message_is_shown_in_the_operators_language(
    app: LiveApp, operator: SignedIn, translating: FakeOpenAI
) -> None:
    customer = await customer_writes(app, "Иван", QUESTION)
    state = (await operator.client.get("/api/translation")).json()
    assert state == {"available": True, "detail": None, "language": None, "enabled": True}
    changed = await operator.client.put(
        "/api/translation", json={"language": "en-GB"}, headers=operator.headers()
    )
    assert changed.json()["language"] == "en"
    message = await _customer_message(customer.conversation_id)
    path = f"/api/messages/{message.id}/translation"
    assert (await operator.client.post(path, json={})).status_code == 403  # no CSRF token

    shown = await operator.post(path, {})
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["text"] == "Hello, my email is ivan@example.com, where is my order?"
    assert (body["source"], body["target"], body["cached"]) == ("ru", "en", False)
    # The model saw the text masked, and was asked for English.
    [request] = translating.requests
    assert "ivan@example.com" not in str(request)
    assert "[EMAIL]" in last_user_text(request)
    assert "English" in request["messages"][0]["content"]

    again = (await operator.post(path, {})).json()
    assert again["text"] == body["text"] and again["cached"] is True
    assert len(translating.requests) == 1
    # Into the customer's own language there is nothing to translate.
    same = (await operator.post(path, {"language": "ru"})).json()
    assert same["text"] is None and len(translating.requests) == 1
    system = await Message.find_one(
        {"conversation_id": message.conversation_id, "author": "system"}
    )
    assert system is not None
    assert (await operator.post(f"/api/messages/{system.id}/translation", {})).status_code == 404


async def test_the_reply_reaches_the_customer_in_their_language_with_the_original_kept(
    app: LiveApp, operator: SignedIn, translating: FakeOpenAI
) -> None:
    customer = await customer_writes(app, "Иван", QUESTION)
    cid = customer.conversation_id
    async with widget_socket(app, customer.token) as widget:
        await widget.next()  # history
        sent = await operator.post(
            f"/api/conversations/{cid}/translated-reply", {"text": REPLY, "language": "en"}
        )
        assert sent.status_code == 200, sent.text
        received = await widget.message("operator")
    expected = "Ваш заказ отправят сегодня, напишем на ivan@example.com"
    assert received["text"] == expected
    assert all(REPLY not in str(frame) for frame in widget.frames)  # the original stays ours
    assert "ivan@example.com" not in str(translating.requests)
    body = sent.json()
    assert body["translation"] == {"status": "translated", "detail": None}
    assert body["message"]["translation"] == {"original": REPLY, "from": "en", "to": "ru"}
    items = (await operator.client.get(f"/api/conversations/{cid}/messages")).json()["items"]
    [reply] = [m for m in items if m["author"] == "operator"]
    assert reply["text"] == expected and reply["translation"]["original"] == REPLY
    assert reply["status"] == "sent"


async def test_without_a_model_translation_is_unavailable(app: LiveApp, operator: SignedIn) -> None:
    customer = await customer_writes(app, "Иван", QUESTION)
    state = (await operator.client.get("/api/translation")).json()
    assert state["available"] is False and state["detail"] == UNAVAILABLE
    message = await _customer_message(customer.conversation_id)
    refused = await operator.post(f"/api/messages/{message.id}/translation", {"language": "en"})
    assert refused.status_code == 503 and refused.json()["detail"] == UNAVAILABLE
    async with app.client() as anonymous:
        assert (await anonymous.get("/api/translation")).status_code == 401


@pytest.mark.parametrize("failure", ["error", "timeout"])
async def test_a_failing_model_never_stops_the_reply(
    app: LiveApp, operator: SignedIn, translating: FakeOpenAI, failure: str
) -> None:
    state = app.server.config.app.state
    state.translator.timeout_s = 0.5
    translating.script(ErrorReply.server_error() if failure == "error" else Delay(3))
    customer = await customer_writes(app, "Иван", QUESTION)
    cid = customer.conversation_id
    async with widget_socket(app, customer.token) as widget:
        await widget.next()  # history
        sent = await operator.post(
            f"/api/conversations/{cid}/translated-reply", {"text": REPLY, "language": "en"}
        )
        assert sent.status_code == 200, sent.text
        received = await widget.message("operator")
    assert received["text"] == REPLY  # as written
    body = sent.json()
    assert body["translation"]["status"] == "failed"
    assert body["message"]["translation"]["error"] == body["translation"]["detail"]
    assert ("did not answer within" in body["translation"]["detail"]) is (failure == "timeout")


MARKUP = "<img src=x> Срочно: где мой заказ, пожалуйста?"


@pytest.mark.browser
async def test_the_panel_shows_translations_and_sends_the_reply_translated(
    app: LiveApp, browser: Browser, translating: FakeOpenAI
) -> None:
    customer = await customer_writes(app, "Иван Петров", QUESTION)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    try:
        async with widget_socket(app, customer.token) as widget:
            await widget.next()  # history
            await widget.say(MARKUP)
            await widget.message("customer")
            await sign_in(page, app, OPERATOR)
            await page.get_by_test_id("chat-item").filter(has_text="Иван Петров").click()
            shown = page.locator('#messages li[data-author="customer"]').get_by_test_id(
                "translation"
            )
            await expect(shown.locator(".translation-text")).to_have_text(
                [
                    "Hello, my email is ivan@example.com, where is my order?",
                    f"untranslated: {MARKUP}",
                ],
                timeout=WAIT_MS,
            )
            await expect(page.locator("#translation-toggle")).to_be_checked()
            await expect(page.locator("#translation-status")).to_contain_text("you: en")
            assert await page.locator("#messages img").count() == 0  # text, never HTML
            reply = page.get_by_label("Reply")
            await reply.fill(REPLY)
            await reply.press("Enter")
            received = await widget.message("operator")
            assert received["text"] == "Ваш заказ отправят сегодня, напишем на ivan@example.com"
            original = page.get_by_test_id("translation-original")
            await expect(original.locator(".translation-text")).to_have_text(REPLY, timeout=WAIT_MS)
            await expect(page.locator('#messages li[data-author="operator"] .bubble')).to_have_text(
                received["text"]
            )
            await expect(reply).to_have_value("")
            await expect(page.locator('#messages li[data-author="operator"]')).to_have_attribute(
                "data-status", "sent"
            )
            await page.screenshot(path=SCREENSHOT)
            assert all(REPLY not in str(frame) for frame in widget.frames)
        # Off: the customer's messages stay untranslated and the reply goes as written.
        await page.locator("#translation-toggle").uncheck()
        await expect(page.get_by_test_id("translation")).to_have_count(0)
        await expect(page.locator("#translation-status")).to_have_text("Translation off")
        assert errors == [] and dialogs == []
    finally:
        await context.close()


@pytest.mark.browser
async def test_without_a_model_the_panel_says_translation_is_unavailable(
    app: LiveApp, browser: Browser
) -> None:
    await customer_writes(app, "Иван Петров", QUESTION)
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    try:
        await sign_in(page, app, OPERATOR)
        await page.get_by_test_id("chat-item").filter(has_text="Иван Петров").click()
        await expect(page.locator("#translation-status")).to_have_text(
            "Translation unavailable: no chat model is configured", timeout=WAIT_MS
        )
        await expect(page.locator("#translation-toggle")).to_be_disabled()
        await expect(page.get_by_test_id("translation")).to_have_count(0)
        await page.screenshot(path="/tmp/panel-translation-unavailable.png")
    finally:
        await context.close()
