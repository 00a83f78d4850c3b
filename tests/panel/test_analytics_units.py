"""The analytics' pure parts: hand-off reasons to categories, percentiles, CSV cells."""

from __future__ import annotations

import pytest

from bot.core.analytics import handoff_category, percentile
from operator_panel.analytics import _cell


@pytest.mark.parametrize(
    ("reason", "actor", "category"),
    [
        ("the customer asked for a person", "ai", "customer_asked"),
        ("person_request: semantic", "system", "customer_asked"),
        ("sensitive_topic: lawyer", "system", "policy"),
        ("anger", "system", "policy"),
        ("hand-off policy", "system", "policy"),
        ("secret_leak", "ai", "guardrail"),
        ("link_domain: evil.example", "ai", "guardrail"),
        ("no chat model", "system", "model_failure"),
        ("the AI failed 3 times: TimeoutError", "system", "model_failure"),
        ("ReplyFailed: APIConnectionError", "system", "model_failure"),
        ("I don't know the warranty terms for this model", "ai", "knowledge_missing"),
        ("an attachment without text", "ai", "other"),
        (None, "ai", "other"),
    ],
)
def test_hand_off_reasons_fall_into_categories(
    reason: str | None, actor: str, category: str
) -> None:
    assert handoff_category(reason, actor) == category


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([600.0, 1800.0], 0.5) == 1200.0
    assert percentile([600.0, 1800.0], 0.9) == pytest.approx(1680.0)
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5


def test_a_csv_cell_never_runs_as_a_formula() -> None:
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("@SUM(A1)") == "'@SUM(A1)"
    assert _cell("how do i pay") == "how do i pay"
