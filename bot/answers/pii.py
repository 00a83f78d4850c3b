"""PII masking applied before any customer text reaches the LLM (`PII_REDACTION`, on by default)."""

from __future__ import annotations

import re

# Order matters: cards and IBANs before the looser phone pattern would eat their digits.
_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("CARD", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")),
    ("PHONE", re.compile(r"(?<![\w])\+?\d[\d\s().-]{7,}\d(?![\w])")),
]


def redact_pii(text: str) -> str:
    """Replace e-mails, card numbers, IBANs and phone numbers with typed placeholders."""
    for label, pattern in _RULES:
        text = pattern.sub(f"[{label}]", text)
    return text
