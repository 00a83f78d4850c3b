"""Embedding the widget on another website: CORS for /api/widget/ only, and the origin list.

The widget runs on a business's own site, so its session request is cross-origin: the
browser sends a preflight first and reads the answer only with CORS headers. The operator
panel's /api (cookie + CSRF) must never get them. With WIDGET_ALLOWED_ORIGINS listing sites,
a page of any other site is refused, over HTTP and on the socket.
"""

from __future__ import annotations

import json

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from config import Settings
from config.settings import SettingsError, load_settings
from tests.support import live_app, new_session

pytestmark = pytest.mark.timeout(60)

SHOP = "https://shop.example"
ELSEWHERE = "https://elsewhere.example"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type",
    }


async def test_any_website_may_open_a_chat_session_by_default(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app, app.client() as client:
        asked = await client.options("/api/widget/sessions", headers=preflight(SHOP))
        assert asked.status_code == 200
        assert asked.headers["access-control-allow-origin"] == "*"
        assert "POST" in asked.headers["access-control-allow-methods"]
        assert "content-type" in asked.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in asked.headers

        opened = await client.post("/api/widget/sessions", json={}, headers={"Origin": SHOP})
        assert opened.status_code == 200
        assert opened.headers["access-control-allow-origin"] == "*"
        assert opened.json()["token"]

        # A refusal before any route (too large a body) is readable by the page as well.
        too_big = await client.post(
            "/api/widget/sessions",
            content=b"{" + b" " * 20_000 + b"}",
            headers={"Origin": SHOP, "Content-Type": "application/json"},
        )
        assert too_big.status_code == 413
        assert too_big.headers["access-control-allow-origin"] == "*"


async def test_the_operator_panel_api_never_gets_cors_headers(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app, app.client() as client:
        for path in ("/api/auth/login", "/api/conversations", "/api/prompt-blocks"):
            asked = await client.options(path, headers=preflight(SHOP))
            assert not any(h.startswith("access-control-") for h in asked.headers), path
        login = await client.post(
            "/api/auth/login",
            json={"email": "nobody@example.com", "password": "wrong"},
            headers={"Origin": SHOP},
        )
        assert login.status_code in (401, 403)
        assert not any(h.startswith("access-control-") for h in login.headers)
        listed = await client.get("/api/conversations", headers={"Origin": SHOP})
        assert not any(h.startswith("access-control-") for h in listed.headers)


async def test_a_listed_origin_may_embed_the_widget_and_another_is_refused(
    settings: Settings,
) -> None:
    listed = settings.model_copy(
        update={"widget_allowed_origins": f"{SHOP},http://other.test:8080"}
    )
    async with live_app(listed, run_worker=False) as app, app.client() as client:
        asked = await client.options("/api/widget/sessions", headers=preflight(SHOP))
        assert asked.status_code == 200
        assert asked.headers["access-control-allow-origin"] == SHOP
        opened = await client.post("/api/widget/sessions", json={}, headers={"Origin": SHOP})
        assert opened.status_code == 200
        assert opened.headers["access-control-allow-origin"] == SHOP
        token = opened.json()["token"]

        asked = await client.options("/api/widget/sessions", headers=preflight(ELSEWHERE))
        assert "access-control-allow-origin" not in asked.headers
        refused = await client.post("/api/widget/sessions", json={}, headers={"Origin": ELSEWHERE})
        assert refused.status_code == 403
        assert ELSEWHERE in refused.json()["detail"]
        assert "access-control-allow-origin" not in refused.headers

        # The app's own demo page (same origin) keeps working, as do non-browser clients.
        own = await client.post("/api/widget/sessions", json={}, headers={"Origin": app.base_url})
        assert own.status_code == 200
        assert (await new_session(app))["token"]

        url = f"{app.ws_url}/ws/widget?token={token}"
        async with websockets.connect(url, origin=SHOP, open_timeout=10) as ws:  # type: ignore[arg-type]
            assert json.loads(await ws.recv())["type"] == "history"
        async with websockets.connect(url, origin=ELSEWHERE, open_timeout=10) as ws:  # type: ignore[arg-type]
            frame = json.loads(await ws.recv())
            assert frame["type"] == "error"
            assert frame["code"] == "origin_not_allowed"
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def test_an_origin_list_entry_that_is_not_an_origin_is_a_configuration_error() -> None:
    for bad in ("shop.example", "https://shop.example/chat", "*,https://shop.example"):
        with pytest.raises(SettingsError, match="WIDGET_ALLOWED_ORIGINS"):
            load_settings(widget_allowed_origins=bad)
    fine = load_settings(widget_allowed_origins=" https://Shop.example/ , http://a.test:8080")
    assert fine.widget_origins == frozenset({SHOP, "http://a.test:8080"})
    assert load_settings().widget_origins is None
