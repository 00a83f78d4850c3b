"""BUSINESS_HOURS read as opening times, in TIMEZONE, for "a person answers from …"."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.business_hours import parse_hours


def test_weekday_ranges_are_open_in_the_business_time_zone() -> None:
    hours = parse_hours("Mon-Fri 09:00-18:00; Sat 10:00-14:00", "Europe/Moscow")
    assert hours is not None
    # Wednesday 2026-12-02 06:30 UTC is 09:30 in Moscow: open; 16:00 UTC is 19:00: closed.
    assert hours.is_open(datetime(2026, 12, 2, 6, 30, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 12, 2, 16, 0, tzinfo=UTC))
    # Saturday afternoon after 14:00 local: the next opening is Monday 09:00 local.
    opening = hours.next_opening(datetime(2026, 12, 5, 12, 0, tzinfo=UTC))
    assert opening is not None
    assert (opening.weekday(), opening.hour, opening.minute) == (0, 9, 0)
    assert opening.utcoffset() is not None and opening.utcoffset().total_seconds() == 3 * 3600


def test_day_lists_and_wrapping_ranges() -> None:
    hours = parse_hours("Fri-Mon 10:00-12:00; Wed 09:00-24:00", "UTC")
    assert hours is not None
    assert sorted(hours.spans) == [0, 2, 4, 5, 6]
    assert hours.is_open(datetime(2026, 12, 2, 23, 59, tzinfo=UTC))  # Wednesday, until midnight
    listed = parse_hours("Mon, Thu 08:00-09:00", "UTC")
    assert listed is not None and sorted(listed.spans) == [0, 3]


def test_free_text_stays_a_prompt_fact() -> None:
    for text in (None, "", "weekdays nine to six", "Mon-Fri 9-18", "Mon-Fri 25:00-26:00"):
        assert parse_hours(text, "UTC") is None
