"""Widget visitor tokens: never signed with a public secret, and a token opens only its
visitor's own web conversation (never a Telegram or WhatsApp chat, nor another visitor's)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from bot.core.channel_context import CoreChannelContext
from config import Settings, with_installation_secrets
from config.settings import SettingsError, load_settings
from tests.support import live_app, new_session, widget_socket

pytestmark = pytest.mark.timeout(60)

# The value the dev profile used to sign with when JWT_SECRET was unset (public knowledge).
OLD_PUBLIC_DEFAULT = "dev-secret-change-me-dev-secret-change-me"


def forge(secret: str, *, sub: str, cid: str) -> str:
    now = datetime.now(UTC)
    claims = {"sub": sub, "cid": cid, "typ": "widget", "iat": now, "exp": now + timedelta(days=1)}
    return jwt.encode(claims, secret, algorithm="HS256")


async def refused(url: str) -> tuple[list[dict[str, Any]], int | None]:
    frames: list[dict[str, Any]] = []
    async with websockets.connect(url) as ws:
        try:
            while True:
                frames.append(json.loads(await ws.recv()))
        except ConnectionClosed:
            pass
        return frames, ws.close_code


def test_unset_secret_is_generated_per_installation_private_and_reused(
    settings: Settings, tmp_path: Any
) -> None:
    unset = settings.model_copy(update={"jwt_secret": None, "data_dir": tmp_path / "a"})
    first = with_installation_secrets(unset)
    again = with_installation_secrets(unset)
    other = with_installation_secrets(unset.model_copy(update={"data_dir": tmp_path / "b"}))
    assert first.jwt_secret is not None and again.jwt_secret is not None
    secret = first.jwt_secret.get_secret_value()
    assert len(secret) >= 32 and secret != OLD_PUBLIC_DEFAULT
    assert again.jwt_secret.get_secret_value() == secret
    assert other.jwt_secret is not None and other.jwt_secret.get_secret_value() != secret
    path = tmp_path / "a" / "secrets" / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_prod_requires_a_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "prod")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://chat.example.com")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings()


def test_dev_refuses_the_old_public_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "dev")
    monkeypatch.setenv("JWT_SECRET", OLD_PUBLIC_DEFAULT)
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings()


async def test_dev_server_without_jwt_secret_rejects_tokens_signed_with_the_public_default(
    settings: Settings,
) -> None:
    unset = settings.model_copy(update={"jwt_secret": None, "app_env": "dev"})
    async with live_app(unset, run_worker=False) as app:
        visitor = await new_session(app)
        token = forge(OLD_PUBLIC_DEFAULT, sub="x" * 32, cid=visitor["conversation_id"])
        frames, code = await refused(f"{app.ws_url}/ws/widget?token={token}")
        assert code == 4401
        assert [f["type"] for f in frames] == ["error"]
        # The real, generated secret still works for the visitor's own token.
        async with widget_socket(app, visitor["token"]) as ws:
            assert (await ws.next())["type"] == "history"


@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_a_valid_token_cannot_open_a_telegram_or_whatsapp_conversation(
    settings: Settings, channel: str
) -> None:
    async with live_app(settings, run_worker=False) as app:
        other = await CoreChannelContext(app.core).open_session(
            channel=channel, external_user_id="555000111", display_name="Bob", language="en"
        )
        assert settings.jwt_secret is not None
        secret = settings.jwt_secret.get_secret_value()
        for sub in ("555000111", "some-visitor"):
            token = forge(secret, sub=sub, cid=other.conversation_id)
            frames, code = await refused(f"{app.ws_url}/ws/widget?token={token}")
            assert code == 4401, sub
            assert [f["type"] for f in frames] == ["error"], frames
            assert frames[0]["code"] == "unauthorized"


async def test_a_visitors_token_cannot_open_another_visitors_conversation(
    settings: Settings,
) -> None:
    async with live_app(settings, run_worker=False) as app:
        ann = await new_session(app, name="Ann")
        bob = await new_session(app, name="Bob")
        async with widget_socket(app, bob["token"]) as ws:
            await ws.next()
            await ws.say("my address is 1 Secret Street")
            await ws.message("customer")
        ann_sub = jwt.decode(ann["token"], options={"verify_signature": False})["sub"]
        assert settings.jwt_secret is not None
        token = forge(
            settings.jwt_secret.get_secret_value(), sub=ann_sub, cid=bob["conversation_id"]
        )
        frames, code = await refused(f"{app.ws_url}/ws/widget?token={token}")
        assert code == 4401
        assert "Secret Street" not in json.dumps(frames)
