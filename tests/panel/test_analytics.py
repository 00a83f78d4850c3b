"""`GET /api/analytics/summary`: the seeded chats' figures, exactly, for admins only."""

from __future__ import annotations

import csv
import io

from bot.core.documents import Message
from tests.panel.analytics_seed import XSS_QUESTION, seed
from tests.panel.conftest import SignedIn
from tests.support import LiveApp


async def test_the_summary_holds_the_seeded_figures(app: LiveApp, admin: SignedIn) -> None:
    start = await seed(admin.operator_id)
    response = await admin.client.get("/api/analytics/summary", params={"from": start.isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["conversations"] == 7  # the chat before the period is not counted
    assert body["closed"] == 5
    assert body["ai_resolved"] == 3
    assert body["ai_resolution_rate"] == 0.6
    assert (body["durable_eligible"], body["durable"]) == (2, 1)
    assert body["durable_resolution_rate"] == 0.5
    assert body["handed_off"] == 4
    assert body["handoffs_by_reason"] == {
        "customer_asked": 1,
        "knowledge_missing": 0,
        "guardrail": 1,
        "model_failure": 1,
        "policy": 1,
        "other": 0,
    }
    assert body["first_response"] == {"count": 2, "median_s": 1200.0, "p90_s": 1680.0}
    assert body["resolution"] == {"count": 1, "median_s": 3600.0, "p90_s": 3600.0}
    assert body["csat"] is None
    gaps = body["knowledge_gaps"]
    assert [(g["question"], g["count"]) for g in gaps] == [
        ("how do i pay by crypto", 2),
        (XSS_QUESTION.lower().rstrip("?"), 1),
        ("where is the office", 1),
    ]
    assert {e["text"] for e in gaps[0]["examples"]} == {
        "How do I pay by crypto?",
        "  how do I pay by CRYPTO ",
    }


async def test_a_channel_narrows_every_figure(app: LiveApp, admin: SignedIn) -> None:
    start = await seed(admin.operator_id)
    response = await admin.client.get(
        "/api/analytics/summary", params={"from": start.isoformat(), "channel": "telegram"}
    )
    body = response.json()
    assert (body["conversations"], body["closed"], body["ai_resolution_rate"]) == (1, 0, None)
    assert body["handoffs_by_reason"]["model_failure"] == 1
    assert body["handoffs_total"] == 1
    assert body["knowledge_gaps"] == []


async def test_the_csv_export_has_the_same_figures(app: LiveApp, admin: SignedIn) -> None:
    start = await seed(admin.operator_id)
    for path, params in (
        ("/api/analytics/summary.csv", {"from": start.isoformat()}),
        ("/api/analytics/summary", {"from": start.isoformat(), "format": "csv"}),
    ):
        response = await admin.client.get(path, params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == ["section", "name", "value"]
        assert ["totals", "ai_resolved", "3"] in rows
        assert ["totals", "durable_resolution_rate", "0.5"] in rows
        assert ["handoffs_by_reason", "policy", "1"] in rows
        assert ["first_response", "p90_s", "1680.0"] in rows
        assert ["knowledge_gaps", "how do i pay by crypto", "2"] in rows


async def test_only_admins_see_analytics(app: LiveApp, operator: SignedIn) -> None:
    for path in ("/api/analytics/summary", "/api/analytics/summary.csv"):
        assert (await operator.client.get(path)).status_code == 403
        async with app.client() as anonymous:
            assert (await anonymous.get(path)).status_code == 401


async def test_a_bad_period_is_refused(app: LiveApp, admin: SignedIn) -> None:
    for params in (
        {"from": "yesterday"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2020-01-01", "to": "2026-01-01"},
    ):
        response = await admin.client.get("/api/analytics/summary", params=params)
        assert response.status_code == 422, params


async def test_operators_mark_ai_answers_and_admins_see_the_marks(
    app: LiveApp, admin: SignedIn, operator: SignedIn
) -> None:
    start = await seed(admin.operator_id)
    answer = await Message.find_one({"text": "The fees are 2 %."})
    question = await Message.find_one({"text": "What are the fees?"})
    assert answer is not None and question is not None
    path = f"/api/messages/{answer.id}/feedback"
    mark = {"verdict": "outdated", "note": "Fees are 3 % since <b>May</b>"}
    assert (await operator.client.post(path, json=mark)).status_code == 403  # no CSRF token
    bad = await operator.post(path, {"verdict": "meh"})
    assert bad.status_code == 422
    not_ai = await operator.post(f"/api/messages/{question.id}/feedback", mark)
    assert not_ai.status_code == 404
    assert (await operator.post("/api/messages/nope/feedback", mark)).status_code == 404
    done = await operator.post(path, mark)
    assert done.status_code == 201, done.text
    assert (await operator.post(path, {"verdict": "incomplete"})).status_code == 201

    body = (
        await admin.client.get("/api/analytics/summary", params={"from": start.isoformat()})
    ).json()
    assert body["feedback_by_verdict"] == {
        "wrong": 0,
        "incomplete": 1,
        "outdated": 1,
        "inappropriate": 0,
    }
    # Newest first (the order of two marks within one millisecond is not asserted).
    older = next(f for f in body["feedback"] if f["verdict"] == "outdated")
    assert len(body["feedback"]) == 2
    assert older["note"] == mark["note"]
    assert older["answer"] == "The fees are 2 %."
    assert older["operator_id"] == operator.operator_id
    assert older["conversation_id"] == str(answer.conversation_id)
