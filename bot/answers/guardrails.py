"""Guardrails around every answer: attacks on the assistant are refused before any model or
search sees them, and an answer that leaks the system prompt is replaced.

Deliberately simple and explicit (patterns in the languages we speak): a refusal here costs
a customer nothing, and every refusal is counted and visible to operators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INJECTION = re.compile(
    r"("
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|guidelines)\b"
    r"|\bsystem\s+prompt\b|\b(reveal|show|print|repeat)\b.{0,30}\b(prompt|instructions)\b"
    r"|\byou\s+are\s+now\b|\bdeveloper\s+mode\b|\bjailbreak\b|\bDAN\b"
    r"|(игнорируй|проигнорируй|забудь|отмени)\w*.{0,40}(инструкци|правил|промпт)"
    r"|системн\w*\s+(промпт|инструкци)|(покажи|выведи|повтори)\w*.{0,30}(промпт|инструкци)"
    r"|ты\s+теперь\b|режим\w*\s+разработчика"
    r")",
    re.IGNORECASE | re.DOTALL,
)

REFUSAL = {
    "en": "I can help with questions about our products, orders, delivery, payment and "
    "returns. What would you like to know?",
    "ru": "Я могу помочь с вопросами о товарах, заказах, доставке, оплате и возврате. "
    "Что вы хотели бы узнать?",
}

# An answer that repeats this much of the system prompt verbatim leaks it.
_LEAK_CHARS = 60


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str | None = None


def check_input(text: str) -> Verdict:
    """Refuse attempts to rewrite the assistant's instructions or extract them."""
    if _INJECTION.search(text):
        return Verdict(allowed=False, reason="prompt injection")
    return Verdict(allowed=True)


def check_output(answer: str, system_prompt: str) -> Verdict:
    """Refuse an answer that quotes a long stretch of the system prompt."""
    squashed = " ".join(answer.split())
    prompt = " ".join(system_prompt.split())
    for start in range(0, max(len(prompt) - _LEAK_CHARS, 0) + 1, _LEAK_CHARS // 2):
        piece = prompt[start : start + _LEAK_CHARS]
        if len(piece) == _LEAK_CHARS and piece in squashed:
            return Verdict(allowed=False, reason="system prompt leak")
    return Verdict(allowed=True)


def refusal(language: str | None) -> str:
    return REFUSAL.get(language or "en", REFUSAL["en"])
