"""PII masking applied before any text reaches the LLM (`PII_REDACTION`, on by default).

Every pattern is linear in the text's length: a match can only start where a run of its
characters starts (look-behinds), and no quantified group can match the same text two ways,
so a megabyte of letters is scanned once. Order numbers and dates stay: a phone needs a
phone's shape (a leading + or 8, an area code in brackets, dashes between digit groups),
and a card number must pass the Luhn check or be written the way cards are printed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_PASSPORT = re.compile(r"(?<![\d-])\d{2} ?\d{2} \d{6}(?![\d-])")
# US social security and Russian SNILS numbers.
_ID_NUMBER = re.compile(r"(?<![\d-])(?:\d{3}-\d{2}-\d{4}|\d{3}-\d{3}-\d{3}[ -]\d{2})(?![\d-])")
# A person's name where they introduce themselves (up to three capitalised words).
_NAME = re.compile(
    r"(?P<intro>\b(?i:my name is|name:|меня зовут|мое имя|моё имя|фио:?) ?)"
    r"[A-ZА-ЯЁ][a-zа-яё'-]{1,30}(?: [A-ZА-ЯЁ][a-zа-яё'-]{1,30}){0,2}"
)
# A street address with a house number.
_ADDRESS = re.compile(
    r"(?:\b(?:ул\.|улица|пр-т|проспект|пер\.|переулок|шоссе|бульвар|б-р)\s?[А-ЯЁA-Z][\w.-]{1,30}"
    r"(?: [\w.-]{1,30})?,? (?:д\.|дом)? ?\d{1,4}[а-яa-z]?(?:/\d{1,3})?"
    r"(?:,? (?:кв\.|квартира|корп\.|к\.) ?\d{1,4})*)"
    r"|(?<![\w-])\d{1,5} [A-Z][a-z]{1,30}(?: [A-Z][a-z]{1,30})? "
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Close|Way)\b\.?"
    r"(?:,? (?:apt|flat|unit)\.? ?\d{1,4})?"
)
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[ -]?\(?\d{1,4}\)?(?:[ -]?\d{2,4}){2,4}"  # +7 916 123-45-67, +44 20 7946 0958
    r"|8[ -]?\(?\d{3}\)?[ -]?\d{3}[ -]?\d{2}[ -]?\d{2}"  # 8-903-555-12-34, 8 (916) 123 45 67
    r"|\(\d{3,5}\) ?\d{2,3}[ -]\d{2}[ -]?\d{2,4}"  # (495) 123-45-67, (212) 555-0187
    r"|\d{3}[ -]\d{3}[ -]\d{4}"  # 212-555-0187
    r"|\d{3}-\d{2}-\d{2}"  # 123-45-67
    r"|0\d{4} ?\d{6}"  # 07700 900123
    r"|\d{3}-\d{4}"  # 555-1234
    r")(?![\w-])"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


# Grouped as cards are printed (4-4-4-4, 4-4-4-4-3, Amex 4-6-5): a card even when a digit is
# mistyped and the Luhn check fails. Order numbers and dates are not written this way.
_CARD_LAYOUT = re.compile(r"\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{5}")


def _card(match: re.Match[str]) -> str:
    number = match.group(0)
    digits = re.sub(r"\D", "", number)
    return "[CARD]" if _luhn(digits) or _CARD_LAYOUT.fullmatch(number) else number


_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", _EMAIL),
    ("CARD", _CARD),
    ("IBAN", _IBAN),
    ("PASSPORT", _PASSPORT),
    ("ID", _ID_NUMBER),
    ("PHONE", _PHONE),
    ("NAME", _NAME),
    ("ADDRESS", _ADDRESS),
]


def _replace(label: str) -> str | Callable[[re.Match[str]], str]:
    if label == "CARD":
        return _card
    if label == "NAME":
        return lambda m: m.group("intro") + "[NAME]"
    return f"[{label}]"


def redact_pii(text: str) -> str:
    """Replace e-mails, cards, IBANs, passport / ID and phone numbers, self-introduced
    names and street addresses with placeholders."""
    for label, pattern in _RULES:
        text = pattern.sub(_replace(label), text)
    return text


def pii_values(text: str) -> list[tuple[str, str]]:
    """(label, value) of every piece of PII in `text`, in the order `redact_pii` masks."""
    found: list[tuple[str, str]] = []
    for label, pattern in _RULES:
        for match in pattern.finditer(text):
            if label == "NAME":
                found.append((label, match.group(0)[len(match.group("intro")) :]))
            elif label != "CARD" or _card(match) == "[CARD]":
                found.append((label, match.group(0)))
        text = pattern.sub(_replace(label), text)
    return found


def restore_pii(text: str, originals: Iterable[str]) -> str:
    """Put the customer's own values back where a model answer repeats a placeholder.

    Placeholders of a label are filled with that label's values in order of appearance
    (the last one repeats); a placeholder with no value stays as it is.
    """
    values: dict[str, list[str]] = {}
    for original in originals:
        for label, value in pii_values(original):
            values.setdefault(label, []).append(value)
    used: dict[str, int] = {}

    def fill(match: re.Match[str]) -> str:
        label = match.group(1)
        found = values.get(label)
        if not found:
            return match.group(0)
        index = min(used.get(label, 0), len(found) - 1)
        used[label] = index + 1
        return found[index]

    return re.sub(r"\[(EMAIL|CARD|IBAN|PASSPORT|ID|PHONE|NAME|ADDRESS)\]", fill, text)
