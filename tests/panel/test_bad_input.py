"""Out-of-range and deeply nested input to the panel's API and socket: a 4xx or an error
frame with a reason, and the socket stays open."""

from __future__ import annotations

import json

import pytest

from tests.panel.conftest import SignedIn
from tests.panel.helpers import customer_writes
from tests.panel.test_ws import panel_socket
from tests.support import LiveApp

pytestmark = pytest.mark.timeout(60)


async def test_out_of_range_paging_and_nested_bodies_are_4xx(
    app: LiveApp, operator: SignedIn
) -> None:
    carol = await customer_writes(app, "Carol", "hello")
    path = f"/api/conversations/{carol.conversation_id}/messages"
    for before in (10**23, 2**63):
        response = await operator.client.get(f"{path}?before_seq={before}")
        assert response.status_code == 422, response.text
        assert "before_seq" in response.text
    assert (await operator.client.get(f"{path}?before_seq={2**63 - 1}")).status_code == 200
    deep = await operator.client.post(
        path,
        content='{"text": ' + "[" * 3000 + "]" * 3000 + "}",
        headers=operator.headers() | {"content-type": "application/json"},
    )
    assert deep.status_code == 400 and "nested" in deep.json()["detail"]


async def test_a_deeply_nested_frame_gets_an_error_and_the_socket_stays(
    app: LiveApp, operator: SignedIn
) -> None:
    async with panel_socket(app, operator) as panel:
        await panel.ws.send("[" * 2000 + "]" * 2000)  # within the frame size limit
        error = await panel.until(lambda f: f["type"] == "error")
        assert error["code"] == "bad_frame"
        await panel.ws.send(json.dumps({"type": "ping"}))
        await panel.until(lambda f: f["type"] == "pong")
