"""The chat widget in a real Chromium against the live app with a (fake) AI model.

What a visitor would notice: the chat opens, a message is confirmed and answered, a server
restart shows "Reconnecting…" and then "Connected" again, nothing typed meanwhile is lost
or shown twice, and HTML typed into the chat stays text.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from beanie import PydanticObjectId
from playwright.async_api import Browser, Page, expect

import bot.core.channel_context
import channels.widget
from bot.core.conversations import append_message
from bot.core.documents import Conversation, Message
from bot.core.types import Author
from bot.server.bootstrap import running_core
from config import Settings
from tests.fakes.openai_server import FakeOpenAI, Garbage, TextReply
from tests.support import free_port, live_app, with_model

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

SCREENSHOT = "/tmp/widget.png"
WAIT_MS = 15_000  # generous for a slow CI machine; every wait ends as soon as the UI is there


async def rendered_messages(page: Page) -> list[dict[str, Any]]:
    return list(
        await page.get_by_test_id("sb-message").evaluate_all(
            """items => items.map(li => ({
                id: li.dataset.id, author: li.dataset.author, status: li.dataset.status,
                seq: li.dataset.seq, client_id: li.dataset.clientId || null,
                text: li.querySelector('.sb-text').textContent,
            }))"""
        )
    )


def message_item(page: Page, author: str, text: str) -> Any:
    return page.locator(f'[data-testid="sb-message"][data-author="{author}"]').filter(
        has=page.locator(".sb-text", has_text=text)
    )


async def say(page: Page, text: str) -> None:
    box = page.get_by_test_id("sb-input")
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")


async def open_chat(page: Page, base_url: str) -> None:
    await page.goto(f"{base_url}/")
    await page.get_by_test_id("sb-bubble").click()
    await expect(page.get_by_test_id("sb-panel")).to_be_visible()
    await expect(page.get_by_test_id("sb-status")).to_have_text("Connected", timeout=WAIT_MS)


async def test_chat_survives_a_server_restart_without_losing_or_doubling_messages(
    settings: Settings, browser: Browser
) -> None:
    port = free_port()
    context = await browser.new_context()
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
    with FakeOpenAI() as fake:
        # The first answer streams word by word; later ones echo ("ok: <what was said>").
        fake.script(TextReply("Hello! Which order is it about?", token_delay=0.03))
        configured = with_model(settings, fake)
        try:
            async with live_app(configured, port=port) as app:
                await open_chat(page, app.base_url)
                await say(page, "Hello there")
                mine = message_item(page, "customer", "Hello there")
                await expect(mine).to_have_attribute("data-status", "sent", timeout=WAIT_MS)
                await expect(mine).not_to_have_attribute("data-id", "")
                answer = message_item(page, "ai", "Hello! Which order is it about?")
                await expect(answer).to_be_visible(timeout=WAIT_MS)
                await expect(answer).not_to_have_attribute("data-status", "streaming")
                conversation_id = await page.evaluate(
                    "window.SwitchboardWidget.state().conversationId"
                )
                assert conversation_id

            # The server went away (a deploy): the widget says so and keeps what is typed.
            status = page.get_by_test_id("sb-status")
            await expect(status).to_have_text("Reconnecting…", timeout=WAIT_MS)
            await say(page, "Are you still there?")
            offline = message_item(page, "customer", "Are you still there?")
            await expect(offline).to_have_attribute("data-status", "sending")

            async with live_app(configured, port=port) as app:
                await expect(status).to_have_text("Connected", timeout=30_000)
                await expect(offline).to_have_attribute("data-status", "sent", timeout=WAIT_MS)
                await expect(message_item(page, "ai", "ok: Are you still there?")).to_be_visible(
                    timeout=WAIT_MS
                )
                await say(page, "Thanks")
                await expect(message_item(page, "ai", "ok: Thanks")).to_be_visible(timeout=WAIT_MS)
                await expect(page.get_by_test_id("sb-message")).to_have_count(6)
                await page.screenshot(path=SCREENSHOT)

                shown = await rendered_messages(page)
                stored = (
                    await Message.find(Message.conversation_id == PydanticObjectId(conversation_id))
                    .sort("+seq")
                    .to_list()
                )
        finally:
            await context.close()

    ids = [m["id"] for m in shown]
    assert all(ids) and len(ids) == len(set(ids)), f"a message is shown twice: {shown}"
    texts = [m["text"] for m in shown]
    assert len(texts) == len(set(texts)), f"a text is shown twice: {texts}"
    assert {m["status"] for m in shown if m["author"] == "customer"} == {"sent"}
    assert [(m["author"], m["text"]) for m in shown] == [
        ("customer", "Hello there"),
        ("ai", "Hello! Which order is it about?"),
        ("customer", "Are you still there?"),
        ("ai", "ok: Are you still there?"),
        ("customer", "Thanks"),
        ("ai", "ok: Thanks"),
    ]
    # Nothing lost, nothing extra: the page shows exactly what is stored, in order.
    assert [(str(m.id), m.author.value, m.text) for m in stored] == [
        (m["id"], m["author"], m["text"]) for m in shown
    ]
    assert [int(m["seq"]) for m in shown] == [m.seq for m in stored]
    assert not dialogs


async def test_html_typed_into_the_chat_is_shown_as_text(
    settings: Settings, browser: Browser
) -> None:
    payload = "<img src=x onerror=alert(1)>"
    context = await browser.new_context()
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
    with FakeOpenAI() as fake:  # the model echoes it back: "ok: <img …>"
        try:
            async with live_app(with_model(settings, fake)) as app:
                await open_chat(page, app.base_url)
                await say(page, payload)
                mine = message_item(page, "customer", payload)
                await expect(mine).to_have_attribute("data-status", "sent", timeout=WAIT_MS)
                await expect(mine.locator(".sb-text")).to_have_text(payload)
                echoed = message_item(page, "ai", f"ok: {payload}")
                await expect(echoed.locator(".sb-text")).to_have_text(
                    f"ok: {payload}", timeout=WAIT_MS
                )
                await expect(page.get_by_test_id("sb-messages").locator("img")).to_have_count(0)
                # An <img src=x> would have failed to load by now; give a dialog one more turn.
                await page.evaluate("new Promise(r => requestAnimationFrame(() => r(null)))")
        finally:
            await context.close()
    assert not dialogs, f"customer HTML was executed: {dialogs}"


async def test_an_answer_that_breaks_off_midway_does_not_stay_on_screen(
    browser: Browser, settings: Settings
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    with FakeOpenAI() as fake:
        # The stream stops after a few tokens, twice (the agent retries once): the fallback.
        fake.script(Garbage("truncated"), Garbage("truncated"))
        try:
            async with live_app(with_model(settings, fake)) as app:
                await open_chat(page, app.base_url)
                await say(page, "tell me about delivery")
                notice = page.get_by_test_id("sb-message").filter(
                    has_text="An operator will continue"
                )
                await expect(notice).to_have_count(1, timeout=WAIT_MS)
                await expect(notice).to_have_attribute("data-author", "system")
                streaming = page.locator('[data-testid="sb-message"][data-status="streaming"]')
                await expect(streaming).to_have_count(0, timeout=WAIT_MS)
                # Nobody has the panel open, so the visitor also hears when a person answers.
                busy = page.get_by_test_id("sb-message").filter(has_text="Everyone on our team")
                await expect(busy).to_have_count(1, timeout=WAIT_MS)
                authors = [m["author"] for m in await rendered_messages(page)]
                assert authors == ["customer", "system", "system"]
        finally:
            await context.close()


async def test_a_widget_back_after_a_long_absence_pages_through_everything_it_missed(
    settings: Settings, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 5 instead of 500, so a dozen missed messages need three.
    monkeypatch.setattr(bot.core.channel_context, "RESUME_PAGE", 5)
    monkeypatch.setattr(channels.widget, "HISTORY_PAGE", 5)
    port = free_port()
    context = await browser.new_context()
    page = await context.new_page()
    try:
        async with live_app(settings, port=port, run_worker=False):
            await open_chat(page, f"http://127.0.0.1:{port}")
            await say(page, "Hello there")
            mine = message_item(page, "customer", "Hello there")
            await expect(mine).to_have_attribute("data-status", "sent", timeout=WAIT_MS)
            conversation_id = await page.evaluate("window.SwitchboardWidget.state().conversationId")
        await expect(page.get_by_test_id("sb-status")).to_have_text(
            "Reconnecting…", timeout=WAIT_MS
        )
        # While the widget is away, operators write a dozen messages.
        async with running_core(settings, configure_logging=False) as core:
            conversation = await Conversation.get(PydanticObjectId(conversation_id))
            assert conversation is not None
            for n in range(12):
                await append_message(
                    core=core, conversation=conversation, author=Author.OPERATOR, text=f"note {n}"
                )
        async with live_app(settings, port=port, run_worker=False):
            await expect(message_item(page, "operator", "note 11")).to_be_visible(timeout=30_000)
            await expect(page.get_by_test_id("sb-message")).to_have_count(13)
            shown = await rendered_messages(page)
    finally:
        await context.close()
    assert [m["text"] for m in shown] == ["Hello there"] + [f"note {n}" for n in range(12)]
    assert [int(m["seq"]) for m in shown] == list(range(1, 14))
