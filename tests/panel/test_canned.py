"""Canned replies (issue #25, item 3): admins manage saved answers with a shortcut; an
operator inserts one by typing `/` in the reply box, its variables filled in for the chat."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from bot.core.canned import fill
from bot.core.documents import CannedReply
from tests.panel.conftest import ADMIN, OPERATOR, SignedIn
from tests.panel.helpers import customer_writes
from tests.support import LiveApp, widget_socket

pytestmark = pytest.mark.timeout(60)

RETURNS = "Hi {customer_name}, you can return it within 30 days. {operator_name} {unknown}"
WAIT_MS = 15_000
SCREENSHOT = "/tmp/panel-canned.png"


@pytest.fixture(autouse=True)
async def no_canned(app: LiveApp) -> None:
    await CannedReply.get_pymongo_collection().delete_many({})


def test_variables_are_filled_and_other_braces_kept() -> None:
    values = {"customer_name": "Ann", "operator_name": "Olga"}
    assert fill(RETURNS, values) == ("Hi Ann, you can return it within 30 days. Olga {unknown}")


async def test_admins_manage_canned_replies_and_operators_read_them_filled(
    app: LiveApp, admin: SignedIn, operator: SignedIn
) -> None:
    async with app.client() as anonymous:
        assert (await anonymous.get("/api/canned-replies")).status_code == 401
    body = {"shortcut": "/Returns", "text": RETURNS}
    assert (await operator.post("/api/canned-replies", body)).status_code == 403
    assert (await admin.client.post("/api/canned-replies", json=body)).status_code == 403  # CSRF
    created = await admin.post("/api/canned-replies", body)
    assert created.status_code == 201, created.text
    reply = created.json()
    assert reply["shortcut"] == "returns"
    assert (await admin.post("/api/canned-replies", body)).status_code == 409
    bad = await admin.post("/api/canned-replies", {"shortcut": "no spaces", "text": "x"})
    assert bad.status_code == 422

    customer = await customer_writes(app, "Ann Smith", "How do I return shoes?")
    listed = await operator.client.get(
        "/api/canned-replies", params={"conversation_id": customer.conversation_id}
    )
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert item["filled"] == ("Hi Ann Smith, you can return it within 30 days. olga {unknown}")
    assert listed.json()["variables"] == ["customer_name", "operator_name"]
    missing = await operator.client.get("/api/canned-replies", params={"conversation_id": "x"})
    assert missing.status_code == 404

    path = f"/api/canned-replies/{reply['id']}"
    assert (await operator.client.delete(path, headers=operator.headers())).status_code == 403
    changed = await admin.client.put(path, json={"text": "Changed"}, headers=admin.headers())
    assert changed.status_code == 200 and changed.json()["text"] == "Changed"
    assert (await admin.client.delete(path, headers=admin.headers())).status_code == 204
    assert (await admin.client.get("/api/canned-replies")).json()["items"] == []


@pytest.mark.browser
async def test_an_operator_inserts_a_canned_reply_by_its_shortcut(
    app: LiveApp, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # An admin saves the reply in the panel's section.
        await page.goto(f"{app.base_url}/panel/#/prompt-blocks")
        await page.get_by_label("E-mail").fill(ADMIN[0])
        await page.get_by_label("Password").fill(ADMIN[1])
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_label("Shortcut").fill("returns")
        await page.get_by_label("Answer").fill(RETURNS)
        await page.get_by_role("button", name="Store reply").click()
        await expect(page.get_by_test_id("canned-item")).to_have_count(1, timeout=WAIT_MS)
        await expect(page.get_by_test_id("canned-item")).to_contain_text("/returns")
        await page.screenshot(path="/tmp/panel-canned-admin.png")
        await page.get_by_role("button", name="Sign out").click()

        customer = await customer_writes(app, "Greta Garbo", "Can I send it back?")
        await page.goto(f"{app.base_url}/panel/")
        await page.get_by_label("E-mail").fill(OPERATOR[0])
        await page.get_by_label("Password").fill(OPERATOR[1])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#conn-state")).to_have_text("Live", timeout=WAIT_MS)
        async with widget_socket(app, customer.token) as widget:
            await widget.next()  # history
            await page.get_by_test_id("chat-item").filter(has_text="Greta Garbo").click()
            reply = page.get_by_label("Reply")
            await reply.click()
            await reply.type("/ret")
            option = page.get_by_test_id("canned-option")
            await expect(option).to_have_count(1, timeout=WAIT_MS)
            await expect(option.locator(".shortcut")).to_have_text("/returns")
            await page.screenshot(path=SCREENSHOT)
            await reply.press("Enter")  # inserts: the menu takes Enter, nothing is sent yet
            filled = "Hi Greta Garbo, you can return it within 30 days. olga {unknown}"
            await expect(reply).to_have_value(filled)
            await expect(option).to_have_count(0)
            await reply.press("Enter")  # now it is sent
            received = await widget.message("operator")
            assert received["text"] == filled
        assert errors == []
    finally:
        await context.close()
