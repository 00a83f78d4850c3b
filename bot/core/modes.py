"""The conversation mode state machine: every transition goes through `transition()`."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any

from beanie import PydanticObjectId

from bot.core.cleanup import conversation_scope
from bot.core.conversations import append_message, pinned
from bot.core.documents import Contact, Conversation, ModeChange, utcnow
from bot.core.events import MODE_CHANGED
from bot.core.fencing import AiFence, append_fenced, ordered_sends
from bot.core.i18n import text_for
from bot.core.metrics import MODE_CHANGES
from bot.core.outbox import deliver_pending
from bot.core.types import Author, ConversationEvent, Mode

if TYPE_CHECKING:
    from bot.core.runtime import Core

ALLOWED: dict[Mode, frozenset[Mode]] = {
    Mode.AI: frozenset({Mode.WAITING_OPERATOR, Mode.OPERATOR, Mode.CLOSED}),
    Mode.WAITING_OPERATOR: frozenset({Mode.OPERATOR, Mode.AI, Mode.CLOSED}),
    Mode.OPERATOR: frozenset({Mode.AI, Mode.WAITING_OPERATOR, Mode.CLOSED}),
    # A customer who writes into a closed chat reopens it with the AI; an operator may
    # reopen it by taking it. Nobody queues a closed chat for operators.
    Mode.CLOSED: frozenset({Mode.AI, Mode.OPERATOR}),
}

# What the customer is told when their chat enters a mode (None: nothing to say).
_NOTICE: dict[tuple[Mode, Mode], str] = {
    (Mode.AI, Mode.WAITING_OPERATOR): "waiting_operator",
    (Mode.AI, Mode.OPERATOR): "operator_joined",
    (Mode.WAITING_OPERATOR, Mode.OPERATOR): "operator_joined",
    (Mode.CLOSED, Mode.OPERATOR): "operator_joined",
    (Mode.OPERATOR, Mode.WAITING_OPERATOR): "waiting_operator",
    (Mode.OPERATOR, Mode.AI): "back_to_ai",
    (Mode.WAITING_OPERATOR, Mode.AI): "back_to_ai",
    (Mode.AI, Mode.CLOSED): "closed",
    (Mode.WAITING_OPERATOR, Mode.CLOSED): "closed",
    (Mode.OPERATOR, Mode.CLOSED): "closed",
}


class InvalidTransition(ValueError):
    """The conversation cannot go from its current mode to the requested one."""

    def __init__(self, current: Mode, target: Mode) -> None:
        super().__init__(f"cannot change mode from {current.value} to {target.value}")
        self.current = current
        self.target = target


# A take-over that races the AI's own hand-off (ai -> waiting_operator) loses the
# compare-and-set once; it then moves from the mode the chat is in now, if that is allowed.
# Losing to the same move (another operator took the chat first) stays a conflict. A loss to
# a message stored meanwhile (it moves `last_seq`, which the write pins too) is retried.
_CAS_ATTEMPTS = 50


async def _stored(conversation_id: PydanticObjectId) -> dict[str, Any]:
    raw: dict[str, Any] | None = await Conversation.get_pymongo_collection().find_one(
        {"_id": conversation_id}
    )
    if raw is None:
        raise LookupError(f"conversation {conversation_id} does not exist")
    return raw


async def _compare_and_set(
    *,
    core: Core,
    conversation_id: PydanticObjectId,
    to: Mode,
    assignee_id: PydanticObjectId | None,
    fence: int | None,
    now: datetime,
) -> tuple[Mode | None, Conversation]:
    """Move the stored mode to `to`: (the mode it left, the updated chat), or (None, the chat)
    when it is there already.

    Without `fence`, a lost race is retried from the fresh mode; with it, a mode change that
    came first is final.
    """
    first_version: int | None = None
    for _ in range(_CAS_ATTEMPTS):
        raw = await _stored(conversation_id)
        conversation = Conversation.model_validate(raw)
        current = conversation.mode
        version = int(raw.get("mode_version") or 0)
        if fence is not None and version != fence:
            raise InvalidTransition(current, to)
        if first_version is not None and version != first_version and current == to:
            # Someone else made this very move meanwhile (two operators taking one chat).
            raise InvalidTransition(current, to)
        first_version = version if first_version is None else first_version
        if current == to and (to is not Mode.OPERATOR or conversation.assignee_id == assignee_id):
            return None, conversation
        if current != to and to not in ALLOWED[current]:
            raise InvalidTransition(current, to)
        changes: dict[str, Any] = {"mode": to}
        if to is Mode.OPERATOR:
            changes["assignee_id"] = assignee_id
        elif to in (Mode.AI, Mode.CLOSED, Mode.WAITING_OPERATOR):
            changes["assignee_id"] = None
        changes["closed_at"] = now if to is Mode.CLOSED else None
        if to is Mode.AI:
            # Everything the customer said while a human had the chat counts as answered.
            changes["answered_seq"] = conversation.last_customer_seq
        changes["last_seq"] = conversation.last_seq + 1  # the mode change's own seq
        changes["mode_version"] = version + 1
        stored = {**changes, "mode": to.value}
        # Leaving the AI waits for an AI message being sent right now (the send lock): once
        # this returns, nothing the AI said can still go out (bot.core.fencing).
        async with ordered_sends(core, conversation_id) if current is Mode.AI else nullcontext():
            result = await Conversation.get_pymongo_collection().update_one(
                pinned(raw), {"$set": stored}
            )
        if result.matched_count:
            return current, conversation.model_copy(update=changes)
    fresh = await _stored(conversation_id)
    raise InvalidTransition(Conversation.model_validate(fresh).mode, to)


async def transition(
    *,
    core: Core,
    conversation_id: PydanticObjectId,
    to: Mode,
    actor: str,
    reason: str | None = None,
    assignee_id: PydanticObjectId | None = None,
    notify: bool = True,
    fence: int | None = None,
) -> Conversation:
    """Move a conversation to `to`, record who and why, tell the customer, publish the event.

    Compare-and-set on the current mode, so two operators taking one chat cannot both win.
    Moving to the mode it is already in is a no-op that returns the conversation.
    With `fence` (a `mode_version` read earlier), only a conversation still at that version
    moves: the AI's own hand-off never undoes an operator's take-over that came meanwhile.
    """
    now = utcnow()
    current, updated = await _compare_and_set(
        core=core,
        conversation_id=conversation_id,
        to=to,
        assignee_id=assignee_id,
        fence=fence,
        now=now,
    )
    if current is None:
        return updated
    await ModeChange(
        conversation_id=conversation_id,
        seq=updated.last_seq,
        from_mode=current,
        to_mode=to,
        actor=actor,
        reason=reason,
        created_at=now,
    ).insert()
    MODE_CHANGES.labels(to.value).inc()
    # This process's transient state for the old mode goes now; other processes do the same
    # when the event reaches them.
    await core.state.release(conversation_scope(str(conversation_id)))
    await core.bus.publish(
        ConversationEvent(
            type=MODE_CHANGED,
            conversation_id=str(conversation_id),
            seq=updated.last_seq,
            data={
                "mode": to.value,
                "from": current.value,
                "actor": actor,
                "reason": reason,
                "assignee_id": str(updated.assignee_id) if updated.assignee_id else None,
            },
        )
    )
    notice = _NOTICE.get((current, to))
    if notify and notice is not None:
        contact = await Contact.get(updated.contact_id)
        await say_to_customer(
            core=core,
            conversation=updated,
            text=text_for(notice, contact.language if contact else None),
            kind=f"mode:{to.value}",
        )
    return updated


async def say_to_customer(
    *,
    core: Core,
    conversation: Conversation,
    text: str,
    kind: str,
    meta: dict[str, Any] | None = None,
    fence: AiFence | None = None,
) -> None:
    """Store a system message for the customer (with `meta` for operators) and send it.

    With `fence` (said on the AI's behalf) only while the chat is still the AI's: else
    `Fenced` and nothing is stored or sent.
    """
    if fence is not None:
        await append_fenced(
            core=core,
            fence=fence,
            conversation=conversation,
            author=Author.SYSTEM,
            text=text,
            meta={"kind": kind, **(meta or {})},
        )
    else:
        await append_message(
            core=core,
            conversation=conversation,
            author=Author.SYSTEM,
            text=text,
            meta={"kind": kind, **(meta or {})},
        )
    await deliver_pending(core=core, conversation=conversation)
