"""The AI keeps helping while a chat waits for a person (issue #25, item 5).

With nobody online, a customer handed over is told when a person will answer, and their next
questions are still answered (here from the sample knowledge base, no model), without another
hand-off or an offer of a person they already asked for. Once an operator takes the chat, or
it is given to one, the AI says nothing more; `AI_HELPS_WHILE_WAITING=false` keeps it silent
from the hand-off on, as before.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

import pytest
from beanie import PydanticObjectId

from bot.answers.kb_answers import KnowledgeAnswers
from bot.answers.knowledge import RagKnowledge
from bot.core.assignment import assign_waiting
from bot.core.documents import Conversation, Message, ModeChange, Operator
from bot.core.fencing import AiFence, Fenced, append_fenced
from bot.core.i18n import text_for
from bot.core.modes import transition
from bot.core.runtime import Core
from bot.core.types import Author, Mode
from config import Settings
from rag import KnowledgeBase
from tests.support import LiveApp, WidgetClient, live_app, new_session, widget_socket
from tests.test_modes import new_chat

pytestmark = pytest.mark.timeout(90)

# Long enough for a reply job, had one been queued, to be answered several times over.
QUIET_S = 1.0


def knowledge_app(settings: Settings, kb: KnowledgeBase) -> AbstractAsyncContextManager[LiveApp]:
    """The embedded default's answers (no model) from the sample knowledge base."""
    knowledge = RagKnowledge.wrapping(kb)
    return live_app(settings, knowledge=knowledge, replier=KnowledgeAnswers(knowledge))


async def handed_over(ws: WidgetClient) -> str:
    """Ask for a person; returns the text of the 'when a person answers' notice."""
    await ws.say("I want to talk to a human")
    await ws.until(lambda f: f["type"] == "status" and f["mode"] == "waiting_operator")
    notice = await ws.until(
        lambda f: (
            f["type"] == "message"
            and f["message"]["author"] == "system"
            and "busy" in f["message"]["text"]
        )
    )
    return str(notice["message"]["text"])


async def authors_after(conversation_id: str, seq: int) -> list[Author]:
    found = (
        await Message.find(
            {"conversation_id": PydanticObjectId(conversation_id), "seq": {"$gt": seq}}
        )
        .sort("+seq")
        .to_list()
    )
    return [m.author for m in found]


async def mode_of(conversation_id: str) -> Mode:
    chat = await Conversation.get(PydanticObjectId(conversation_id))
    assert chat is not None
    return chat.mode


async def test_a_waiting_chat_nobody_took_is_answered_until_a_person_takes_it(
    settings: Settings, sample_kb: KnowledgeBase
) -> None:
    async with knowledge_app(settings, sample_kb) as app:
        session = await new_session(app, name="Ann", language="en")
        cid = session["conversation_id"]
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()  # history
            notice = await handed_over(ws)
            assert notice.endswith(text_for("meanwhile", "en"))

            await ws.say("What is your return policy?")
            answer = await ws.message("ai")
            assert answer["sources"], answer["text"]  # a knowledge answer, cited
            assert text_for("meanwhile", "en") not in answer["text"]
            assert "A person from our team will also answer you here." in answer["text"]
            assert "operator" not in answer["text"].lower()  # no offer of what is coming
            assert not answer.get("quick_replies")
            assert await mode_of(cid) is Mode.WAITING_OPERATOR

            # Asking again is not a second hand-off: the customer hears that one is coming.
            await ws.say("operator please!!")
            again = await ws.message("system")
            assert again["text"] == text_for("still_waiting", "en")
            changes = await ModeChange.find(
                ModeChange.conversation_id == PydanticObjectId(cid)
            ).to_list()
            assert [c.to_mode for c in changes] == [Mode.WAITING_OPERATOR]

            await taken(app, cid)
            await ws.until(lambda f: f["type"] == "status" and f["mode"] == "operator")
            await ws.say("Are you there?")
            spoken = await ws.message("customer")
            await asyncio.sleep(QUIET_S)
            assert await authors_after(cid, int(spoken["seq"])) == []


async def taken(app: LiveApp, conversation_id: str) -> None:
    await transition(
        core=app.core,
        conversation_id=PydanticObjectId(conversation_id),
        to=Mode.OPERATOR,
        actor="operator:test",
    )


async def test_with_the_setting_off_a_waiting_chat_gets_no_ai_answer(
    settings: Settings, sample_kb: KnowledgeBase
) -> None:
    off = settings.model_copy(update={"ai_helps_while_waiting": False})
    async with knowledge_app(off, sample_kb) as app:
        session = await new_session(app, name="Ben", language="en")
        async with widget_socket(app, session["token"]) as ws:
            await ws.next()
            notice = await handed_over(ws)
            assert text_for("meanwhile", "en") not in notice
            await ws.say("What is your return policy?")
            spoken = await ws.message("customer")
            await asyncio.sleep(QUIET_S)
            assert await authors_after(session["conversation_id"], int(spoken["seq"])) == []


async def test_an_answer_begun_while_waiting_is_dropped_once_the_chat_is_given_to_someone(
    core: Core,
) -> None:
    cid = await new_chat(core)
    await transition(core=core, conversation_id=cid, to=Mode.WAITING_OPERATOR, actor="system")
    chat = await Conversation.get(cid)
    assert chat is not None
    fence = AiFence.of(chat)
    assert await fence.holds()  # nobody has it: the AI may help
    operator = await Operator(email="ola@example.com", password_hash="x").insert()
    assert operator.id is not None
    assert await assign_waiting(core, cid, operator.id, actor="system")
    assert not await fence.holds()
    with pytest.raises(Fenced):
        await append_fenced(core=core, fence=fence, conversation=chat, author=Author.AI, text="Hi")
    assert await authors_after(str(cid), 0) == [Author.CUSTOMER, Author.SYSTEM]
