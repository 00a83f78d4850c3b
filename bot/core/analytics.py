"""Figures for admins over a period: what the AI resolved, why it handed off, what it lacked.

Computed with MongoDB aggregations (they scan the period's conversations and AI answers;
nothing here is on the message path). Definitions, over conversations *created* in
[start, end) on one channel or all:

- `ai_resolved`: closed now, and never handed off, taken over or answered by an operator.
- `durable`: AI-resolved, first closed at least `DURABLE_DAYS` before `now`, and the
  customer never wrote again after that first close (a reopened and re-closed chat is not).
- hand-offs: every transition into `waiting_operator`, grouped by the recorded reason.
- operator times: from the first hand-off or take-over to the first operator message
  (first response) and to the close (resolution); median and p90 by linear interpolation.
- knowledge gaps: customer questions an AI answer marked `meta.abstained` (the knowledge
  base had nothing) answered, grouped by their lower-cased, trimmed text.
- answer feedback: operators' marks on AI answers (`meta.feedback`), given in the period.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId

from bot.core.documents import Conversation, Message, ModeChange, utcnow
from bot.core.types import Author

DURABLE_DAYS = 7
GAPS_LIMIT = 20
FEEDBACK_LIMIT = 50
FEEDBACK_VERDICTS = ("wrong", "incomplete", "outdated", "inappropriate")
GAP_EXAMPLES = 3
# The categories of a hand-off, in the order the page shows them.
HANDOFF_REASONS = (
    "customer_asked",
    "knowledge_missing",
    "guardrail",
    "model_failure",
    "policy",
    "other",
)
_OUTPUT_RULES = (
    "commitment",
    "human_claim",
    "insult",
    "length",
    "link_domain",
    "prompt_leak",
    "secret_leak",
    "semantic_attack",
    "display_name",
)
_CUSTOMER_ASKED = re.compile(
    r"^person_request|asked for (a|an) (person|human|operator|agent)|wants? (a|an) "
    r"(person|human|operator)|customer (asked|requested)",
    re.IGNORECASE,
)
_POLICY = re.compile(
    r"^(sensitive_topic|anger|repeated_failures|handoff_semantic)\b|^hand-off policy$"
)
_MODEL_FAILURE = re.compile(r"^no chat model$|^the AI failed|error|timeout|exception", re.I)
_KNOWLEDGE = re.compile(
    r"\b(know|knowledge|not found|no answer|couldn'?t find|could not find|no information)",
    re.IGNORECASE,
)


def handoff_category(reason: str | None, actor: str) -> str:
    """The category of one recorded hand-off reason (free text from the worker and agent)."""
    text = (reason or "").strip()
    if _CUSTOMER_ASKED.search(text):
        return "customer_asked"
    if _POLICY.search(text):
        return "policy"
    if text.split(":", 1)[0] in _OUTPUT_RULES:
        return "guardrail"
    if _MODEL_FAILURE.search(text) or actor == "system":
        # The worker's own hand-offs that are not policy: no model, failures, parked chats.
        return "model_failure"
    if _KNOWLEDGE.search(text):
        return "knowledge_missing"
    return "other"


def percentile(values: list[float], p: float) -> float | None:
    """The p-quantile (0..1) by linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(slots=True)
class Timing:
    count: int
    median_s: float | None
    p90_s: float | None


@dataclass(slots=True)
class GapExample:
    text: str
    conversation_id: str
    created_at: str


@dataclass(slots=True)
class KnowledgeGap:
    question: str
    count: int
    examples: list[GapExample]


@dataclass(slots=True)
class FeedbackItem:
    message_id: str
    conversation_id: str
    verdict: str
    note: str
    operator_id: str
    created_at: str
    answer: str


@dataclass(slots=True)
class Summary:
    start: str
    end: str
    channel: str | None
    conversations: int
    closed: int
    ai_resolved: int
    ai_resolution_rate: float | None
    durable_eligible: int
    durable: int
    durable_resolution_rate: float | None
    handed_off: int
    handoffs_total: int
    handoffs_by_reason: dict[str, int]
    first_response: Timing
    resolution: Timing
    csat: dict[str, Any] | None
    knowledge_gaps: list[KnowledgeGap] = field(default_factory=list)
    feedback_by_verdict: dict[str, int] = field(default_factory=dict)
    feedback: list[FeedbackItem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _size(path: str) -> dict[str, Any]:
    return {"$gt": [{"$size": path}, 0]}


def _only(path: str, mode: str) -> dict[str, Any]:
    return {"$filter": {"input": path, "as": "c", "cond": {"$eq": ["$$c.to_mode", mode]}}}


def _earliest(array: Any) -> dict[str, Any]:
    return {"$min": {"$map": {"input": array, "as": "c", "in": "$$c.created_at"}}}


def _conversation_pipeline(match: dict[str, Any], durable_before: datetime) -> list[dict[str, Any]]:
    messages = Message.get_pymongo_collection().name
    changes = ModeChange.get_pymongo_collection().name
    resolved = {
        "$and": [
            {"$eq": ["$mode", "closed"]},
            {"$not": ["$operator_involved"]},
            {"$not": ["$handed_off"]},
        ]
    }
    eligible = {"$and": [resolved, {"$lte": ["$first_close", durable_before]}]}
    involved_closed = {"$and": [{"$eq": ["$mode", "closed"]}, "$operator_involved"]}
    return [
        {"$match": match},
        {
            "$lookup": {
                "from": changes,
                "localField": "_id",
                "foreignField": "conversation_id",
                "as": "changes",
            }
        },
        {
            "$lookup": {
                "from": messages,
                "let": {"cid": "$_id"},
                "pipeline": [
                    {
                        "$match": {
                            "$expr": {
                                "$and": [
                                    {"$eq": ["$conversation_id", "$$cid"]},
                                    {"$eq": ["$author", "operator"]},
                                ]
                            }
                        }
                    },
                    {"$sort": {"seq": 1}},
                    {"$limit": 1},
                    {"$project": {"created_at": 1}},
                ],
                "as": "first_operator",
            }
        },
        {
            "$addFields": {
                "handoffs": _only("$changes", "waiting_operator"),
                "takeovers": _only("$changes", "operator"),
                "first_close": _earliest(_only("$changes", "closed")),
            }
        },
        {
            "$addFields": {
                "handed_off": _size("$handoffs"),
                "operator_involved": {"$or": [_size("$takeovers"), _size("$first_operator")]},
                "escalated_at": _earliest({"$concatArrays": ["$handoffs", "$takeovers"]}),
                # Not "$first_operator.created_at": SecantusDB walks no path through an array.
                "first_operator_at": _earliest("$first_operator"),
            }
        },
        {
            "$lookup": {
                "from": messages,
                "let": {"cid": "$_id", "fc": "$first_close"},
                "pipeline": [
                    {
                        "$match": {
                            "$expr": {
                                "$and": [
                                    {"$eq": ["$conversation_id", "$$cid"]},
                                    {"$eq": ["$author", "customer"]},
                                    {"$gt": ["$created_at", "$$fc"]},
                                ]
                            }
                        }
                    },
                    {"$limit": 1},
                    {"$project": {"_id": 1}},
                ],
                "as": "came_back",
            }
        },
        {
            "$facet": {
                "totals": [
                    {
                        "$group": {
                            "_id": None,
                            "conversations": {"$sum": 1},
                            "closed": {"$sum": {"$cond": [{"$eq": ["$mode", "closed"]}, 1, 0]}},
                            "ai_resolved": {"$sum": {"$cond": [resolved, 1, 0]}},
                            "durable_eligible": {"$sum": {"$cond": [eligible, 1, 0]}},
                            "durable": {
                                "$sum": {
                                    "$cond": [
                                        {"$and": [eligible, {"$not": [_size("$came_back")]}]},
                                        1,
                                        0,
                                    ]
                                }
                            },
                            "handed_off": {"$sum": {"$cond": ["$handed_off", 1, 0]}},
                        }
                    }
                ],
                "first_response_ms": [
                    {"$match": {"first_operator_at": {"$ne": None}, "escalated_at": {"$ne": None}}},
                    {"$project": {"ms": {"$subtract": ["$first_operator_at", "$escalated_at"]}}},
                    {"$match": {"ms": {"$gte": 0}}},
                ],
                "resolution_ms": [
                    {"$match": {"$expr": involved_closed, "escalated_at": {"$ne": None}}},
                    {"$project": {"ms": {"$subtract": ["$closed_at", "$escalated_at"]}}},
                    {"$match": {"ms": {"$gte": 0}}},
                ],
                "handoffs": [
                    {"$unwind": "$handoffs"},
                    {
                        "$group": {
                            "_id": {"reason": "$handoffs.reason", "actor": "$handoffs.actor"},
                            "n": {"$sum": 1},
                        }
                    },
                ],
            }
        },
    ]


def _gaps_pipeline(match: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"$match": match},
        {
            "$lookup": {
                "from": Message.get_pymongo_collection().name,
                "let": {"cid": "$conversation_id", "seqs": {"$ifNull": ["$meta.answers", []]}},
                "pipeline": [
                    {
                        "$match": {
                            "$expr": {
                                "$and": [
                                    {"$eq": ["$conversation_id", "$$cid"]},
                                    {"$eq": ["$author", "customer"]},
                                    {"$in": ["$seq", "$$seqs"]},
                                ]
                            }
                        }
                    },
                    {"$project": {"text": 1, "created_at": 1}},
                ],
                "as": "questions",
            }
        },
        {"$unwind": "$questions"},
        {
            "$addFields": {
                "key": {"$toLower": {"$trim": {"input": "$questions.text", "chars": " \t\n?!.,"}}}
            }
        },
        {"$match": {"key": {"$ne": ""}}},
        {
            "$group": {
                "_id": "$key",
                "count": {"$sum": 1},
                "last": {"$max": "$questions.created_at"},
                "examples": {
                    "$push": {
                        "text": "$questions.text",
                        "conversation_id": "$conversation_id",
                        "created_at": "$questions.created_at",
                    }
                },
            }
        },
        {"$sort": {"count": -1, "last": -1, "_id": 1}},
        {"$limit": GAPS_LIMIT},
        {"$project": {"count": 1, "examples": {"$slice": ["$examples", GAP_EXAMPLES]}}},
    ]


def _timing(rows: list[dict[str, Any]]) -> Timing:
    seconds = [row["ms"] / 1000 for row in rows]
    median, p90 = percentile(seconds, 0.5), percentile(seconds, 0.9)
    return Timing(
        count=len(seconds),
        median_s=round(median, 3) if median is not None else None,
        p90_s=round(p90, 3) if p90 is not None else None,
    )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def summary(*, start: datetime, end: datetime, channel: str | None, now: datetime) -> Summary:
    """The figures of conversations created in [start, end), on `channel` or every channel."""
    match: dict[str, Any] = {"created_at": {"$gte": start, "$lt": end}}
    if channel:
        match["channel"] = channel
    cursor = await Conversation.get_pymongo_collection().aggregate(
        _conversation_pipeline(match, now - timedelta(days=DURABLE_DAYS))
    )
    facets: dict[str, Any] = (await cursor.to_list())[0]
    totals: dict[str, Any] = facets["totals"][0] if facets["totals"] else {}
    by_reason = dict.fromkeys(HANDOFF_REASONS, 0)
    for row in facets["handoffs"]:
        key = row["_id"] or {}
        by_reason[handoff_category(key.get("reason"), str(key.get("actor") or ""))] += row["n"]
    gap_match: dict[str, Any] = {
        "author": "ai",
        "meta.abstained": True,
        "created_at": {"$gte": start, "$lt": end},
    }
    if channel:
        gap_match["channel"] = channel
    gaps_cursor = await Message.get_pymongo_collection().aggregate(_gaps_pipeline(gap_match))
    gaps = [
        KnowledgeGap(
            question=row["_id"],
            count=row["count"],
            examples=[
                GapExample(
                    text=e["text"],
                    conversation_id=str(e["conversation_id"]),
                    created_at=e["created_at"].isoformat(),
                )
                for e in row["examples"]
            ],
        )
        for row in await gaps_cursor.to_list()
    ]
    closed, resolved = int(totals.get("closed", 0)), int(totals.get("ai_resolved", 0))
    eligible, durable = int(totals.get("durable_eligible", 0)), int(totals.get("durable", 0))
    return Summary(
        start=start.isoformat(),
        end=end.isoformat(),
        channel=channel,
        conversations=int(totals.get("conversations", 0)),
        closed=closed,
        ai_resolved=resolved,
        ai_resolution_rate=_rate(resolved, closed),
        durable_eligible=eligible,
        durable=durable,
        durable_resolution_rate=_rate(durable, eligible),
        handed_off=int(totals.get("handed_off", 0)),
        handoffs_total=sum(by_reason.values()),
        handoffs_by_reason=by_reason,
        first_response=_timing(facets["first_response_ms"]),
        resolution=_timing(facets["resolution_ms"]),
        csat=await _csat(match),
        knowledge_gaps=gaps,
        **await _feedback(start=start, end=end, channel=channel),
    )


class NotAnAnswer(LookupError):
    """No AI answer has this id."""


async def add_feedback(
    *, message_id: str, operator_id: PydanticObjectId, verdict: str, note: str
) -> dict[str, Any]:
    """An operator's mark on an AI answer (wrong, incomplete, outdated, inappropriate)."""
    if verdict not in FEEDBACK_VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(FEEDBACK_VERDICTS)}")
    try:
        oid = PydanticObjectId(message_id)
    except (InvalidId, TypeError):
        raise NotAnAnswer(message_id) from None
    entry = {
        "verdict": verdict,
        "note": note,
        "operator_id": operator_id,
        "created_at": utcnow(),
    }
    done = await Message.get_pymongo_collection().update_one(
        {"_id": oid, "author": Author.AI.value}, {"$push": {"meta.feedback": entry}}
    )
    if done.matched_count == 0:
        raise NotAnAnswer(message_id)
    return entry


async def _csat(match: dict[str, Any]) -> dict[str, Any] | None:
    """Ratings of the period's conversations: all, AI-only and those an operator joined."""
    cursor = await Conversation.get_pymongo_collection().aggregate(
        [
            {"$match": {**match, "csat.score": {"$exists": True}}},
            {
                "$group": {
                    "_id": {"$ifNull": ["$csat.with_operator", False]},
                    "count": {"$sum": 1},
                    "total": {"$sum": "$csat.score"},
                }
            },
        ]
    )
    groups = {bool(row["_id"]): row for row in await cursor.to_list()}
    if not groups:
        return None

    def part(rows: list[dict[str, Any]]) -> dict[str, Any]:
        count = sum(int(r["count"]) for r in rows)
        total = sum(float(r["total"]) for r in rows)
        return {"count": count, "average": round(total / count, 2) if count else None}

    return {
        **part(list(groups.values())),
        "ai_only": part([groups[False]] if False in groups else []),
        "with_operator": part([groups[True]] if True in groups else []),
    }


async def _feedback(*, start: datetime, end: datetime, channel: str | None) -> dict[str, Any]:
    match: dict[str, Any] = {"author": Author.AI.value, "meta.feedback": {"$exists": True}}
    if channel:
        match["channel"] = channel
    in_period = {"meta.feedback.created_at": {"$gte": start, "$lt": end}}
    cursor = await Message.get_pymongo_collection().aggregate(
        [
            {"$match": match},
            {"$unwind": "$meta.feedback"},
            {"$match": in_period},
            {"$sort": {"meta.feedback.created_at": -1}},
            {
                "$facet": {
                    "counts": [{"$group": {"_id": "$meta.feedback.verdict", "n": {"$sum": 1}}}],
                    "items": [{"$limit": FEEDBACK_LIMIT}],
                }
            },
        ]
    )
    facets: dict[str, Any] = (await cursor.to_list())[0]
    by_verdict = dict.fromkeys(FEEDBACK_VERDICTS, 0)
    for row in facets["counts"]:
        if row["_id"] in by_verdict:
            by_verdict[row["_id"]] = row["n"]
    items = []
    for row in facets["items"]:
        mark = row["meta"]["feedback"]
        items.append(
            FeedbackItem(
                message_id=str(row["_id"]),
                conversation_id=str(row["conversation_id"]),
                verdict=mark["verdict"],
                note=mark.get("note", ""),
                operator_id=str(mark.get("operator_id", "")),
                created_at=mark["created_at"].isoformat(),
                answer=row.get("text", ""),
            )
        )
    return {"feedback_by_verdict": by_verdict, "feedback": items}


def summary_rows(found: Summary) -> list[tuple[str, str, str]]:
    """The summary as (section, name, value) rows: what the CSV export holds."""

    def text(value: object) -> str:
        return "" if value is None else str(value)

    rows: list[tuple[str, str, str]] = [
        ("period", "start", found.start),
        ("period", "end", found.end),
        ("period", "channel", found.channel or "all"),
    ]
    for name in (
        "conversations",
        "closed",
        "ai_resolved",
        "ai_resolution_rate",
        "durable_eligible",
        "durable",
        "durable_resolution_rate",
        "handed_off",
        "handoffs_total",
    ):
        rows.append(("totals", name, text(getattr(found, name))))
    for reason, count in found.handoffs_by_reason.items():
        rows.append(("handoffs_by_reason", reason, str(count)))
    for label, timing in (
        ("first_response", found.first_response),
        ("resolution", found.resolution),
    ):
        rows.append((label, "count", str(timing.count)))
        rows.append((label, "median_s", text(timing.median_s)))
        rows.append((label, "p90_s", text(timing.p90_s)))
    for gap in found.knowledge_gaps:
        rows.append(("knowledge_gaps", gap.question, str(gap.count)))
    for verdict, count in found.feedback_by_verdict.items():
        rows.append(("answer_feedback", verdict, str(count)))
    return rows
