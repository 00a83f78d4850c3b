"""The widget's words in a real Chromium: the visitor's language, the page's own texts, and
nothing that needs an emoji font to render."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from config import Settings
from tests.browser.test_widget_browser import WAIT_MS, message_item, say
from tests.support import live_app

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

# Everything the widget shows or says to a screen reader: its text, the streaming cursor
# and the labels, placeholders and titles of its elements (inside its Shadow DOM).
WIDGET_WORDS = """() => {
    const root = document.querySelector('switchboard-widget').shadowRoot;
    const words = [root.textContent];
    for (const node of root.querySelectorAll('*')) {
        for (const name of ['aria-label', 'placeholder', 'title']) {
            const value = node.getAttribute(name);
            if (value) words.push(value);
        }
        const after = getComputedStyle(node, '::after').content;
        if (after && after !== 'none' && after !== 'normal') words.push(after);
    }
    return words.join('\\n');
}"""

# Characters a page can show with ordinary text fonts: letters, marks, digits, punctuation,
# spaces, and the few symbols of Latin-1 or common currency. Emoji and dingbats (👋 📎 ✓ ▍)
# are none of these: without an emoji font they render as empty boxes.
FONT_SAFE = r"^[\p{L}\p{M}\p{N}\p{P}\p{Zs}\n+<>=|~^`$€£¥·©®°×÷±]*$"


async def font_unsafe(page: Page, text_js: str) -> list[str]:
    found: list[str] = await page.evaluate(
        f"""() => {{
            const text = ({text_js})();
            return Array.from(text).filter(ch => !new RegExp({FONT_SAFE!r}, 'u').test(ch));
        }}"""
    )
    return sorted(set(found))


async def embed_with(
    page: Page, attributes: dict[str, str], config: dict[str, Any] | None = None
) -> None:
    """Make the demo page embed the widget the way a shop's page would: attributes on its
    script tag, and optionally `window.SwitchboardWidgetConfig` set before it.

    (The demo page is served by the app itself: the widget's socket must be same-origin, and
    Chromium refuses a loopback socket from a page the test would serve from nowhere.)
    """
    setup = f"window.SwitchboardWidgetConfig = {json.dumps(config)};" if config else ""
    tag_attributes = """
        new MutationObserver((_, observer) => {
            const tag = document.querySelector('script[src="/widget.js"]');
            if (!tag) return;
            for (const [name, value] of Object.entries(ATTRIBUTES)) tag.setAttribute(name, value);
            observer.disconnect();
        }).observe(document, {childList: true, subtree: true});
    """.replace("ATTRIBUTES", json.dumps(attributes))
    await page.add_init_script(setup + tag_attributes)


async def test_the_widget_speaks_the_visitors_language(
    settings: Settings, browser: Browser
) -> None:
    context = await browser.new_context(locale="ru-RU")
    page = await context.new_page()
    try:
        async with live_app(settings, run_worker=False) as app:
            await page.goto(f"{app.base_url}/")
            bubble = page.get_by_test_id("sb-bubble")
            await expect(bubble).to_have_attribute("aria-label", "Открыть чат")
            await bubble.click()
            await expect(page.get_by_test_id("sb-status")).to_have_text(
                "Подключено", timeout=WAIT_MS
            )
            await expect(page.get_by_test_id("sb-greeting")).to_contain_text("Здравствуйте!")
            await expect(page.get_by_test_id("sb-input")).to_have_attribute(
                "placeholder", "Напишите сообщение…"
            )
            await expect(page.locator("switchboard-widget .sb-title")).to_have_text("Напишите нам")
            await say(page, "Здравствуйте, где мой заказ?")
            mine = message_item(page, "customer", "где мой заказ")
            await expect(mine).to_have_attribute("data-status", "sent", timeout=WAIT_MS)
            await expect(mine.locator('[aria-label="Отправлено"]')).to_have_count(1)
            assert await page.evaluate("window.SwitchboardWidget.state().language") == "ru"
    finally:
        await context.close()


async def test_the_embedding_page_sets_the_language_and_its_own_texts(
    settings: Settings, browser: Browser
) -> None:
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    try:
        async with live_app(settings, run_worker=False) as app:
            # A Russian shop's page, for an English-speaking browser: the page decides.
            await embed_with(page, {"data-language": "ru", "data-title": "Поддержка магазина"})
            await page.goto(f"{app.base_url}/")
            await page.get_by_test_id("sb-bubble").click()
            await expect(page.get_by_test_id("sb-status")).to_have_text(
                "Подключено", timeout=WAIT_MS
            )
            await expect(page.locator("switchboard-widget .sb-title")).to_have_text(
                "Поддержка магазина"
            )
            await expect(page.get_by_test_id("sb-greeting")).to_contain_text("Здравствуйте!")

            # Texts of the page's own, through the JS config, in the browser's language.
            other = await context.new_page()
            await embed_with(
                other,
                {"data-placeholder": "Ask about your tea…"},
                {"texts": {"greeting": "Welcome to Lantern & Leaf", "connected": "Online"}},
            )
            await other.goto(f"{app.base_url}/")
            await other.get_by_test_id("sb-bubble").click()
            await expect(other.get_by_test_id("sb-status")).to_have_text("Online", timeout=WAIT_MS)
            await expect(other.get_by_test_id("sb-greeting")).to_contain_text(
                "Welcome to Lantern & Leaf"
            )
            await expect(other.get_by_test_id("sb-input")).to_have_attribute(
                "placeholder", "Ask about your tea…"
            )
            await expect(other.get_by_test_id("sb-close")).to_have_attribute(
                "aria-label", "Close chat"
            )
    finally:
        await context.close()


@pytest.mark.parametrize("locale", ["en-US", "ru-RU"])
async def test_the_greeting_and_the_page_need_no_emoji_font(
    settings: Settings, browser: Browser, locale: str
) -> None:
    context = await browser.new_context(locale=locale)
    page = await context.new_page()
    try:
        async with live_app(settings, run_worker=False) as app:
            await page.goto(f"{app.base_url}/")
            assert await font_unsafe(page, "() => document.body.innerText") == []
            await page.get_by_test_id("sb-bubble").click()
            await expect(page.locator("switchboard-widget .sb-empty")).to_be_visible()
            assert await font_unsafe(page, WIDGET_WORDS) == []
            # A sent message, with its "sent" mark, renders without one too.
            await say(page, "hello")
            mine = page.locator('[data-testid="sb-message"][data-author="customer"]')
            await expect(mine).to_have_attribute("data-status", "sent", timeout=WAIT_MS)
            assert await font_unsafe(page, WIDGET_WORDS) == []
    finally:
        await context.close()
