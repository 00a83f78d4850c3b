"""Production safety: https public URL, /metrics behind a token, API docs off in prod and
working offline where they are on."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr

from config import Settings
from config.settings import SettingsError, load_settings
from tests.support import live_app

pytestmark = pytest.mark.timeout(90)

PROD_SECRET = "a-real-secret-from-the-deployment-" + "x" * 16


def test_prod_refuses_an_http_public_url_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "prod")
    monkeypatch.setenv("JWT_SECRET", PROD_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://chat.example.com")
    with pytest.raises(SettingsError, match=r"PUBLIC_BASE_URL.*https"):
        load_settings()
    monkeypatch.setenv("ALLOW_INSECURE_PUBLIC_URL", "true")
    assert load_settings().public_base_url == "http://chat.example.com"


def test_the_prod_profile_ships_an_https_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "prod")
    monkeypatch.setenv("JWT_SECRET", PROD_SECRET)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    assert load_settings().public_base_url.startswith("https://")


async def test_metrics_need_the_bearer_token_when_one_is_set(settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr("scrape-token-0123456789")})
    async with live_app(guarded, run_worker=False) as app, app.client() as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.get(
            "/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"}
        )
        assert right.status_code == 200
        assert "switchboard_" in right.text


async def test_metrics_in_prod_without_a_token_are_for_this_machine_only(
    settings: Settings,
) -> None:
    prod = settings.model_copy(
        update={"app_env": "prod", "public_base_url": "https://chat.example.com"}
    )
    async with live_app(prod, run_worker=False) as app, app.client() as client:
        assert (await client.get("/metrics")).status_code == 200  # from 127.0.0.1
        remote = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert remote.status_code == 401
        # Through a reverse proxy on this machine: the visitor is not local.
        proxied = await client.get("/metrics", headers={"Forwarded": "for=127.0.0.1"})
        assert proxied.status_code == 401


async def test_docs_are_off_in_prod(settings: Settings) -> None:
    prod = settings.model_copy(
        update={"app_env": "prod", "public_base_url": "https://chat.example.com"}
    )
    async with live_app(prod, run_worker=False) as app, app.client() as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await client.get(path)).status_code == 404, path


async def test_docs_load_every_asset_from_the_app_itself(settings: Settings) -> None:
    async with live_app(settings, run_worker=False) as app, app.client() as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert assets, page.text
        for url in assets:
            # Nothing from a CDN: a machine without internet still gets a working page.
            assert url.startswith("/"), url
            fetched = await client.get(url)
            assert fetched.status_code == 200, url
            assert len(fetched.content) > 100, url
        spec = await client.get("/openapi.json")
        assert spec.status_code == 200 and "/api/widget/sessions" in spec.text
