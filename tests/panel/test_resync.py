"""A panel socket whose event queue overflows is told to reload (`resync`), not left with
silently missing events."""

from __future__ import annotations

import asyncio

import pytest
from beanie import PydanticObjectId

from bot.core.types import ConversationEvent
from tests.panel.conftest import SignedIn
from tests.panel.test_ws import panel_socket
from tests.support import LiveApp

pytestmark = pytest.mark.timeout(60)


async def test_an_overflowing_panel_queue_sends_resync(app: LiveApp, operator: SignedIn) -> None:
    async with panel_socket(app, operator) as panel:
        token = ConversationEvent(
            type="token",
            conversation_id=str(PydanticObjectId()),
            data={"message_id": "streaming", "text": "x"},
        )
        # More events at once than the socket's queue holds (a long answer streaming while
        # the panel is slow): what did not fit is gone, so the panel must reload.
        await asyncio.gather(*(app.core.bus.publish(token) for _ in range(1500)))
        resync = await panel.until(lambda f: f["type"] == "resync", timeout=30)
        assert resync == {"type": "resync"}
        # The queued tokens were superseded by the reload: none of them follows the resync.
        await panel.ws.send('{"type": "ping"}')
        await panel.until(lambda f: f["type"] == "pong")
        after = panel.frames[panel.frames.index(resync) + 1 :]
        assert [f["type"] for f in after] == ["pong"]
