"""The analytics page's API for admins (JSON and CSV) and its static assets."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from bot.core import analytics
from bot.core.documents import Operator, utcnow
from operator_panel.auth import PanelSession, current_operator, require_csrf
from operator_panel.pages import SECURITY_HEADERS, STATIC_DIR

DEFAULT_DAYS = 30
MAX_DAYS = 366
ASSETS = {"analytics.js": "text/javascript", "analytics.css": "text/css"}


async def require_admin_reader(
    operator: Annotated[Operator, Depends(current_operator)],
) -> Operator:
    """FastAPI dependency for admin-only reads: signed in (else 401) and an admin (else 403)."""
    if operator.role != "admin":
        raise HTTPException(403, "only an admin may do this")
    return operator


AdminReader = Annotated[Operator, Depends(require_admin_reader)]
Writer = Annotated[PanelSession, Depends(require_csrf)]


class FeedbackRequest(BaseModel):
    verdict: str = Field(pattern="^(wrong|incomplete|outdated|inappropriate)$")
    note: str = Field(default="", max_length=2000)


class FeedbackView(BaseModel):
    message_id: str
    verdict: str
    note: str
    operator_id: str
    created_at: datetime


def _moment(value: str, *, end: bool) -> datetime:
    """An ISO date or date-time as UTC; a bare date as `to` includes that whole day."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            found = datetime.combine(day, time(), tzinfo=UTC)
            return found + timedelta(days=1) if end else found
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"not an ISO date or date-time: {value[:40]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def period(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """The [start, end) of a request: the last 30 days unless given; at most a year."""
    to = _moment(end, end=True) if end else utcnow()
    since = _moment(start, end=False) if start else to - timedelta(days=DEFAULT_DAYS)
    if since >= to:
        raise HTTPException(422, "`from` must be before `to`")
    if to - since > timedelta(days=MAX_DAYS):
        raise HTTPException(422, f"a period is at most {MAX_DAYS} days")
    return since, to


def to_csv(found: analytics.Summary) -> str:
    """The summary's figures as CSV (section, name, value)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", "name", "value"))
    for row in analytics.summary_rows(found):
        # A spreadsheet runs a cell starting with = + - @ as a formula: customer text is data.
        writer.writerow(tuple(_cell(cell) for cell in row))
    return out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_response(found: analytics.Summary) -> Response:
    return Response(
        to_csv(found),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="analytics.csv"',
            "Cache-Control": "no-store",
        },
    )


def build_analytics_router() -> APIRouter:
    """`GET /api/analytics/summary[.csv]` for admins and the page's script and styles."""
    router = APIRouter(tags=["panel-analytics"])

    async def compute(start: str | None, end: str | None, channel: str | None) -> analytics.Summary:
        since, to = period(start, end)
        return await analytics.summary(
            start=since, end=to, channel=(channel or "").strip() or None, now=utcnow()
        )

    @router.get("/api/analytics/summary", response_model=None)
    async def summary(
        _: AdminReader,
        start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
        channel: Annotated[str | None, Query(max_length=32)] = None,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    ) -> Any:
        found = await compute(start, end, channel)
        if format == "csv":
            return _csv_response(found)
        return Response(
            content=_json(found.as_dict()),
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/api/analytics/summary.csv", response_model=None)
    async def summary_csv(
        _: AdminReader,
        start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
        channel: Annotated[str | None, Query(max_length=32)] = None,
    ) -> Response:
        return _csv_response(await compute(start, end, channel))

    @router.post(
        "/api/messages/{message_id}/feedback", response_model=FeedbackView, status_code=201
    )
    async def feedback(message_id: str, body: FeedbackRequest, session: Writer) -> FeedbackView:
        assert session.operator.id is not None
        try:
            entry = await analytics.add_feedback(
                message_id=message_id,
                operator_id=session.operator.id,
                verdict=body.verdict,
                note=body.note.strip(),
            )
        except analytics.NotAnAnswer:
            raise HTTPException(404, "no such AI answer") from None
        return FeedbackView(
            message_id=message_id,
            verdict=entry["verdict"],
            note=entry["note"],
            operator_id=str(entry["operator_id"]),
            created_at=entry["created_at"],
        )

    for name, media_type in ASSETS.items():
        router.add_api_route(
            f"/panel/{name}",
            _asset(name, media_type),
            methods=["GET"],
            include_in_schema=False,
            name=f"panel_{name.replace('.', '_')}",
        )
    return router


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)


def _asset(name: str, media_type: str) -> Any:
    async def endpoint() -> FileResponse:
        return FileResponse(
            STATIC_DIR / name,
            media_type=media_type,
            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )

    return endpoint
