"""Copilot in a real Chromium: the summary of a waiting chat, a draft inserted, edited and
sent to the widget customer, and a draft discarded when the customer writes again."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.panel.conftest import OPERATOR
from tests.panel.copilot_kb import Shelf, install_shelf
from tests.panel.helpers import sign_in
from tests.support import LiveApp, new_session, widget_socket

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

SCREENSHOT = "/tmp/panel-copilot.png"
WAIT_MS = 15_000
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def shelf(app: LiveApp, monkeypatch: pytest.MonkeyPatch) -> Shelf:
    return install_shelf(app, monkeypatch)


async def test_an_operator_sends_an_edited_draft_and_a_stale_one_is_discarded(
    app: LiveApp, browser: Browser, shelf: Shelf
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    try:
        await sign_in(page, app, OPERATOR)

        session = await new_session(app, name="Greta", language="en")
        async with widget_socket(app, session["token"]) as customer:
            await customer.next()  # history
            await customer.say(f"How long does delivery take? {XSS}")
            await customer.until(lambda f: f["type"] == "status" and f["mode"] != "ai")

            await page.get_by_test_id("chat-item").filter(has_text="Greta").click()
            summary = page.locator("#copilot-summary")
            await expect(summary).to_contain_text(
                f"The customer wants: How long does delivery take? {XSS}", timeout=WAIT_MS
            )
            assert await summary.locator("img").count() == 0  # customer text stays text

            await page.get_by_role("button", name="Suggest a reply").click()
            reply = page.get_by_label("Reply")
            await expect(reply).to_have_value(
                "Orders ship within 2 business days. Delivery in Europe takes 3-5 days.\n\n"
                "Is there anything else I can help you with?",
                timeout=WAIT_MS,
            )
            await expect(page.locator("#copilot-note")).to_contain_text("Shipping policy")
            await page.screenshot(path=SCREENSHOT)

            # The operator edits the draft and sends it with Enter, as any reply.
            await reply.fill("Hi Greta! Delivery in Europe takes 3-5 days.")
            await reply.press("Enter")
            received = await customer.message("operator")
            assert received["text"] == "Hi Greta! Delivery in Europe takes 3-5 days."
            await expect(reply).to_have_value("")

            # A draft the customer writes past is taken out of the reply box, with a note.
            await page.get_by_role("button", name="Suggest a reply").click()
            await expect(reply).not_to_have_value("", timeout=WAIT_MS)
            await customer.say("And can items be returned?")
            await expect(reply).to_have_value("", timeout=WAIT_MS)
            await expect(page.locator("#copilot-note")).to_contain_text("discarded")
        assert errors == [] and dialogs == []
    finally:
        await context.close()
