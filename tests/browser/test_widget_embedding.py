"""The widget embedded with one script tag on another website, in a real Chromium.

The business's page is served by a separate small HTTP server on another origin
(http://localhost:<port> while the app is http://127.0.0.1:<port>), as on a real site: the
session request is cross-origin and works only when the app answers the browser's preflight.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.async_api import Browser, expect

from config import Settings
from tests.browser.test_widget_browser import WAIT_MS, message_item, say
from tests.fakes.background import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.support import live_app, with_model

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


@contextlib.contextmanager
def business_site(widget_script: str) -> Iterator[str]:
    """A shop's page with the widget's script tag, on its own loopback server; its origin."""
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Shop</title></head>"
        f"<body><h1>Our shop</h1><script src='{widget_script}' defer></script></body></html>"
    ).encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("allowed", ["any", "listed"])
async def test_a_visitor_chats_through_the_widget_embedded_on_another_website(
    settings: Settings, browser: Browser, allowed: str
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.method} {r.url}"))
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    with FakeOpenAI() as fake, business_site(f"{app_url}/widget.js") as site:
        assert site.split(":")[1] != app_url.split(":")[1]  # another host: another origin
        configured = with_model(settings, fake)
        if allowed == "listed":  # the shop's site on the list, among others
            configured = configured.model_copy(
                update={"widget_allowed_origins": f"https://other.example,{site}"}
            )
        try:
            async with live_app(configured, port=port):
                await page.goto(f"{site}/")
                assert await page.evaluate("window.location.origin") == site
                await page.get_by_test_id("sb-bubble").click()
                await expect(page.get_by_test_id("sb-status")).to_have_text(
                    "Connected", timeout=WAIT_MS
                )
                await say(page, "Do you ship to Lisbon?")
                mine = message_item(page, "customer", "Do you ship to Lisbon?")
                await expect(mine).to_have_attribute("data-status", "sent", timeout=WAIT_MS)
                answer = message_item(page, "ai", "ok: Do you ship to Lisbon?")
                await expect(answer).to_be_visible(timeout=WAIT_MS)
        finally:
            await context.close()
    assert not failed, f"requests the browser refused: {failed}"
