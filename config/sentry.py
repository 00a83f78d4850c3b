"""Sentry set-up: on only when SENTRY_DSN is set; never sends request bodies or PII."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings


def setup_sentry(settings: Settings) -> bool:
    """Initialise Sentry when a DSN is configured; returns whether it is on."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.loguru import LoguruIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.app_env,
        send_default_pii=False,
        max_request_body_size="never",
        traces_sample_rate=0.0,
        integrations=[LoguruIntegration()],
    )
    return True
