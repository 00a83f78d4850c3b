"""The settings named in ARCHITECTURE.md ("Settings"): the external contract, in its order."""

from __future__ import annotations

CONTRACT_SETTINGS: tuple[str, ...] = (
    "APP_ENV",
    "DATA_DIR",
    "PUBLIC_BASE_URL",
    "MONGODB_URI",
    "REDIS_URL",
    "WEAVIATE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "LLM_MODEL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_API_BASE",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_WHATSAPP_FROM",
    "TWILIO_API_BASE",
    "SENTRY_DSN",
    "JWT_SECRET",
    "PII_REDACTION",
)
