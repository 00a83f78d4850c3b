"""Panel test helpers: widget visitors who write and wait for the hand-off, panel sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import websockets
from playwright.async_api import Page, expect
from websockets.asyncio.client import ClientConnection

from tests.panel.conftest import SignedIn
from tests.support import LiveApp, new_session, widget_socket


@dataclass
class Customer:
    token: str
    conversation_id: str


async def customer_writes(app: LiveApp, name: str, text: str) -> Customer:
    """A widget visitor says something; returns once the AI (no model) handed it over."""
    session = await new_session(app, name=name, language="en")
    async with widget_socket(app, session["token"]) as ws:
        await ws.next()  # history
        await ws.say(text)
        await ws.until(lambda f: f["type"] == "status" and f["mode"] == "waiting_operator")
    return Customer(token=session["token"], conversation_id=session["conversation_id"])


@contextlib.asynccontextmanager
async def panel(app: LiveApp, signed: SignedIn) -> AsyncIterator[ClientConnection]:
    """The signed-in operator's panel socket, once it said it is subscribed ("ready")."""
    cookie = f"sb_panel_session={signed.client.cookies.get('sb_panel_session')}"
    async with websockets.connect(
        f"{app.ws_url}/ws/operator",
        additional_headers={"Cookie": cookie, "Origin": app.base_url},
        open_timeout=10,
    ) as ws:
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "ready":
            pass
        yield ws


async def sign_in(page: Page, app: LiveApp, account: tuple[str, str], path: str = "") -> None:
    """Sign in on the panel's page (at `path`, e.g. `#/chats/<id>`) and wait until it is live."""
    await page.goto(f"{app.base_url}/panel/{path}")
    await page.get_by_label("E-mail").fill(account[0])
    await page.get_by_label("Password").fill(account[1])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#conn-state")).to_have_text("Live", timeout=15_000)
