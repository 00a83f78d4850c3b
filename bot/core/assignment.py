"""Who answers a chat: operator presence, and a hand-off given to the least loaded operator.

Presence lives in Redis, so every API process agrees: an operator is online while one of
their panel sockets is open (each refreshes a key that expires PRESENCE_TTL_S after the
last socket went), unless they said they are away. A hand-off is assigned to the online
operator with the fewest open chats (waiting or taken, assigned to them); with nobody
online, or outside BUSINESS_HOURS, the customer is told when a person will answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from beanie import PydanticObjectId
from redis.exceptions import RedisError

from bot.core.business_hours import parse_hours
from bot.core.documents import Conversation, Operator, utcnow
from bot.core.i18n import normalize_language, text_for
from bot.core.modes import say_to_customer
from bot.core.types import ConversationEvent, Mode

if TYPE_CHECKING:
    from bot.core.runtime import Core

Presence = Literal["online", "away", "offline"]
PRESENCE_TTL_S = 45
HEARTBEAT_S = 15
ASSIGNED = "conversation.assigned"
_OPEN = [Mode.WAITING_OPERATOR.value, Mode.OPERATOR.value]


def _online_key(operator_id: str) -> str:
    return f"sb:presence:online:{operator_id}"


def _away_key(operator_id: str) -> str:
    return f"sb:presence:away:{operator_id}"


async def heartbeat(core: Core, operator_id: str) -> None:
    """An open panel socket: the operator is there (for PRESENCE_TTL_S more)."""
    await core.redis.set(_online_key(operator_id), "1", ex=PRESENCE_TTL_S)


async def set_away(core: Core, operator_id: str, away: bool) -> None:
    """The operator's own choice; away lasts until they come back (or a day)."""
    if away:
        await core.redis.set(_away_key(operator_id), "1", ex=86_400)
    else:
        await core.redis.delete(_away_key(operator_id))


async def presence_of(core: Core, operator_ids: list[str]) -> dict[str, Presence]:
    """Each operator's presence; offline for all when Redis cannot tell."""
    if not operator_ids:
        return {}
    try:
        online = await core.redis.mget([_online_key(i) for i in operator_ids])
        away = await core.redis.mget([_away_key(i) for i in operator_ids])
    except RedisError:
        return dict.fromkeys(operator_ids, "offline")
    result: dict[str, Presence] = {}
    for operator_id, on, off in zip(operator_ids, online, away, strict=True):
        result[operator_id] = "offline" if not on else ("away" if off else "online")
    return result


async def open_chats(operator_ids: list[PydanticObjectId]) -> dict[PydanticObjectId, int]:
    """Waiting or taken chats assigned to each operator."""
    cursor = await Conversation.get_pymongo_collection().aggregate(
        [
            {"$match": {"assignee_id": {"$in": operator_ids}, "mode": {"$in": _OPEN}}},
            {"$group": {"_id": "$assignee_id", "n": {"$sum": 1}}},
        ]
    )
    counts = {row["_id"]: int(row["n"]) for row in await cursor.to_list()}
    return {i: counts.get(i, 0) for i in operator_ids}


async def least_loaded_online(core: Core) -> Operator | None:
    """The online, active operator with the fewest open chats (by e-mail on a tie)."""
    operators = await Operator.find(Operator.active == True).sort("+email").to_list()  # noqa: E712
    present = await presence_of(core, [str(o.id) for o in operators])
    online = [o for o in operators if o.id is not None and present[str(o.id)] == "online"]
    if not online:
        return None
    load = await open_chats([o.id for o in online if o.id is not None])
    return min(online, key=lambda o: load[o.id] if o.id is not None else 0)


async def auto_assign(core: Core, conversation_id: PydanticObjectId) -> Operator | None:
    """Give a waiting, unassigned chat to the least loaded online operator, if any."""
    operator = await least_loaded_online(core)
    if operator is None or operator.id is None:
        return None
    given = await assign_waiting(
        core, conversation_id, operator.id, actor="system", reason="auto", unassigned_only=True
    )
    return operator if given else None


async def assign_waiting(
    core: Core,
    conversation_id: PydanticObjectId,
    operator_id: PydanticObjectId,
    *,
    actor: str,
    reason: str | None = None,
    unassigned_only: bool = False,
) -> bool:
    """Set a waiting chat's assignee and tell the panels; False if it no longer waits."""
    query: dict[str, object] = {"_id": conversation_id, "mode": Mode.WAITING_OPERATOR.value}
    if unassigned_only:
        query["assignee_id"] = None
    result = await Conversation.get_pymongo_collection().update_one(
        query, {"$set": {"assignee_id": operator_id}}
    )
    if result.matched_count != 1:
        return False
    data = {"assignee_id": str(operator_id), "actor": actor}
    if reason is not None:
        data["reason"] = reason
    await core.bus.publish(
        ConversationEvent(type=ASSIGNED, conversation_id=str(conversation_id), data=data)
    )
    return True


def next_opening(core: Core, now: datetime | None = None) -> datetime | None:
    """When the business opens next, if BUSINESS_HOURS says and it is closed now."""
    settings = core.settings
    hours = parse_hours(settings.business_hours, settings.timezone)
    now = now or utcnow()
    if hours is None or hours.is_open(now):
        return None
    return hours.next_opening(now)


_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "ru": ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье"),
}


def when_text(opening: datetime, language: str | None) -> str:
    """ "09:00 on Monday" / "09:00 (понедельник)", in the business's own time zone."""
    day = opening.weekday()
    if normalize_language(language) == "ru":
        return f"{opening:%H:%M} ({_WEEKDAYS['ru'][day]})"
    return f"{opening:%H:%M} on {_WEEKDAYS['en'][day]}"


async def after_hand_off(
    core: Core, conversation_id: PydanticObjectId, language: str | None
) -> Operator | None:
    """A chat now waits for a person: give it to one, or tell the customer when one comes."""
    operator = await auto_assign(core, conversation_id)
    if operator is not None:
        return operator
    conversation = await Conversation.get(conversation_id)
    if conversation is None or conversation.mode is not Mode.WAITING_OPERATOR:
        return None
    opening = next_opening(core)
    text = (
        text_for("operator_at", language).format(when=when_text(opening, language))
        if opening is not None
        else text_for("operator_soon", language)
    )
    if core.settings.ai_helps_while_waiting:
        text += " " + text_for("meanwhile", language)
    await say_to_customer(
        core=core, conversation=conversation, text=text, kind="operator_availability"
    )
    return None
