"""The operator panel in a real Chromium: sign in, see a customer's chat, answer with Enter."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from bot.core.documents import PromptBlock
from tests.panel.conftest import ADMIN, OPERATOR
from tests.support import LiveApp, new_session, widget_socket

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

SCREENSHOT = "/tmp/panel.png"
WAIT_MS = 15_000
XSS = "<img src=x onerror=alert(1)>"


async def test_an_operator_answers_a_widget_customer_from_the_panel(
    app: LiveApp, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(f"{app.base_url}/panel/")
        await page.get_by_label("E-mail").fill(OPERATOR[0])
        await page.get_by_label("Password").fill("wrong-password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#login-error")).to_have_text(
            "Wrong e-mail or password.", timeout=WAIT_MS
        )
        await page.get_by_label("Password").fill(OPERATOR[1])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#conn-state")).to_have_text("Live", timeout=WAIT_MS)

        session = await new_session(app, name="Heidi Klum", language="en")
        async with widget_socket(app, session["token"]) as customer:
            await customer.next()  # history
            await customer.say(XSS)

            chat = page.get_by_test_id("chat-item").filter(has_text="Heidi Klum")
            await expect(chat).to_be_visible(timeout=WAIT_MS)
            await expect(chat.locator(".unread")).to_have_text("1")
            await expect(page).to_have_title(re.compile(r"^\(1\) "), timeout=WAIT_MS)

            await chat.click()
            await expect(page.locator("#chat-name")).to_have_text("Heidi Klum")
            customer_line = page.locator('#messages li[data-author="customer"] .text')
            await expect(customer_line).to_have_text(XSS, timeout=WAIT_MS)
            assert await page.locator("#messages img").count() == 0
            # Opening the chat reads it.
            await expect(page).to_have_title("Switchboard", timeout=WAIT_MS)
            await expect(page.locator("#chat-mode")).to_have_text("Waiting", timeout=WAIT_MS)

            reply = page.get_by_label("Reply")
            await reply.fill("Hello Heidi")
            await reply.press("Shift+Enter")
            await reply.type("how can I help?")
            await reply.press("Enter")

            received = await customer.message("operator")
            assert received["text"] == "Hello Heidi\nhow can I help?"
            await expect(reply).to_have_value("")
            await expect(page.locator("#chat-mode")).to_have_text("Operator", timeout=WAIT_MS)
            await expect(page.locator('#messages li[data-author="operator"] .text')).to_have_text(
                "Hello Heidi\nhow can I help?"
            )
            await expect(page.locator("#btn-takeover")).to_be_disabled()

            # A second customer message while the chat is open is shown live.
            await customer.say("Thanks!")
            await expect(page.locator('#messages li[data-author="customer"] .text')).to_have_text(
                [XSS, "Thanks!"], timeout=WAIT_MS
            )
            await page.screenshot(path=SCREENSHOT)

            await page.get_by_role("button", name="Hand back to AI").click()
            await expect(page.locator("#chat-mode")).to_have_text("AI", timeout=WAIT_MS)
            await customer.until(lambda f: f["type"] == "status" and f["mode"] == "ai")

        assert dialogs == []  # nothing the customer typed ran as script
        assert errors == []
    finally:
        await context.close()


async def test_an_admin_edits_prompt_blocks(app: LiveApp, browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    try:
        await page.goto(f"{app.base_url}/panel/#/prompt-blocks")
        await page.get_by_label("E-mail").fill(ADMIN[0])
        await page.get_by_label("Password").fill(ADMIN[1])
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("button", name="New block").click()
        await page.get_by_label("Name").fill("Tone of voice")
        await page.get_by_label("Text").fill("Answer briefly and kindly.")
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#block-saved")).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#block-list .block-item")).to_have_count(1)
        await expect(page.locator("#block-list .title")).to_contain_text("Tone of voice")
        await page.get_by_label("Enabled").uncheck()
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#block-list .block-item.disabled")).to_have_count(
            1, timeout=WAIT_MS
        )
        await page.screenshot(path="/tmp/panel-blocks.png")
        blocks = await PromptBlock.find_all().to_list()
        assert [(b.name, b.enabled) for b in blocks] == [("Tone of voice", False)]
    finally:
        await context.close()
