"""The mode state machine: allowed moves, who and when, the customer told, the event sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from beanie import PydanticObjectId

from bot.core import modes
from bot.core.cleanup import conversation_scope
from bot.core.documents import Conversation, Message, ModeChange
from bot.core.events import MODE_CHANGED
from bot.core.modes import ALLOWED, InvalidTransition, transition
from bot.core.pipeline import handle_incoming_message
from bot.core.runtime import Core
from bot.core.types import Author, InboundMessage, Mode


async def new_chat(core: Core, *, language: str = "en") -> PydanticObjectId:
    result = await handle_incoming_message(
        InboundMessage(
            channel="web",
            external_chat_id="c",
            external_user_id="c",
            external_message_id="c:1",
            text="hello",
            language=language,
        ),
        core=core,
    )
    return PydanticObjectId(result.message.conversation_id)


async def take_over(
    core: Core, conversation_id: PydanticObjectId, operator: PydanticObjectId
) -> Conversation:
    return await transition(
        core=core,
        conversation_id=conversation_id,
        to=Mode.OPERATOR,
        actor=f"operator:{operator}",
        assignee_id=operator,
    )


async def test_every_mode_can_be_left_and_none_loops_to_itself() -> None:
    for mode, targets in ALLOWED.items():
        assert targets and mode not in targets


async def test_takeover_records_who_tells_customer_and_publishes(core: Core) -> None:
    conversation_id = await new_chat(core, language="ru")
    events = core.bus.subscribe(str(conversation_id), owner="test")
    operator = PydanticObjectId()
    updated = await take_over(core, conversation_id, operator)
    assert updated.mode is Mode.OPERATOR and updated.assignee_id == operator
    change = await ModeChange.find_one(ModeChange.conversation_id == conversation_id)
    assert change is not None
    assert (change.from_mode, change.to_mode, change.actor) == (
        Mode.AI,
        Mode.OPERATOR,
        f"operator:{operator}",
    )
    notice = await Message.find_one(
        Message.conversation_id == conversation_id, Message.author == Author.SYSTEM
    )
    assert notice is not None and "оператор" in notice.text.lower()
    # The mode change and the notice each take the next number of the shared sequence.
    assert change.seq == 2 and notice.seq == 3
    event = await asyncio.wait_for(events.get(), 5)
    while event is not None and event.type != MODE_CHANGED:
        event = await asyncio.wait_for(events.get(), 5)
    assert event is not None and event.seq == 2 and event.data["mode"] == "operator"
    await events.close()


async def test_forbidden_transition_is_refused(core: Core) -> None:
    conversation_id = await new_chat(core)
    await transition(core=core, conversation_id=conversation_id, to=Mode.CLOSED, actor="system")
    with pytest.raises(InvalidTransition):
        await transition(
            core=core, conversation_id=conversation_id, to=Mode.WAITING_OPERATOR, actor="ai"
        )
    conversation = await Conversation.get(conversation_id)
    assert conversation is not None and conversation.mode is Mode.CLOSED
    assert await ModeChange.find(ModeChange.conversation_id == conversation_id).count() == 1


async def test_two_operators_taking_one_chat_only_one_wins(core: Core) -> None:
    conversation_id = await new_chat(core)
    first, second = PydanticObjectId(), PydanticObjectId()
    results = await asyncio.gather(
        transition(
            core=core,
            conversation_id=conversation_id,
            to=Mode.OPERATOR,
            actor=f"operator:{first}",
            assignee_id=first,
        ),
        transition(
            core=core,
            conversation_id=conversation_id,
            to=Mode.OPERATOR,
            actor=f"operator:{second}",
            assignee_id=second,
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Conversation)]
    assert len(winners) >= 1
    conversation = await Conversation.get(conversation_id)
    assert conversation is not None
    assert conversation.assignee_id in (first, second)
    assert await ModeChange.find(ModeChange.conversation_id == conversation_id).count() == len(
        winners
    )


async def test_a_takeover_read_before_the_ais_hand_off_still_takes_the_chat(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operator's request read the chat in AI mode; the AI handed it off before the write.
    conversation_id = await new_chat(core)
    stale = await Conversation.get_pymongo_collection().find_one({"_id": conversation_id})
    await transition(
        core=core, conversation_id=conversation_id, to=Mode.WAITING_OPERATOR, actor="ai"
    )
    fresh_read = modes._stored
    reads = 0

    async def first_read_is_stale(cid: PydanticObjectId) -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return stale if reads == 1 and stale is not None else await fresh_read(cid)

    monkeypatch.setattr(modes, "_stored", first_read_is_stale)
    operator = PydanticObjectId()
    updated = await take_over(core, conversation_id, operator)
    assert updated.mode is Mode.OPERATOR and updated.assignee_id == operator
    moves = await ModeChange.find(ModeChange.conversation_id == conversation_id).to_list()
    assert [(m.from_mode, m.to_mode) for m in moves] == [
        (Mode.AI, Mode.WAITING_OPERATOR),
        (Mode.WAITING_OPERATOR, Mode.OPERATOR),
    ]


async def test_hand_back_counts_operator_era_messages_as_answered(core: Core) -> None:
    conversation_id = await new_chat(core)
    await transition(core=core, conversation_id=conversation_id, to=Mode.OPERATOR, actor="op")
    back = await transition(core=core, conversation_id=conversation_id, to=Mode.AI, actor="op")
    assert back.answered_seq == back.last_customer_seq
    texts = [m.text for m in await Message.find(Message.author == Author.SYSTEM).to_list()]
    assert any("back to the AI" in t for t in texts)


async def test_mode_change_releases_the_conversations_transient_state(core: Core) -> None:
    conversation_id = await new_chat(core)
    released: list[str] = []
    scope = conversation_scope(str(conversation_id))
    core.state.register(scope, "typing", lambda: released.append("typing"))
    core.state.register(scope, "stream", lambda: released.append("stream"))
    await transition(core=core, conversation_id=conversation_id, to=Mode.OPERATOR, actor="op")
    assert sorted(released) == ["stream", "typing"]
    assert not core.state.has(scope, "typing")
