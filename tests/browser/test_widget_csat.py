"""CSAT stars in the widget, in a real Chromium: the chat is closed in the panel's name, the
visitor sees five stars under the request, clicks the fourth, and the rating is stored."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from bot.core.documents import Conversation
from config import Settings
from tests.browser.test_widget_browser import WAIT_MS, message_item, open_chat, say
from tests.support import eventually, live_app
from tests.test_csat import operator_closes

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

SCREENSHOT = "/tmp/widget-csat.png"


async def test_a_visitor_rates_a_closed_chat_with_stars(
    settings: Settings, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 1000, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        async with live_app(settings) as app:
            await open_chat(page, app.base_url)
            await say(page, "hello")
            await expect(page.locator('[data-author="ai"]').first).to_be_visible(timeout=WAIT_MS)
            (conversation,) = await Conversation.find(Conversation.channel == "web").to_list()
            await operator_closes(app, conversation)
            stars = page.get_by_test_id("sb-star")
            await expect(stars).to_have_count(5, timeout=WAIT_MS)
            await page.screenshot(path=SCREENSHOT)
            await page.get_by_role("button", name="4 of 5 stars").click()
            await expect(message_item(page, "customer", "★★★★")).to_be_visible(timeout=WAIT_MS)
            await expect(stars).to_have_count(0, timeout=WAIT_MS)

            async def rated() -> bool:
                chat = await Conversation.get(conversation.id)
                return chat is not None and chat.csat is not None

            await eventually(rated)
            chat = await Conversation.get(conversation.id)
            assert chat is not None and chat.csat is not None and chat.csat["score"] == 4
        assert errors == []
    finally:
        await context.close()
