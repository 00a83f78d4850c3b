"""Settings: names from the contract, profiles, and one clear line for a bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import Settings, SettingsError, load_settings
from tests.contract import CONTRACT_SETTINGS

REPO = Path(__file__).resolve().parent.parent


def test_every_contract_setting_exists() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert set(CONTRACT_SETTINGS) <= fields


def test_defaults_are_the_embedded_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CONTRACT_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.mongodb_uri is None and settings.redis_url is None
    assert settings.embedded and settings.pii_redaction and not settings.llm_configured


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.setenv("MONGODB_URI", "")
    settings = load_settings()
    assert settings.openai_api_key is None and settings.mongodb_uri is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "localhost:6379"),
        ("MONGODB_URI", "http://db"),
        ("PII_REDACTION", "maybe"),
        ("PUBLIC_BASE_URL", "example.com"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert name in message and "\n" not in message


def test_prod_refuses_the_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "prod")
    monkeypatch.setenv("JWT_SECRET", "changethis")
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings()


def test_cli_stops_on_a_bad_value_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "REDIS_URL": "nonsense", "DATA_DIR": str(tmp_path)},
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "configuration error: REDIS_URL: Value error, must start with redis://, "
        "rediss:// or unix://"
    ]
