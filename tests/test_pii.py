"""PII masking: what is personal is masked, order numbers and dates are not, and a hostile
megabyte is scanned in linear time."""

from __future__ import annotations

import time

import pytest

from bot.answers.pii import redact_pii, restore_pii


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mail ann.k@example.com now", "mail [EMAIL] now"),
        ("call 555-1234 today", "call [PHONE] today"),
        ("phone (212) 555-0187", "phone [PHONE]"),
        ("тел. +7 916 123-45-67", "тел. [PHONE]"),
        ("мой 8-903-555-12-34", "мой [PHONE]"),
        ("(495) 123-45-67, доб. 204", "[PHONE], доб. 204"),
        ("card 4111 1111 1111 1111", "card [CARD]"),
        ("паспорт 45 12 345678", "паспорт [PASSPORT]"),
        ("SSN 123-45-6789", "SSN [ID]"),
        ("СНИЛС 123-456-789 01", "СНИЛС [ID]"),
        ("mobile 07700 900123", "mobile [PHONE]"),
        ("Hi, my name is John Smith, order 5521", "Hi, my name is [NAME], order 5521"),
        ("меня зовут Анна Петрова", "меня зовут [NAME]"),
        ("адрес: ул. Ленина, д. 5, кв. 12", "адрес: [ADDRESS]"),
        ("deliver to 221 Baker Street, flat 2 please", "deliver to [ADDRESS] please"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert redact_pii(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "order 123456789 is late",
        "заказ №2024-11-05-7781",
        "delivery on 05.11.2024 between 14:00-16:00",
        "order #300412",
        "tracking 1234567890123",  # 13 digits failing the Luhn check: not a card
        "заказ 40011923",
    ],
)
def test_order_numbers_and_dates_survive(text: str) -> None:
    assert redact_pii(text) == text


def test_placeholders_are_restored_from_the_customers_own_words() -> None:
    said = ["write to ann@example.com or call 555-1234"]
    assert restore_pii("I'll write to [EMAIL] and call [PHONE].", said) == (
        "I'll write to ann@example.com and call 555-1234."
    )


def _seconds(text: str) -> float:
    started = time.perf_counter()
    redact_pii(text)
    return time.perf_counter() - started


def test_a_megabyte_of_letters_is_masked_in_linear_time() -> None:
    # A quadratic pattern takes hours on this; ten times the text must take about ten times
    # as long (a ratio, generous against noise, not a timing).
    small, large = _seconds("h" * 100_000), _seconds("h" * 1_000_000)
    assert large < max(small, 0.001) * 60
    assert redact_pii("a." * 200_000 + "@").startswith("a.")
