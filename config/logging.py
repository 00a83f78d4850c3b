"""loguru set up once: readable lines in dev, JSON in prod; stdlib logging routed into it."""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

    from config.settings import Settings

# Values that must never reach a log line even when a library logs a URL or a header.
_SECRET_PATTERNS = [
    re.compile(r"(bot)\d{5,}:[A-Za-z0-9_-]{20,}"),
    re.compile(
        r"(?i)(authorization|x-twilio-signature|x-telegram-bot-api-secret-token|"
        r"api[_-]?key|password|token)([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
    ),
    re.compile(r"(?i)((?:mongodb(?:\+srv)?|rediss?)://[^:/@\s]*:)[^@\s]+(@)"),
]


def redact(text: str) -> str:
    """Mask secrets (bot tokens, credentials, auth headers) in a log message."""
    text = _SECRET_PATTERNS[0].sub(r"\1<redacted>", text)
    text = _SECRET_PATTERNS[1].sub(r"\1\2<redacted>", text)
    return _SECRET_PATTERNS[2].sub(r"\1<redacted>\2", text)


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def _patch(record: Record) -> None:
    record["message"] = redact(record["message"])


def setup_logging(settings: Settings) -> None:
    """Configure loguru sinks and route stdlib logging (uvicorn, pymongo, …) into them."""
    logger.remove()
    logger.configure(patcher=_patch)
    logger.add(
        sys.stderr,
        level=settings.log_level.upper(),
        serialize=settings.json_logs,
        backtrace=False,
        diagnose=False,
    )
    # Records below the level are not even made (uvicorn's access log, one per request).
    stdlib_level = logging.getLevelName(settings.log_level.upper())
    level = stdlib_level if isinstance(stdlib_level, int) else 0
    logging.basicConfig(handlers=[_InterceptHandler()], level=level, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi"):
        std = logging.getLogger(name)
        std.handlers = [_InterceptHandler()]
        std.propagate = False
    for noisy in ("pymongo", "httpx", "httpcore", "openai", "aiogram.event"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
