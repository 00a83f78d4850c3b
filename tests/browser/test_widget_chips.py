"""Quick-reply chips in the widget, in a real Chromium: offered under the latest answer, a
press is sent as the visitor's message (with the button's payload), then the chips go."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from bot.answers.model_context import ModelContext
from bot.answers.replies import Reply, TokenSink
from bot.core.documents import Message
from bot.core.types import Author, QuickReply
from config import Settings
from tests.browser.test_widget_browser import WAIT_MS, message_item, open_chat, say
from tests.support import eventually, live_app

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

SCREENSHOT = "/tmp/widget-chips.png"
XSS = "<b>Maybe</b>"


class AsksOnce:
    """The first answer asks a yes/no question with chips; later ones just thank."""

    def __init__(self) -> None:
        self.calls = 0

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        self.calls += 1
        if self.calls == 1:
            return Reply(
                text="Shall I book the appointment?",
                quick_replies=[
                    QuickReply(title="Yes", payload="book:yes"),
                    QuickReply(title="No", payload="book:no"),
                    QuickReply(title=XSS),
                ],
            )
        return Reply(text="Thanks, noted.")


async def test_a_visitor_presses_a_chip(settings: Settings, browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 1000, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        async with live_app(settings, replier=AsksOnce()) as app:
            await open_chat(page, app.base_url)
            await say(page, "hello")
            chips = page.get_by_test_id("sb-chip")
            await expect(chips).to_have_text(["Yes", "No", XSS], timeout=WAIT_MS)
            await page.screenshot(path=SCREENSHOT)
            await chips.filter(has_text="Yes").click()
            mine = message_item(page, "customer", "Yes")
            await expect(mine).to_have_attribute("data-status", "sent", timeout=WAIT_MS)
            await expect(message_item(page, "ai", "Thanks, noted.")).to_be_visible(timeout=WAIT_MS)
            # The question is no longer the latest message: its chips are gone.
            await expect(chips).to_have_count(0)

            async def stored() -> bool:
                found = await Message.find(
                    Message.channel == "web",
                    Message.author == Author.CUSTOMER,
                    Message.text == "Yes",
                ).to_list()
                return (
                    bool(found) and getattr(found[0].attachments[0], "payload", None) == "book:yes"
                )

            await eventually(stored)
        assert errors == []
    finally:
        await context.close()
