"""BUSINESS_HOURS as opening times, so the customer can be told when a person will answer.

The form is `Mon-Fri 09:00-18:00; Sat 10:00-14:00` (English day names, ranges or commas,
spans separated by ";"), read in TIMEZONE. Anything else stays what it always was, a fact
in the system prompt, and counts as always open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*([A-Za-z,\- ]+?)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Hours:
    """Opening spans per weekday (0 = Monday), local times."""

    spans: dict[int, list[tuple[time, time]]]
    zone: ZoneInfo

    def is_open(self, now: datetime) -> bool:
        """True when `now` (any time zone) falls in an opening span."""
        local = now.astimezone(self.zone)
        return any(a <= local.time() < b for a, b in self.spans.get(local.weekday(), []))

    def next_opening(self, now: datetime) -> datetime | None:
        """The next time the business opens after `now` (local time), within a week."""
        local = now.astimezone(self.zone)
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            for start, _end in sorted(self.spans.get(day.weekday(), [])):
                opening = datetime.combine(day, start, tzinfo=self.zone)
                if opening > local:
                    return opening
        return None


def _days(text: str) -> list[int] | None:
    found: list[int] = []
    for part in text.lower().replace(" ", "").split(","):
        ends = part.split("-")
        if not all(e[:3] in DAYS for e in ends) or len(ends) > 2:
            return None
        first, last = DAYS.index(ends[0][:3]), DAYS.index(ends[-1][:3])
        found.extend(DAYS.index(DAYS[(first + i) % 7]) for i in range((last - first) % 7 + 1))
    return found


def parse_hours(text: str | None, timezone: str) -> Hours | None:
    """The opening spans of BUSINESS_HOURS, or None when it is not in the form above."""
    if not text or not text.strip():
        return None
    spans: dict[int, list[tuple[time, time]]] = {}
    for chunk in text.split(";"):
        match = _SPAN.match(chunk)
        if match is None:
            return None
        days = _days(match.group(1))
        h1, m1, h2, m2 = (int(g) for g in match.groups()[1:])
        if days is None or not (h1 < 24 and h2 <= 24 and m1 < 60 and m2 < 60):
            return None
        start, end = time(h1, m1), time(23, 59, 59) if h2 == 24 else time(h2, m2)
        for day in days:
            spans.setdefault(day, []).append((start, end))
    return Hours(spans=spans, zone=ZoneInfo(timezone))
