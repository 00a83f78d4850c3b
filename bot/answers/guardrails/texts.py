"""What the customer is told when a guardrail stops an answer, in their language."""

from __future__ import annotations

_TEXTS = {
    "refuse": {
        "en": "I can help with questions about our products, orders, delivery, payment and "
        "returns. What would you like to know?",
        "ru": "Я могу помочь с вопросами о товарах, заказах, доставке, оплате и возврате. "
        "Что вы хотели бы узнать?",
    },
    "output": {
        "en": "Sorry, I can't answer that in this chat. I can help with our products, orders, "
        "delivery, payment and returns — or write “operator” and a person will continue.",
        "ru": "Извините, на это я не могу ответить в этом чате. Я помогу с товарами, заказами, "
        "доставкой, оплатой и возвратом — или напишите «оператор», и разговор продолжит человек.",
    },
}


def guess_language(text: str) -> str:
    """ "ru" for a mostly Cyrillic text, else "en"."""
    cyrillic = sum("а" <= ch.lower() <= "я" or ch in "ёЁ" for ch in text)
    latin = sum("a" <= ch.lower() <= "z" for ch in text)
    return "ru" if cyrillic > latin else "en"


def safe_text(kind: str, language: str | None) -> str:
    """The safe answer of `kind` ("refuse" or "output") in `language` (English by default)."""
    texts = _TEXTS[kind]
    return texts.get(language or "en", texts["en"])
