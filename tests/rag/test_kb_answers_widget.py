"""The embedded default's answers, end to end: no model, the sample knowledge base, a widget.

What a customer sees: the paragraph that answers them, cited, with the offer of a person; a
question the knowledge base cannot answer is said to be unknown; asking for a person hands
the chat over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.answers.kb_answers import KnowledgeAnswers
from bot.answers.knowledge import RagKnowledge
from config import Settings
from rag import KnowledgeBase
from tests.support import LiveApp, live_app, new_session, widget_socket


@pytest.fixture
async def app(settings: Settings, sample_kb: KnowledgeBase) -> AsyncIterator[LiveApp]:
    knowledge = RagKnowledge.wrapping(sample_kb)
    async with live_app(
        settings, knowledge=knowledge, replier=KnowledgeAnswers(knowledge)
    ) as running:
        yield running


async def answer(app: LiveApp, question: str, language: str) -> dict[str, object]:
    session = await new_session(app, name="Visitor", language=language)
    async with widget_socket(app, session["token"]) as ws:
        await ws.next()
        await ws.say(question)
        return await ws.message("ai", timeout=30)


async def test_english_question_gets_the_paragraph_that_answers_it(app: LiveApp) -> None:
    reply = await answer(app, "How much does shipping cost?", "en")
    text = str(reply["text"])
    assert "4.90 EUR" in text and "free for orders above 50 EUR" in text
    assert "Sundays" not in text  # another section of the same page is left out
    assert reply["sources"] == [
        {"title": "Delivery times and shipping costs", "source": "shipping-times.md"}
    ]
    assert "operator" in text  # the offer of a person


async def test_russian_question_finds_the_english_policy(app: LiveApp) -> None:
    reply = await answer(app, "Можно ли вернуть подарок?", "ru")
    text = str(reply["text"])
    assert text.startswith("Вот что я нашёл")
    assert "gift receipt" in text
    assert {"title": "Returns policy", "source": "returns-policy.md"} in reply["sources"]  # type: ignore[operator]
    assert "оператор" in text


async def test_a_question_outside_the_knowledge_base_is_not_guessed(app: LiveApp) -> None:
    reply = await answer(app, "Who won the football world cup in 1998?", "en")
    assert reply["sources"] == []
    assert "couldn't find an answer" in str(reply["text"])


async def test_asking_for_a_person_hands_the_chat_over(app: LiveApp) -> None:
    session = await new_session(app, name="Visitor", language="ru")
    async with widget_socket(app, session["token"]) as ws:
        await ws.next()
        await ws.say("Соедините меня с оператором")
        reply = await ws.message("system")  # the hand-off policy's notice
        assert "оператор" in str(reply["text"])
        status = await ws.until(lambda f: f["type"] == "status")
        assert status["mode"] == "waiting_operator"


@pytest.mark.parametrize(
    "question", ["What is the meaning of life?", "Write me a poem about cats", "В чём смысл жизни?"]
)
async def test_broad_pages_do_not_answer_off_topic_questions(
    sample_kb: KnowledgeBase, question: str
) -> None:
    # The privacy/cookies page matches almost anything above the relevance threshold; its
    # noise floor (what it scores for off-topic probes) keeps it out of these answers.
    assert await RagKnowledge.wrapping(sample_kb).search(question) == []


async def test_the_noise_floor_keeps_real_answers(sample_kb: KnowledgeBase) -> None:
    hits = await RagKnowledge.wrapping(sample_kb).search("Do you sell my personal data?")
    assert hits and hits[0].source == "privacy-cookies.md"
