"""The fault suite at a small size: killed database, Valkey and `serve` lose and double nothing.

`tests/fault_suite.py` holds the run and its checks; run it by hand for bigger figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fault_suite import run


@pytest.mark.fault
@pytest.mark.timeout(420)
async def test_killed_servers_lose_double_and_skip_nothing(tmp_path: Path) -> None:
    report = await run(widgets=2, telegram_users=2, interval=1.0, settle=3.0, work_dir=tmp_path)
    print("\n".join(report.lines()))
    assert report.sent > 0 and report.resumes > 0
    assert report.stored == report.sent
    assert report.answered == report.sent
    assert not report.lost and not report.doubled
    assert not report.unanswered and not report.answered_twice
    assert not report.answered_without_text
    assert not report.telegram_not_sent_once and report.telegram_answers > 0
    assert not report.resume_repeated and not report.socket_doubled and not report.widget_missed
