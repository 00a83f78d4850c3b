"""The hot paths' queries use an index on the embedded database, so they stay fast as it grows.

SecantusDB plans some filter shapes as a collection scan where MongoDB would use the index:
a top-level `$and` or `$or`, and any filter whose fields are not all in one index (`_id` plus
another field scans too). A dedup check that scans every message grows by ~35 ms per
thousand stored messages; the outbox's claim, scanning every message for each one sent, made
each round of 200 customers slower than the last. Every filter the message path sends —
finds and updates, on the way in and on the way out — is explained here. A find-and-modify
scans whatever its filter: SecantusDB writes its document back through `_id` + `$and`
(Beanie's `document.set()` is one), so the message path sends none.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import monitoring

from bot.answers.engine import Engine
from bot.answers.worker import ReplyWorker
from bot.core.channel_context import CoreChannelContext
from bot.core.conversations import latest_messages, messages_after
from bot.core.documents import Conversation
from bot.core.fencing import AiFence, append_fenced
from bot.core.modes import say_to_customer, transition
from bot.core.outbox import deliver_pending
from bot.core.pipeline import handle_incoming_message
from bot.core.runtime import Core
from bot.core.types import Author, InboundMessage, Mode
from tests.support import RecordingOutput


class _Finds(monitoring.CommandListener):
    """Records the filters of finds, find-and-modifies and updates while recording is on
    (listeners are process-wide), each as the `find` that explains it."""

    def __init__(self) -> None:
        self.recording = False
        self.commands: list[dict[str, Any]] = []
        self.find_and_modify: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.recording:
            return
        command = event.command
        if event.command_name == "find":
            self.commands.append({"find": command["find"], **_filter(command)})
        elif event.command_name == "findAndModify":
            self.find_and_modify.append(f"{command['findAndModify']} {command['query']}")
        elif event.command_name == "update":
            for update in command["updates"]:
                self.commands.append({"find": command["update"], "filter": dict(update["q"])})

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _filter(command: Any) -> dict[str, Any]:
    return {"filter": dict(command.get("filter") or {})}


FINDS = _Finds()
monitoring.register(FINDS)  # before the fixtures open their clients


@pytest.fixture
def finds() -> Iterator[_Finds]:
    FINDS.commands.clear()
    FINDS.find_and_modify.clear()
    FINDS.recording = True
    yield FINDS
    FINDS.recording = False


def _stages(plan: dict[str, Any]) -> Iterator[str]:
    yield str(plan.get("stage"))
    for key in ("inputStage", "inputStages"):
        child = plan.get(key)
        for item in child if isinstance(child, list) else [child] if child else []:
            yield from _stages(item)


async def test_the_message_path_never_scans_a_collection(
    core: Core, engine: Engine, finds: _Finds
) -> None:
    def inbound(n: int, chat: str = "v1") -> InboundMessage:
        return InboundMessage(
            channel="widget",
            external_chat_id=chat,
            external_user_id=chat,
            external_message_id=f"{chat}:{n}",
            text=f"question {n}",
        )

    for n in range(3):
        await handle_incoming_message(inbound(n), core=core)
    await handle_incoming_message(inbound(1), core=core)  # a redelivery
    result = await handle_incoming_message(inbound(0, chat="v2"), core=core)
    conversation = await Conversation.get(result.message.conversation_id)
    assert conversation is not None and conversation.id is not None
    await latest_messages(conversation.id, limit=30)
    await latest_messages(conversation.id, before_seq=2, limit=30)
    await messages_after(conversation.id, 0)
    output = core.outputs["widget"] = RecordingOutput()
    # Stored, claimed by the outbox, sent and marked sent.
    await say_to_customer(core=core, conversation=conversation, text="Hello!", kind="greeting")
    assert [o.message.text for o in output.sent] == ["Hello!"]
    await deliver_pending(core=core, conversation=conversation)
    # The AI's answer behind its fence, then a hand-off and an operator's take-over.
    fence = AiFence.of(conversation)
    await append_fenced(
        core=core, fence=fence, conversation=conversation, author=Author.AI, text="An answer"
    )
    assert await fence.holds()
    for to, at_version in ((Mode.WAITING_OPERATOR, fence.version), (Mode.OPERATOR, None)):
        await transition(
            core=core, conversation_id=conversation.id, to=to, actor="test", fence=at_version
        )
    assert not await fence.holds()
    await CoreChannelContext(core).history(str(conversation.id), after_seq=0, limit=50)
    await ReplyWorker(core, engine).sweep()

    database = core.mongo[core.settings.mongodb_db]
    explained = [c for c in finds.commands if c["find"] != "prompt_blocks" and c["filter"]]
    seen: set[str] = set()
    explained = [c for c in explained if not (repr(c) in seen or seen.add(repr(c)))]
    assert {c["find"] for c in explained} >= {"messages", "contacts", "conversations"}
    scans: list[str] = []
    for command in explained:
        answer = await database.command({"explain": command, "verbosity": "queryPlanner"})
        stages = set(_stages(answer["queryPlanner"]["winningPlan"]))
        if "COLLSCAN" in stages:
            scans.append(f"{command}")
    assert scans == []
    assert finds.find_and_modify == []
