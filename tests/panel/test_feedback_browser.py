"""Feedback on AI answers (issue #25, item 8) in a real Chromium: an operator marks an AI
answer in the chat view, the message shows the mark (also after a reload), and an admin
finds it listed beside the knowledge gaps on the analytics page."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from bot.core.conversations import append_message, get_conversation
from bot.core.types import Author
from tests.panel.conftest import ADMIN, OPERATOR
from tests.panel.helpers import customer_writes, sign_in
from tests.support import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

ANSWER = "Returns are free within 14 days."
NOTE = "<img src=x onerror=alert(1)> misses the 30-day rule"
WAIT_MS = 15_000
SCREENSHOT = "/tmp/panel-feedback.png"


async def test_an_operator_marks_an_ai_answer_and_the_admin_sees_it(
    app: LiveApp, browser: Browser
) -> None:
    customer = await customer_writes(app, "Fiona Feedback", "Can I return shoes?")
    conversation = await get_conversation(customer.conversation_id)
    assert conversation is not None
    await append_message(core=app.core, conversation=conversation, author=Author.AI, text=ANSWER)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    try:
        await sign_in(page, app, OPERATOR)
        await page.get_by_test_id("chat-item").filter(has_text="Fiona Feedback").click()
        answer = page.locator('#messages li[data-author="ai"]').filter(has_text=ANSWER)
        await expect(answer).to_be_visible(timeout=WAIT_MS)
        # Only AI answers can be marked: the customer's message has no control.
        customer_msg = page.locator('#messages li[data-author="customer"]')
        assert await customer_msg.get_by_test_id("feedback-box").count() == 0
        await answer.get_by_text("Feedback", exact=True).click()
        await answer.get_by_label("Feedback verdict").select_option("incomplete")
        await answer.get_by_label("Feedback note").fill(NOTE)
        await answer.get_by_role("button", name="Send feedback").click()
        mark = answer.get_by_test_id("feedback-marks")
        await expect(mark.locator(".feedback-mark-verdict")).to_have_text(
            ["Incomplete"], timeout=WAIT_MS
        )
        await expect(mark.locator(".feedback-mark-note")).to_have_text([NOTE])
        assert await page.locator("#messages img").count() == 0  # the note is text
        await page.screenshot(path=SCREENSHOT)
        # Stored: a reload shows the mark on the answer again.
        await page.reload()
        await page.get_by_test_id("chat-item").filter(has_text="Fiona Feedback").click()
        await expect(
            answer.get_by_test_id("feedback-marks").locator(".feedback-mark-verdict")
        ).to_have_text(["Incomplete"], timeout=WAIT_MS)
        await page.get_by_role("button", name="Sign out").click()

        await page.get_by_label("E-mail").fill(ADMIN[0])
        await page.get_by_label("Password").fill(ADMIN[1])
        await page.get_by_role("button", name="Sign in").click()
        tab = page.get_by_role("link", name="Analytics")
        await expect(tab).to_be_visible(timeout=WAIT_MS)
        await tab.click()
        listed = page.get_by_test_id("feedback")
        await expect(listed.locator(".feedback-verdict")).to_have_text(
            ["incomplete"], timeout=WAIT_MS
        )
        await expect(listed.locator(".feedback-note")).to_have_text([NOTE])
        await expect(listed.locator("a")).to_have_text([ANSWER])
        assert await page.locator("#analytics-page img").count() == 0
        assert errors == [] and dialogs == []
    finally:
        await context.close()
