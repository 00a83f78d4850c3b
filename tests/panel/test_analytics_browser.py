"""The analytics page in a real Chromium: an admin sees the seeded figures; an operator no tab."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from bot.core.analytics import add_feedback
from bot.core.documents import Message, Operator
from tests.panel.analytics_seed import XSS_QUESTION, seed
from tests.panel.conftest import ADMIN, OPERATOR
from tests.support import LiveApp

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

SCREENSHOT = "/tmp/panel-analytics.png"
WAIT_MS = 15_000


async def test_an_admin_sees_the_seeded_figures(app: LiveApp, browser: Browser) -> None:
    found = await Operator.find_one({"email": ADMIN[0]})
    assert found is not None
    start = await seed(str(found.id))
    answer = await Message.find_one({"text": "The fees are 2 %."})
    assert answer is not None and found.id is not None
    await add_feedback(
        message_id=str(answer.id), operator_id=found.id, verdict="outdated", note=XSS_QUESTION
    )
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    try:
        await page.goto(f"{app.base_url}/panel/")
        await page.get_by_label("E-mail").fill(ADMIN[0])
        await page.get_by_label("Password").fill(ADMIN[1])
        await page.get_by_role("button", name="Sign in").click()
        tab = page.get_by_role("link", name="Analytics")
        await expect(tab).to_be_visible(timeout=WAIT_MS)
        await tab.click()
        await expect(page.locator("#analytics-page")).to_be_visible()
        await expect(page.locator("#chats-page")).to_be_hidden()
        await page.get_by_label("From").fill(start.date().isoformat())
        await page.get_by_role("button", name="Show").click()

        figure = page.get_by_test_id
        await expect(figure("figure-conversations").locator(".figure-value")).to_have_text(
            "7", timeout=WAIT_MS
        )
        await expect(figure("figure-ai-resolution").locator(".figure-value")).to_have_text("60 %")
        await expect(figure("figure-durable-resolution").locator(".figure-value")).to_have_text(
            "50 %"
        )
        await expect(figure("figure-handoffs").locator(".figure-value")).to_have_text("4")
        await expect(figure("bar-policy").locator(".bar-value")).to_have_text("1")
        await expect(figure("bar-knowledge_missing").locator(".bar-value")).to_have_text("0")
        await expect(figure("bar-first-median").locator(".bar-value")).to_have_text("20 min")
        await expect(figure("bar-first-p90").locator(".bar-value")).to_have_text("28 min")
        gaps = page.get_by_test_id("gap").locator(".gap-question")
        await expect(gaps).to_have_text(
            ["how do i pay by crypto", XSS_QUESTION.lower().rstrip("?"), "where is the office"]
        )
        marks = page.get_by_test_id("feedback")
        await expect(marks.locator(".feedback-verdict")).to_have_text(["outdated"])
        await expect(marks.locator(".feedback-note")).to_have_text([XSS_QUESTION])
        # The customer's markup is text, never HTML.
        assert await page.locator("#analytics-page img").count() == 0
        href = await page.locator("#analytics-csv").get_attribute("href")
        assert href is not None and href.startswith("/api/analytics/summary.csv?from=")
        await page.screenshot(path=SCREENSHOT, full_page=True)
        assert errors == [] and dialogs == []
    finally:
        await context.close()


async def test_an_operator_has_no_analytics_tab(app: LiveApp, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(f"{app.base_url}/panel/#/analytics")
        await page.get_by_label("E-mail").fill(OPERATOR[0])
        await page.get_by_label("Password").fill(OPERATOR[1])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#conn-state")).to_have_text("Live", timeout=WAIT_MS)
        await expect(page.locator("#nav-analytics")).to_be_hidden()
        assert await page.locator("#analytics-page").count() == 0
    finally:
        await context.close()
