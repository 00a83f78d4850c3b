"""The embedded default's answers, end to end: no model, the sample knowledge base, a widget.

What a customer sees: the paragraph that answers them, cited once (with the knowledge base's
confidence for operators), with the offer of a person; an answer from a page in another
language says so in one line; a question the knowledge base cannot answer is said to be
unknown; asking for a person hands the chat over.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from beanie import PydanticObjectId

from bot.answers.kb_answers import KnowledgeAnswers
from bot.answers.knowledge import RagKnowledge
from bot.core import analytics
from bot.core.documents import Message, utcnow
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
    sources = reply["sources"]
    assert isinstance(sources, list) and sources[0]["source"] == "shipping-times.md"
    assert sources[0]["title"] == "Delivery times and shipping costs"
    assert 0.7 <= sources[0]["score"] <= 1.0  # the confidence operators see
    assert "Delivery times and shipping costs" not in text  # named once: in sources
    assert "operator" in text  # the offer of a person
    stored = await Message.get(PydanticObjectId(str(reply["id"])))
    assert stored is not None and "abstained" not in stored.meta


async def test_the_demo_pages_return_question_gets_the_30_day_rule(app: LiveApp) -> None:
    reply = await answer(app, "What is your return policy?", "en")
    assert "30 days" in str(reply["text"])
    assert reply["sources"][0]["source"] == "returns-policy.md"  # type: ignore[index]


async def test_the_capital_of_peru_is_not_answered_from_the_shop_pages(app: LiveApp) -> None:
    reply = await answer(app, "What is the capital of Peru?", "en")
    assert reply["sources"] == []
    assert "couldn't find an answer" in str(reply["text"])
    # Marked as a knowledge gap, which the admins' analytics list with the question.
    stored = await Message.get(PydanticObjectId(str(reply["id"])))
    assert stored is not None and stored.meta.get("abstained") is True
    now = utcnow()
    found = await analytics.summary(
        start=now - timedelta(hours=1), end=now + timedelta(hours=1), channel=None, now=now
    )
    assert [(g.question, g.count) for g in found.knowledge_gaps] == [
        ("what is the capital of peru", 1)
    ]


async def test_russian_question_finds_the_english_policy(app: LiveApp) -> None:
    reply = await answer(app, "Можно ли вернуть подарок?", "ru")
    text = str(reply["text"])
    # The answer is English: the customer is told so, once, instead of a silent mix.
    assert text.startswith("Это из нашей справки на английском языке:")
    assert text.count("английском") == 1
    assert "gift receipt" in text
    assert reply["sources"][0]["source"] == "returns-policy.md"  # type: ignore[index]
    assert "оператор" in text


async def test_a_russian_question_with_a_russian_page_has_no_language_line(app: LiveApp) -> None:
    reply = await answer(app, "Как работает рассрочка?", "ru")
    text = str(reply["text"])
    assert text.startswith("Вот что я нашёл") and "справки на" not in text
    assert reply["sources"][0]["source"] == "rassrochka.md"  # type: ignore[index]


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
    # The privacy/cookies page is close to almost anything for one model; the two models
    # do not agree on it (or anything) for these, so the confidence stays below threshold.
    assert await RagKnowledge.wrapping(sample_kb).search(question) == []


async def test_agreement_keeps_real_answers(sample_kb: KnowledgeBase) -> None:
    hits = await RagKnowledge.wrapping(sample_kb).search("Do you sell my personal data?")
    # The two models split their first places between this page and account-delete.md (a
    # tie the answer resolves by citing both), so which comes first is not the point.
    assert "privacy-cookies.md" in [hit.source for hit in hits[:2]]


async def test_the_demo_pages_suggested_questions_are_answered_by_the_sample_base(
    sample_kb: KnowledgeBase,
) -> None:
    # The demo page and the sample knowledge base describe the same shop.
    page = (Path(__file__).parents[2] / "channels" / "widget_static" / "demo.html").read_text()
    suggested = re.findall(r"<li>“([^”]+)”", page)
    questions = [q for q in suggested if "human" not in q]
    assert "What is your return policy?" in questions and len(questions) >= 3
    knowledge = RagKnowledge.wrapping(sample_kb)
    for question in questions:
        assert await knowledge.search(question), question
