"""What the platform itself tells customers, in their language."""

from __future__ import annotations

import re

DEFAULT_LANGUAGE = "en"
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")

TEXTS: dict[str, dict[str, str]] = {
    "waiting_operator": {
        "en": "I'm passing your conversation to a human operator. Please stay in the chat, "
        "someone will answer here shortly.",
        "ru": "Передаю ваш диалог оператору. Пожалуйста, оставайтесь в чате — вам скоро "
        "ответят здесь.",
    },
    "still_waiting": {
        "en": "A person from our team has been asked to join and will answer you here.",
        "ru": "Мы уже позвали сотрудника — он ответит вам здесь же.",
    },
    "operator_joined": {
        "en": "An operator has joined the conversation.",
        "ru": "К диалогу подключился оператор.",
    },
    "back_to_ai": {
        "en": "The operator has handed the conversation back to the AI assistant.",
        "ru": "Оператор передал диалог обратно AI-ассистенту.",
    },
    "closed": {
        "en": "This conversation has been closed. Write to us any time to start again.",
        "ru": "Диалог закрыт. Напишите нам в любое время, чтобы начать снова.",
    },
    "no_model": {
        "en": "Our AI assistant is not available right now, so an operator will answer you "
        "here as soon as possible.",
        "ru": "AI-ассистент сейчас недоступен, поэтому вам ответит оператор — как можно "
        "скорее, здесь же.",
    },
    "ai_unavailable": {
        "en": "Sorry, I couldn't prepare an answer just now. Please try again in a moment.",
        "ru": "Извините, сейчас не получилось подготовить ответ. Попробуйте, пожалуйста, "
        "ещё раз чуть позже.",
    },
    "operator_at": {
        "en": "Our team is not here right now. A person will answer you here from {when}.",
        "ru": "Сейчас наших сотрудников нет на месте. Вам ответит человек здесь же, с {when}.",
    },
    "operator_soon": {
        "en": "Everyone on our team is busy right now. A person will answer you as soon as "
        "one is free.",
        "ru": "Сейчас все сотрудники заняты. Вам ответит первый освободившийся человек.",
    },
    "meanwhile": {
        "en": "Until then, I can try to help: ask me anything.",
        "ru": "А пока я постараюсь помочь: задавайте вопросы.",
    },
    "csat_request": {
        "en": "How would you rate this conversation? Choose from 1 star (poor) to 5 (excellent).",
        "ru": "Как вы оцениваете этот диалог? Выберите от 1 звезды (плохо) до 5 (отлично).",
    },
    "csat_thanks": {
        "en": "Thank you for your rating!",
        "ru": "Спасибо за оценку!",
    },
    "ai_failed": {
        "en": "Sorry, I couldn't prepare an answer just now. An operator will continue "
        "the conversation here.",
        "ru": "Извините, сейчас не получилось подготовить ответ. Диалог продолжит оператор.",
    },
}


def normalize_language(code: str | None) -> str | None:
    """`ru-RU` → `ru`; an unknown or empty code → None."""
    if not code:
        return None
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return base if base.isalpha() and 2 <= len(base) <= 3 else None


def detect_language(text: str) -> str | None:
    """A cheap script-based guess, enough to choose between the languages we speak."""
    cyrillic = len(_CYRILLIC.findall(text))
    latin = len(_LATIN.findall(text))
    if cyrillic == 0 and latin == 0:
        return None
    return "ru" if cyrillic >= latin else "en"


def text_for(key: str, language: str | None) -> str:
    """A system text in the customer's language, English where we have no translation."""
    variants = TEXTS[key]
    return variants.get(normalize_language(language) or DEFAULT_LANGUAGE, variants["en"])
