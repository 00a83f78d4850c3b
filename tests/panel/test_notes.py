"""Private notes (issue #25, item 4): operators write them in a chat; the customer never sees
them, nor does the model.

Over the panel's REST API and sockets (the widget's and the panel's), and in a real Chromium:
the note is shown in the chat, set apart from the messages, and never reaches the widget.
"""

from __future__ import annotations

import pytest
from beanie import PydanticObjectId
from playwright.async_api import Browser, expect

from bot.core.conversations import latest_messages
from bot.core.documents import Message
from tests.panel.conftest import OPERATOR, SignedIn
from tests.panel.helpers import customer_writes
from tests.panel.test_ws import panel_socket
from tests.support import LiveApp, widget_socket

pytestmark = pytest.mark.timeout(60)

NOTE = "VIP customer <b>refund</b> without asking"
WAIT_MS = 15_000
SCREENSHOT = "/tmp/panel-note.png"


async def test_a_note_is_stored_listed_and_announced_only_to_operators(
    app: LiveApp, operator: SignedIn
) -> None:
    customer = await customer_writes(app, "Nora", "Where is my parcel?")
    cid = customer.conversation_id
    path = f"/api/conversations/{cid}/notes"

    async with app.client() as anonymous:
        assert (await anonymous.get(path)).status_code == 401
        assert (await anonymous.post(path, json={"text": NOTE})).status_code in (401, 403)
    no_csrf = await operator.client.post(path, json={"text": NOTE})
    assert no_csrf.status_code == 403
    assert (await operator.post(path, {"text": "   "})).status_code == 422
    assert (await operator.post("/api/conversations/nope/notes", {"text": NOTE})).status_code == 404

    async with (
        widget_socket(app, customer.token) as widget,
        panel_socket(app, operator) as panel,
    ):
        await widget.next()  # history
        created = await operator.post(path, {"text": NOTE})
        assert created.status_code == 201, created.text
        note = created.json()
        assert note["text"] == NOTE and note["private"] is True and note["kind"] == "note"
        assert note["operator_name"]  # who wrote it, for the other operators
        frame = await panel.until(lambda f: f["type"] == "note.created")
        assert frame["note"]["id"] == note["id"]
        assert frame["note"]["conversation_id"] == cid
        # A reply after the note: the widget gets it, and nothing of the note before it.
        reply = await operator.post(f"/api/conversations/{cid}/messages", {"text": "On its way"})
        assert reply.status_code == 200
        await widget.message("operator")
        assert all(NOTE not in str(f) for f in widget.frames)

    listed = (await operator.client.get(path)).json()["items"]
    assert [n["id"] for n in listed] == [note["id"]]
    # Not a message: not in the panel's or the widget's history, not in what the model reads.
    messages = (await operator.client.get(f"/api/conversations/{cid}/messages")).json()["items"]
    assert all(m["text"] != NOTE for m in messages)
    assert all(m.text != NOTE for m in await latest_messages(PydanticObjectId(cid), limit=200))
    assert await Message.find(Message.text == NOTE).count() == 0
    async with widget_socket(app, customer.token, after_seq=0) as widget:
        history = await widget.next()
        assert history["type"] == "history"
        assert all(m["text"] != NOTE for m in history["messages"])
        assert all("private" not in m for m in history["messages"])


@pytest.mark.browser
async def test_the_panel_shows_a_note_apart_and_the_widget_never_gets_it(
    app: LiveApp, browser: Browser
) -> None:
    customer = await customer_writes(app, "Greta Garbo", "My order is late")
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(f"{app.base_url}/panel/")
        await page.get_by_label("E-mail").fill(OPERATOR[0])
        await page.get_by_label("Password").fill(OPERATOR[1])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#conn-state")).to_have_text("Live", timeout=WAIT_MS)
        async with widget_socket(app, customer.token) as widget:
            await widget.next()  # history
            await page.get_by_test_id("chat-item").filter(has_text="Greta Garbo").click()
            await expect(page.locator("#chat-name")).to_have_text("Greta Garbo")
            await page.get_by_label("Private note").fill(NOTE)
            await page.get_by_role("button", name="Add note").click()
            shown = page.get_by_test_id("note")
            await expect(shown.locator(".text")).to_have_text(NOTE, timeout=WAIT_MS)
            await expect(shown.locator(".who")).to_contain_text("Private note")
            assert await page.locator("#messages b").count() == 0  # shown as text, not HTML
            # Set apart from the messages: its own look, not an operator's bubble.
            note_bg = await shown.locator(".bubble").evaluate(
                "n => getComputedStyle(n).backgroundColor"
            )
            reply = page.get_by_label("Reply")
            await reply.fill("We are on it")
            await reply.press("Enter")
            received = await widget.message("operator")
            assert received["text"] == "We are on it"
            operator_bg = await page.locator(
                '#messages li[data-author="operator"] .bubble'
            ).evaluate("n => getComputedStyle(n).backgroundColor")
            assert note_bg != operator_bg
            await page.screenshot(path=SCREENSHOT)
            assert all(NOTE not in str(f) for f in widget.frames)
        # Reloaded, the note is still there, after the customer's message.
        await page.reload()
        await page.get_by_test_id("chat-item").filter(has_text="Greta Garbo").click()
        await expect(page.get_by_test_id("note").locator(".text")).to_have_text(
            NOTE, timeout=WAIT_MS
        )
        order = await page.locator("#messages > li").evaluate_all(
            "nodes => nodes.map(n => n.dataset.author)"
        )
        assert order.index("customer") < order.index("note") < order.index("operator")
        assert errors == []
    finally:
        await context.close()
