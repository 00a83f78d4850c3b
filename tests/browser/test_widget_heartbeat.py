"""A widget whose socket dies silently says so within seconds, in a real Chromium.

The browser reaches the app through a TCP relay that can drop the network: open WebSocket
connections go silent (bytes are swallowed both ways and nothing is closed, which is what a
dropped Wi-Fi or a NAT that forgot the connection looks like to both ends) and new
connections are refused until it comes back. TCP alone would take minutes to notice a
silent socket; the widget's ping/pong must notice in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import pytest
from beanie import PydanticObjectId
from playwright.async_api import Browser, expect

from bot.core.documents import Message
from config import Settings
from tests.browser.test_widget_browser import WAIT_MS, message_item, open_chat, say
from tests.support import free_port, live_app

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

# The widget pings every 5 s and gives up 3.5 s after an unanswered ping; a message sent on
# a dead socket sends a ping at once. A few seconds more for a slow machine.
NOTICED_WITHIN_S = 8


@dataclass
class Link:
    websocket: bool = False
    silent: bool = False


class SilencingRelay:
    """127.0.0.1:<port> → the app; `go_down()` drops the network, `come_back()` restores it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.links: list[Link] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.down = False

    async def __aenter__(self) -> SilencingRelay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def go_down(self) -> int:
        """The network drops: open sockets go silent, new connections are refused."""
        self.down = True
        silenced = 0
        for link in self.links:
            if link.websocket and not link.silent:
                link.silent = True
                silenced += 1
        return silenced

    def come_back(self) -> None:
        self.down = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        link = Link()
        self.links.append(link)
        if self.down:
            self._tasks.discard(task)
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(
                self._pump(reader, up_writer, link, inspect=True),
                self._pump(up_reader, writer, link, inspect=False),
            )
        except (ConnectionError, OSError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link, *, inspect: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if inspect and not link.websocket and b"upgrade: websocket" in data.lower():
                    link.websocket = True
                if link.silent:
                    continue  # swallowed: neither side hears anything, nothing is closed
                writer.write(data)
                await writer.drain()
        finally:
            if not link.silent:
                writer.close()


async def test_a_silently_dead_socket_shows_reconnecting_and_the_waiting_message_goes_out(
    settings: Settings, browser: Browser
) -> None:
    port = free_port()
    context = await browser.new_context()
    page = await context.new_page()
    try:
        async with live_app(settings, port=port, run_worker=False), SilencingRelay(port) as relay:
            await open_chat(page, f"http://127.0.0.1:{relay.port}")
            status = page.get_by_test_id("sb-status")
            await say(page, "Hello there")
            first = message_item(page, "customer", "Hello there")
            await expect(first).to_have_attribute("data-status", "sent", timeout=WAIT_MS)
            conversation_id = await page.evaluate("window.SwitchboardWidget.state().conversationId")

            assert relay.go_down() == 1
            started = time.monotonic()
            await say(page, "Is anyone there?")
            waiting = message_item(page, "customer", "Is anyone there?")
            await expect(waiting).to_have_attribute("data-status", "sending")
            # Not "Connected" while the message waits: the dead socket is noticed in seconds.
            await expect(status).to_have_text("Reconnecting…", timeout=NOTICED_WITHIN_S * 1000)
            assert time.monotonic() - started < NOTICED_WITHIN_S
            await expect(waiting).to_have_attribute("data-status", "sending")

            # The network is back: a new socket delivers the waiting message.
            relay.come_back()
            await expect(status).to_have_text("Connected", timeout=WAIT_MS)
            await expect(waiting).to_have_attribute("data-status", "sent", timeout=WAIT_MS)
            await expect(page.get_by_test_id("sb-message")).to_have_count(2)
            stored = await Message.find(
                Message.conversation_id == PydanticObjectId(conversation_id)
            ).to_list()
    finally:
        await context.close()
    # Sent on the dead socket and again on the new one, stored once.
    assert sorted(m.text for m in stored) == ["Hello there", "Is anyone there?"]


async def test_an_idle_widget_notices_a_dead_socket_without_sending_anything(
    settings: Settings, browser: Browser
) -> None:
    port = free_port()
    context = await browser.new_context()
    page = await context.new_page()
    try:
        async with live_app(settings, port=port, run_worker=False), SilencingRelay(port) as relay:
            await open_chat(page, f"http://127.0.0.1:{relay.port}")
            status = page.get_by_test_id("sb-status")
            assert relay.go_down() == 1
            # At most one ping interval plus the pong timeout.
            await expect(status).to_have_text(
                "Reconnecting…", timeout=(NOTICED_WITHIN_S + 5) * 1000
            )
            relay.come_back()
            await expect(status).to_have_text("Connected", timeout=WAIT_MS)
            # Still alive afterwards: a healthy socket answers its pings and stays connected.
            await page.wait_for_timeout(7_000)
            await expect(status).to_have_text("Connected")
    finally:
        await context.close()
