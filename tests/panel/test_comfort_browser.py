"""Panel comfort in a real Chromium: dark theme, a phone's layout, alerts for a waiting chat,
and a chat view that stays at the newest message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from beanie import PydanticObjectId
from bson import ObjectId
from playwright.async_api import Browser, BrowserContext, Page, expect

from bot.core.conversations import append_message
from bot.core.documents import Conversation, Operator
from bot.core.types import Author, ConversationEvent, Source
from tests.panel.analytics_seed import seed
from tests.panel.conftest import ADMIN, OPERATOR, SignedIn
from tests.panel.helpers import customer_writes, panel, sign_in
from tests.support import LiveApp, widget_socket

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

WAIT_MS = 15_000
LIGHT_BG = "rgb(244, 245, 248)"
DARK_BG = "rgb(18, 21, 28)"

# Every visible piece of text whose colour against the background behind it is below the
# WCAG AA ratio (4.5:1); disabled controls are exempt, as WCAG has them.
LOW_CONTRAST_JS = """
() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const behind = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0)) return c;
    }
    return rgb(getComputedStyle(document.documentElement).backgroundColor);
  };
  const low = [];
  for (const node of document.querySelectorAll("body *")) {
    const own = [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    if (!own || !node.checkVisibility() || node.closest(":disabled")) continue;
    if (["OPTION", "SCRIPT", "STYLE"].includes(node.tagName)) continue;
    const a = lum(rgb(getComputedStyle(node).color));
    const b = lum(behind(node));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${node.tagName}#${node.id}.${node.className}: ${ratio.toFixed(2)}`);
  }
  return low;
}
"""


async def until(page: Page, condition: str) -> None:
    """Poll a JS condition (the panel's CSP forbids the eval that wait_for_function needs)."""
    deadline = asyncio.get_running_loop().time() + WAIT_MS / 1000
    while not await page.evaluate(condition):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never true: {condition}")
        await asyncio.sleep(0.05)


async def background(page: Page) -> str:
    return str(await page.evaluate("getComputedStyle(document.documentElement).backgroundColor"))


async def low_contrast(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(LOW_CONTRAST_JS)
    return found


async def test_the_dark_theme_follows_the_system_and_the_operators_choice(
    app: LiveApp, browser: Browser
) -> None:
    found = await Operator.find_one({"email": ADMIN[0]})
    assert found is not None
    start = await seed(str(found.id))  # the analytics page with charts to read
    await customer_writes(app, "Dora Dark", "Is my parcel lost?")
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, color_scheme="light"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Whether <html> carried the stored theme when <body> came: set before the first paint.
    await context.add_init_script(
        """new MutationObserver((_, observer) => {
             if (!document.body) return;
             window.__themeAtBody = document.documentElement.dataset.theme || "";
             observer.disconnect();
           }).observe(document, { childList: true, subtree: true });"""
    )
    try:
        await page.goto(f"{app.base_url}/panel/")
        await page.emulate_media(color_scheme="dark")
        assert await background(page) == DARK_BG
        assert await low_contrast(page) == []  # the login card
        await page.emulate_media(color_scheme="light")
        await sign_in(page, app, ADMIN)
        assert await background(page) == LIGHT_BG
        await page.get_by_test_id("chat-item").filter(has_text="Dora Dark").click()
        await expect(page.locator("#messages li[data-author=customer]")).to_have_count(1)
        assert await low_contrast(page) == []
        await page.screenshot(path="/tmp/panel-comfort-light.png")

        theme = page.get_by_label("Theme")
        await theme.select_option("dark")
        assert await background(page) == DARK_BG
        assert await low_contrast(page) == []
        await page.screenshot(path="/tmp/panel-comfort-dark.png")
        await page.reload()
        await expect(page.locator("#conn-state")).to_have_text("Live", timeout=WAIT_MS)
        assert await page.evaluate("window.__themeAtBody") == "dark"
        assert await background(page) == DARK_BG  # though the system is light
        await expect(page.get_by_label("Theme")).to_have_value("dark")
        await page.goto(f"{app.base_url}/panel/#/analytics")
        await expect(page.locator("#conn-state")).to_have_text("Live", timeout=WAIT_MS)
        await expect(page.locator("#nav-analytics")).to_have_attribute("aria-current", "page")
        await page.get_by_label("From").fill(start.date().isoformat())
        await page.get_by_role("button", name="Show").click()
        await expect(page.get_by_test_id("bar-policy").locator(".bar-value")).to_have_text(
            "1", timeout=WAIT_MS
        )
        assert await low_contrast(page) == []
        await page.screenshot(path="/tmp/panel-comfort-dark-analytics.png")

        await page.get_by_label("Theme").select_option("system")
        assert await background(page) == LIGHT_BG
        await page.emulate_media(color_scheme="dark")
        assert await background(page) == DARK_BG
        assert errors == []
    finally:
        await context.close()


async def test_on_a_phone_the_list_and_the_chat_are_one_column(
    app: LiveApp, browser: Browser
) -> None:
    customer = await customer_writes(app, "Pia Phone", "Can I change my delivery address?")
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    overflow = "document.documentElement.scrollWidth - window.innerWidth"
    try:
        await sign_in(page, app, OPERATOR)
        chat = page.get_by_test_id("chat-item").filter(has_text="Pia Phone")
        await expect(chat).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#chat-view")).to_be_hidden()
        assert await page.evaluate(overflow) <= 0
        await page.screenshot(path="/tmp/panel-comfort-phone-list.png")

        await chat.tap()
        await expect(page.locator("#chat-name")).to_have_text("Pia Phone")
        await expect(page.locator("#chat-list")).to_be_hidden()
        reply = page.get_by_label("Reply")
        box = await reply.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["y"] + box["height"] <= 844
        assert await page.evaluate(overflow) <= 0
        async with widget_socket(app, customer.token) as ws:
            await ws.next()  # history
            await reply.fill("Yes, tell me the new one")
            await page.get_by_role("button", name="Send").tap()
            assert (await ws.message("operator"))["text"] == "Yes, tell me the new one"
        await expect(reply).to_have_value("", timeout=WAIT_MS)
        assert await page.evaluate(overflow) <= 0
        await page.screenshot(path="/tmp/panel-comfort-phone-chat.png")
        await page.emulate_media(color_scheme="dark")
        assert await low_contrast(page) == []
        await page.screenshot(path="/tmp/panel-comfort-phone-dark.png")

        await page.get_by_role("button", name="Back to chats").tap()
        await expect(chat).to_be_visible()
        await expect(page.locator("#chat-view")).to_be_hidden()
        await page.get_by_role("link", name="Prompt blocks").tap()
        await expect(page.locator("#blocks-page")).to_be_visible()
        assert await page.evaluate(overflow) <= 0
    finally:
        await context.close()


# Records what the page asks of the Notification API and how often it starts a tone.
RECORD_ALERTS_JS = """
(() => {
  window.__notices = [];
  window.__tones = 0;
  const Real = window.Notification;
  class Recorded {
    constructor(title, options) {
      window.__notices.push({ title, tag: (options && options.tag) || "" });
    }
    close() {}
    static get permission() { return Real.permission; }
    static requestPermission() { return Real.requestPermission(); }
  }
  window.Notification = Recorded;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__tones += 1;
    return start.apply(this, args);
  };
})();
"""


async def notices(page: Page) -> list[dict[str, str]]:
    found: list[dict[str, str]] = await page.evaluate("window.__notices")
    return found


async def alert_page(app: LiveApp, browser: Browser) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    await context.grant_permissions(["notifications"], origin=app.base_url)
    await context.add_init_script(RECORD_ALERTS_JS)
    page = await context.new_page()
    await sign_in(page, app, OPERATOR)
    return context, page


async def test_a_new_waiting_chat_rings_and_notifies_once(
    app: LiveApp, browser: Browser, admin: SignedIn
) -> None:
    context, page = await alert_page(app, browser)
    try:
        bell = page.locator("#alerts-toggle")
        await expect(bell).to_have_attribute("aria-pressed", "false")
        await bell.click()
        await expect(bell).to_have_attribute("aria-pressed", "true")

        first = await customer_writes(app, "Nina Notify", "I need a person please")
        await until(page, "window.__notices.length >= 1")
        assert await notices(page) == [
            {
                "title": "Nina Notify is waiting for an operator",
                "tag": f"sb-waiting-{first.conversation_id}",
            }
        ]
        assert await page.evaluate("window.__tones") > 0  # the chime played

        # The same chat again while it waits: no second notice.
        async with widget_socket(app, first.token) as ws:
            await ws.next()
            await ws.say("Hello? Still there?")
        chat = page.get_by_test_id("chat-item").filter(has_text="Nina Notify")
        await expect(chat.locator(".unread")).to_have_text("2", timeout=WAIT_MS)
        # The operator's own take-over and hand-back do not notify either.
        await chat.click()
        await page.get_by_role("button", name="Take over").click()
        await expect(page.locator("#chat-mode")).to_have_text("Operator", timeout=WAIT_MS)
        await page.get_by_role("button", name="Hand back to AI").click()
        await expect(page.locator("#chat-mode")).to_have_text("AI", timeout=WAIT_MS)
        # Another chat's hand-off does, once.
        await customer_writes(app, "Otto Other", "Operator!")
        await until(page, "window.__notices.length >= 2")
        assert [n["title"] for n in await notices(page)] == [
            "Nina Notify is waiting for an operator",
            "Otto Other is waiting for an operator",
        ]

        # A hand-off given to an online colleague (the least loaded: Otto's chat is this
        # operator's) rings the colleague's panel, not this one.
        async with panel(app, admin):
            await customer_writes(app, "Ada Admins", "A person please")
            await page.get_by_test_id("chat-item").filter(has_text="Ada Admins").click()
            await expect(page.locator("#chat-assignee")).to_contain_text(
                "assigned to admin", timeout=WAIT_MS
            )
            await asyncio.sleep(2)  # longer than the panel waits for an assignment
        assert len(await notices(page)) == 2

        # Muted: nothing, and it stays muted after a reload.
        await bell.click()
        await expect(bell).to_have_attribute("aria-pressed", "false")
        await page.reload()
        await expect(page.locator("#conn-state")).to_have_text("Live", timeout=WAIT_MS)
        await expect(page.locator("#alerts-toggle")).to_have_attribute("aria-pressed", "false")
        await customer_writes(app, "Quiet Quentin", "Help")
        await expect(
            page.get_by_test_id("chat-item").filter(has_text="Quiet Quentin")
        ).to_be_visible(timeout=WAIT_MS)
        assert await notices(page) == []
    finally:
        await context.close()


async def stream(app: LiveApp, conversation_id: str, message_id: str, parts: list[str]) -> None:
    """Tokens of an AI answer as the reply worker publishes them while the model writes."""
    for text in parts:
        await app.core.bus.publish(
            ConversationEvent(
                type="token",
                conversation_id=conversation_id,
                data={"message_id": message_id, "text": text},
            )
        )


def answer_parts(label: str, count: int) -> list[str]:
    return [f"{label} part {i}:\n" + "a line of the answer\n" * 5 for i in range(count)]


AT_BOTTOM_JS = """(() => { const b = document.getElementById("messages-scroll");
                          return b.scrollHeight - b.scrollTop - b.clientHeight <= 2; })()"""


async def scroll_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate(
        """(() => {
             const box = document.getElementById("messages-scroll");
             const last = document.querySelector("#messages li:last-child").getBoundingClientRect();
             return { top: box.scrollTop, gap: last.bottom - box.getBoundingClientRect().bottom,
                      rest: box.scrollHeight - box.scrollTop - box.clientHeight };
           })()"""
    )
    return state


async def test_the_chat_view_follows_a_streamed_answer_only_from_the_bottom(
    app: LiveApp, browser: Browser
) -> None:
    customer = await customer_writes(app, "Sam Scroll", "I need a person please")
    context = await browser.new_context(viewport={"width": 1280, "height": 640})
    page = await context.new_page()
    try:
        await sign_in(page, app, OPERATOR)
        await page.get_by_test_id("chat-item").filter(has_text="Sam Scroll").click()
        await expect(page.locator("#messages li[data-author=customer]")).to_have_count(1)
        answer = str(ObjectId())
        first = answer_parts("first", 12)
        await stream(app, customer.conversation_id, answer, first)
        draft = page.locator(f'#messages li[data-id="{answer}"] .text')
        await expect(draft).to_contain_text("first part 11:", timeout=WAIT_MS)
        # At the bottom: the newest line stays in view, the view follows to the end.
        await until(page, AT_BOTTOM_JS)
        assert (await scroll_state(page))["gap"] <= 20
        # The stored answer replaces the draft (with its sources line): still at the end.
        conversation = await Conversation.get(PydanticObjectId(customer.conversation_id))
        assert conversation is not None
        await append_message(
            core=app.core,
            conversation=conversation,
            author=Author.AI,
            text="".join(first),
            message_id=PydanticObjectId(answer),
            sources=[Source(title="Delivery times", source="kb/delivery.md", score=0.9)],
        )
        await expect(page.locator(f'#messages li[data-id="{answer}"] .sources')).to_be_visible(
            timeout=WAIT_MS
        )
        await until(page, AT_BOTTOM_JS)

        # Scrolled up to read: more text does not move the view; a button offers the news.
        await page.locator("#messages-scroll").hover()
        await page.mouse.wheel(0, -400)
        await until(
            page,
            """(() => { const b = document.getElementById("messages-scroll");
                        return b.scrollHeight - b.scrollTop - b.clientHeight >= 300; })()""",
        )
        before = (await scroll_state(page))["top"]
        second = str(ObjectId())
        await stream(app, customer.conversation_id, second, answer_parts("second", 6))
        await expect(page.locator(f'#messages li[data-id="{second}"] .text')).to_contain_text(
            "second part 5:", timeout=WAIT_MS
        )
        more = page.get_by_role("button", name="New messages ↓")
        await expect(more).to_be_visible()
        assert (await scroll_state(page))["top"] == before
        await more.click()
        await expect(more).to_be_hidden()
        assert (await scroll_state(page))["rest"] <= 2
    finally:
        await context.close()
