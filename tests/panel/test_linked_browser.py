"""Linking one customer's widget and Telegram contacts in the panel, in a real Chromium."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.panel.conftest import OPERATOR
from tests.panel.helpers import customer_writes, sign_in
from tests.panel.test_linked_contacts import telegram_writes
from tests.support import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

WAIT_MS = 15_000
XSS = "<img src=x onerror=alert(1)>"


async def test_an_operator_links_a_customers_contacts_and_reads_one_history(
    app: LiveApp, browser: Browser
) -> None:
    web = await customer_writes(app, "Greta Web", "I want to talk to a human")
    await telegram_writes(app, "tg-greta", XSS, 1)  # "Anna K" on Telegram
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await sign_in(page, app, OPERATOR, f"#/chats/{web.conversation_id}")
        await expect(page.locator("#chat-name")).to_have_text("Greta Web", timeout=WAIT_MS)

        await page.locator("#linked-toggle").click()
        box = page.locator("#linked-box")
        await expect(box).to_contain_text("not linked", timeout=WAIT_MS)
        await page.get_by_label("Find a contact to link").fill("anna")
        await page.get_by_label("Find a contact to link").press("Enter")
        result = page.locator("#linked-results li").filter(has_text="Telegram · Anna K")
        await result.get_by_role("button", name="Link").click()

        await expect(page.locator("#linked-contacts li")).to_have_count(2, timeout=WAIT_MS)
        await expect(page.locator("#linked-reply-to")).to_contain_text("Telegram")
        await page.locator("#linked-history-toggle").click()
        telegram_line = page.locator(
            '#linked-history li.author-customer[data-channel="telegram"] .linked-text'
        )
        await expect(telegram_line).to_have_text(XSS, timeout=WAIT_MS)
        await expect(page.locator('#linked-history li[data-channel="web"]').first).to_be_visible()
        assert await page.locator("#linked-box img").count() == 0
        await page.screenshot(path="/tmp/panel-linked.png")

        unlink = page.locator("#linked-contacts li").filter(has_text="Telegram")
        await unlink.get_by_role("button", name="Unlink").click()
        await expect(box).to_contain_text("not linked", timeout=WAIT_MS)
        assert errors == []
    finally:
        await context.close()
