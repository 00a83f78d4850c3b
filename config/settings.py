"""Typed settings: one `Settings` object, profiles from `.env.dev` / `.env.prod` by `APP_ENV`."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AppEnv = Literal["dev", "prod", "test"]

_PLACEHOLDERS = {
    "",
    "changethis",
    "change-me",
    "changeme",
    "secret",
    "dev-secret-change-me-dev-secret-change-me",
}
_ORIGIN = re.compile(r"https?://[a-z0-9.\-\[\]:]+")
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_files() -> tuple[Path, ...]:
    """The profile file for `APP_ENV`; process environment variables always win over it."""
    app_env = os.environ.get("APP_ENV", "dev")
    profile = _PROJECT_ROOT / f".env.{app_env}"
    return (profile,) if profile.is_file() else ()


class Settings(BaseSettings):
    """Everything the platform reads from its environment. Unset service URLs mean embedded."""

    model_config = SettingsConfigDict(
        extra="ignore", env_file_encoding="utf-8", env_ignore_empty=True
    )

    app_env: AppEnv = "dev"
    data_dir: Path = Path("./data")
    # APP_ENV=prod refuses a non-https PUBLIC_BASE_URL (session cookies would not be Secure)
    # unless this says the deployment knowingly runs without TLS.
    allow_insecure_public_url: bool = False
    public_base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # `python -m bot worker` serves /health, /health/ready and /metrics on HOST at this port
    # (the worker's reply and guardrail counters live in its process). Unset: no HTTP.
    worker_port: int | None = Field(default=None, ge=1, le=65535)

    mongodb_uri: str | None = None
    mongodb_db: str = "switchboard"
    redis_url: str | None = None
    weaviate_url: str | None = None

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=30.0, gt=0)
    # One translation for the panel (bot.answers.translation): past it, a reply goes as written.
    translation_timeout_seconds: float = Field(default=10.0, gt=0)
    # The agent: model calls per answer (a tool loop ends there), one tool call's deadline.
    agent_max_model_calls: int = Field(default=6, ge=1, le=50)
    agent_max_tool_calls: int = Field(default=8, ge=1, le=100)
    tool_timeout_seconds: float = Field(default=10.0, gt=0)
    # When the model fails, the customer gets a safe answer; with this on, an operator too.
    ai_fallback_handoff: bool = True
    # A chat waiting for a person that nobody has taken or been given is still answered by
    # the AI, so a customer who waits overnight is not left alone with their question.
    ai_helps_while_waiting: bool = True
    history_budget_tokens: int = Field(default=3000, ge=200)
    timezone: str = "UTC"
    business_hours: str | None = None
    http_actions_file: Path | None = None
    mcp_servers: str | None = None  # JSON list of {"name","url","transport","allow":[...]}

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base: str | None = None
    # WhatsApp's 24-hour customer-service window: outside it only an approved template goes
    # out. The Content SID (HX...) of that template and its variables as JSON
    # ({"1": "{text}"}): in each value `{text}` is the message's text, `{name}` the
    # contact's name. Unset: nothing is sent as a template.
    whatsapp_template_sid: str | None = None
    whatsapp_template_variables: dict[str, str] = Field(default_factory=lambda: {"1": "{text}"})
    # A quick-reply content template (HX...): variables {"1": text, "2".."4": button
    # titles}. Unset: quick replies go out as numbered text options.
    whatsapp_quick_reply_sid: str | None = None

    sentry_dsn: SecretStr | None = None
    # GET /metrics wants `Authorization: Bearer <METRICS_TOKEN>` when set; unset, it is open
    # outside prod and, in prod, served only to clients on this machine.
    metrics_token: SecretStr | None = None
    # The interactive API docs (/docs, /redoc, /openapi.json), served without a CDN. Unset:
    # on outside prod, off in prod.
    api_docs: bool | None = None
    # Signs widget visitor tokens. Unset outside prod: a random secret generated once per
    # installation under DATA_DIR/secrets (`with_installation_secrets`); required in prod.
    jwt_secret: SecretStr | None = Field(default=None, validate_default=True)
    pii_redaction: bool = True
    # Ask for a 1–5 rating once a chat is closed (stars, inline buttons, numbered options).
    csat_enabled: bool = True
    # Guardrails (bot/answers/guardrails): the semantic detector and its score margins.
    guardrails_semantic: bool = True
    guardrails_attack_threshold: float = 0.03
    guardrails_handoff_threshold: float = 0.03
    # What happens when an answer fails an output check: a safe answer, or an operator too.
    guardrails_output_failure: Literal["refuse", "handoff"] = "refuse"
    # Commitments the business does make (comma-separated phrases, e.g. "14-day return").
    guardrails_allowed_commitments: str | None = None
    # Per-channel length of a whole answer, "channel=chars,..." over the defaults in
    # bot/answers/guardrails/pipeline.py (six messages of the channel).
    guardrails_max_answer_chars: str | None = None
    # Domains answers may link to (with their subdomains), besides PUBLIC_BASE_URL's host.
    allowed_link_domains: str | None = None
    # Hand-off policy: words (stems end in *) that pass a chat to a person; failures in a row.
    handoff_trigger_words: str = (
        "sue,lawsuit,lawyer*,attorney*,court,legal action,complaint*,police,fraud*,scam*,"
        "chargeback*,dispute*,fire,caught fire,smoke*,burn*,spark*,electric shock,injur*,"
        "hospital*,poison*,swallow*,furious,outraged,disgust*,"
        "суд,в суд,судом,юрист*,адвокат*,полици*,прокуратур*,роспотребнадзор*,жалоб*,"
        "мошенни*,обман*,пожар*,загорел*,задымил*,током,ожог*,обжег*,травм*,проглотил*,"
        "отравил*,больниц*,бешенств*,оспор*,возмутительн*,безобрази*,"
        # safety of a person (any business) and anger said in so many words
        "allergic reaction,anaphyla*,epipen,can't breathe,not breathing,unconscious,"
        "threaten*,i'm scared,i am scared,assault*,harass*,theft,ambulance,"
        "unacceptable,fed up,sick of this,disgrace*,yelled at,shouted at,screamed at,humiliat*,"
        "аллергическая реакция,аллергическую реакцию,анафилак*,не дышит,без сознания,угрож*,"
        "мне страшно,напал*,домогат*,кража,скорую,скорая помощь,издевает*,"
        "издевательств*,достало,сколько можно,недопустим*,накричал*,кричал на,кричала на,орал на,"
        "орала на,унизил*,унижа*,оскорбил*,оскорбля*"
    )
    handoff_after_failures: int = Field(default=2, ge=0)

    log_level: str = "INFO"
    log_json: bool | None = None
    # Optional wait for more customer messages of a burst before answering. Off by default:
    # the worker answers at once and starts over when the burst grows before it is stored.
    reply_debounce_ms: int = Field(default=0, ge=0)
    # A reply job unacknowledged this long belonged to a dead worker and is taken over.
    reply_reclaim_idle_ms: int = Field(default=30_000, ge=100)
    # An answer that failed (or whose worker died) this many times is parked for an operator.
    reply_max_attempts: int = Field(default=3, ge=1)
    # Webhooks and widget messages are answered once appended to a Redis stream (AOF) and
    # stored behind it; off, they are stored before the answer (slower, no Redis needed).
    ingest_stream: bool = True
    # Whether `serve` also stores what it appended (`python -m bot worker` always does).
    ingest_consumer: bool = True
    # How long an update id / MessageSid / client_id is remembered at the append (dedup).
    ingest_dedup_ttl_s: int = Field(default=86_400, ge=60)
    # Connections of one process's Redis pool (commands, pub/sub, rate limits, the worker).
    redis_max_connections: int = Field(default=200, ge=10)
    widget_session_rate: str = "20/minute"
    widget_message_rate: str = "30/minute"
    # Each resume reads up to 500 messages: a widget paging a long history needs a few.
    widget_resume_rate: str = "30/minute"
    widget_max_text: int = Field(default=4000, ge=1)
    # Longer inbound text is stored in full; only this much of it is processed (model, search).
    telegram_max_text: int = Field(default=4096, ge=1)
    whatsapp_max_text: int = Field(default=1600, ge=1)
    widget_token_ttl_days: int = Field(default=30, ge=1)
    # Websites that may embed the widget ("https://shop.example,https://www.shop.example"),
    # or "*" for any: visitor tokens travel in bodies and the socket URL, never in cookies.
    widget_allowed_origins: str = "*"
    # Closed conversations older than this many days are deleted by the worker (unset: kept).
    retention_days: int | None = Field(default=None, ge=1)
    # Media (bot.core.media): files customers send are fetched once and kept here (unset:
    # DATA_DIR/media; in production a mounted volume). Larger or other types stay a
    # described placeholder. MEDIA_ALLOWED_TYPES: MIME types, "image/*" for a whole family.
    media_dir: Path | None = None
    media_fetch: bool = True
    media_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    media_allowed_types: str = (
        "image/*,audio/*,video/*,application/pdf,text/plain,text/csv,application/zip,"
        "application/msword,application/vnd.openxmlformats-officedocument.*,"
        "application/vnd.ms-excel,application/octet-stream"
    )
    # How long a signed media link (GET /media/{id}?exp=&sig=, for Twilio's MediaUrl) works.
    media_url_ttl_s: int = Field(default=3600, ge=60)

    @field_validator("mongodb_uri", "redis_url", "weaviate_url", "openai_base_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("mongodb_uri")
    @classmethod
    def _mongo_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("http_actions_file")
    @classmethod
    def _actions_file_exists(cls, value: Path | None) -> Path | None:
        if value is None or value.is_absolute() or value.exists():
            if value is not None and not value.is_file():
                raise ValueError(f"no such file: {value}")
            return value
        # A relative path from a profile file is relative to the project, not the cwd.
        anchored = _PROJECT_ROOT / value
        if not anchored.is_file():
            raise ValueError(f"no such file: {value}")
        return anchored

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str, info: ValidationInfo) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        if (
            info.data.get("app_env") == "prod"
            and not value.startswith("https://")
            and not info.data.get("allow_insecure_public_url")
        ):
            raise ValueError(
                "must be an https:// URL when APP_ENV=prod "
                "(or set ALLOW_INSECURE_PUBLIC_URL=true to run without TLS knowingly)"
            )
        return value.rstrip("/")

    @field_validator("whatsapp_template_sid", "whatsapp_quick_reply_sid", mode="before")
    @classmethod
    def _content_sid(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip() or None
            if value is not None and not re.fullmatch(r"HX[0-9a-fA-F]{32}", value):
                raise ValueError("a Twilio Content SID is HX followed by 32 hex digits")
        return value

    @field_validator("widget_allowed_origins")
    @classmethod
    def _origin_list(cls, value: str) -> str:
        entries = [e.strip().lower().rstrip("/") for e in value.split(",") if e.strip()]
        if entries == ["*"]:
            return "*"
        for entry in entries:
            # An origin is scheme://host[:port]: a path or a bare host would never match.
            if not _ORIGIN.fullmatch(entry):
                raise ValueError(
                    f"{entry!r} is not an origin like https://shop.example (or use '*' alone)"
                )
        if not entries:
            raise ValueError("list at least one origin, or '*' for any website")
        return ",".join(entries)

    @field_validator("jwt_secret")
    @classmethod
    def _real_secret_in_prod(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        secret = value.get_secret_value() if value is not None else ""
        if secret.lower() in _PLACEHOLDERS:
            if info.data.get("app_env") == "prod":
                raise ValueError("must be a random secret of 32+ characters when APP_ENV=prod")
            if value is not None:
                # A well-known value is worse than none: none means a generated secret.
                raise ValueError("must not be a placeholder; leave it unset to generate one")
        elif info.data.get("app_env") == "prod" and len(secret) < 32:
            raise ValueError("must be a random secret of 32+ characters when APP_ENV=prod")
        return value

    @property
    def embedded(self) -> bool:
        """True when at least one backing service is run locally by the supervisor."""
        return self.mongodb_uri is None or self.redis_url is None

    @property
    def widget_origins(self) -> frozenset[str] | None:
        """The websites that may embed the widget; None when any may."""
        if self.widget_allowed_origins == "*":
            return None
        return frozenset(self.widget_allowed_origins.split(","))

    @property
    def media_root(self) -> Path:
        """Where media files are kept: MEDIA_DIR, else DATA_DIR/media."""
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    def media_type_allowed(self, mime_type: str) -> bool:
        """True when MEDIA_ALLOWED_TYPES lets a file of this MIME type be stored."""
        wanted = mime_type.split(";")[0].strip().lower()
        for pattern in self.media_allowed_types.split(","):
            pattern = pattern.strip().lower()
            if pattern and (
                pattern == wanted or (pattern.endswith("*") and wanted.startswith(pattern[:-1]))
            ):
                return True
        return False

    @property
    def llm_configured(self) -> bool:
        """A chat model is reachable: an API key or an OpenAI-compatible base URL is set."""
        return self.openai_api_key is not None or self.openai_base_url is not None

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.app_env != "prod"

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.app_env == "prod"


def with_installation_secrets(settings: Settings) -> Settings:
    """`settings` with every unset generated secret filled in from `DATA_DIR/secrets`."""
    if settings.jwt_secret is not None:
        return settings
    from config.secrets import installation_secret

    secret = SecretStr(installation_secret(settings.data_dir, "jwt_secret"))
    return settings.model_copy(update={"jwt_secret": secret})


class SettingsError(SystemExit):
    """Start-up stops with one line that names the offending variable."""


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment and the profile file, or exit with one clear line."""
    try:
        return Settings(_env_file=_env_files(), **overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"configuration error: {name}: {first['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` or pass their own."""
    return load_settings()
