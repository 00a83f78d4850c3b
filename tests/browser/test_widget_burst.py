"""A visitor who writes again while the answer streams: the draft goes, one answer comes.

In a real Chromium against the live app; the fake model's first answer streams slowly.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from config import Settings
from tests.browser.test_widget_browser import WAIT_MS, open_chat, rendered_messages, say
from tests.fakes.openai_server import FakeOpenAI, TextReply
from tests.support import live_app, with_model

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

SLOW = (
    "Thank you for writing to us today, I am looking at your order history right now and "
    "I can already see the kettle you ordered last week, let me check the parcel for you"
)
FINAL = "Order 1234 with the blue kettle left our warehouse yesterday and arrives on Friday."


async def test_a_draft_superseded_by_the_customers_next_message_leaves_the_screen(
    browser: Browser, settings: Settings
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    with FakeOpenAI() as fake:
        fake.script(TextReply(SLOW, token_delay=0.1), TextReply(FINAL))
        try:
            async with live_app(with_model(settings, fake, llm_timeout_seconds=30)) as app:
                await open_chat(page, app.base_url)
                await say(page, "Hi, where is my kettle?")
                draft = page.locator('[data-testid="sb-message"][data-status="streaming"]')
                await expect(draft).to_contain_text("Thank you", timeout=WAIT_MS)
                await say(page, "It is order 1234, a blue kettle")
                answer = page.get_by_test_id("sb-message").filter(has_text="arrives on Friday")
                await expect(answer).to_have_count(1, timeout=WAIT_MS)
                await expect(draft).to_have_count(0, timeout=WAIT_MS)
                shown = await rendered_messages(page)
                assert [m["author"] for m in shown] == ["customer", "customer", "ai"]
                assert not any("Thank you" in m["text"] for m in shown)
        finally:
            await context.close()
