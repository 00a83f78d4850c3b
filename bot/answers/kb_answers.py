"""Answers straight from the knowledge base, for deployments without a chat model.

No model that ships on PyPI can hold a support conversation, so the embedded default answers
with the best passage (or two) for the question, cited, in the customer's language where the
knowledge base has it, and offers an operator. Below the relevance threshold it says it does
not know. A customer who asks for a person is handed to an operator.
"""

from __future__ import annotations

import re

from bot.answers.knowledge import KnowledgeHit, KnowledgeSearch, is_heading_path
from bot.answers.model_context import ModelContext
from bot.answers.replies import Reply, TokenSink
from bot.core.attachment_text import without_media
from bot.core.types import QuickReply, Source

MAX_ANSWER_CHARS = 1500
# A second document is cited when the retrievers nearly agree on it too: at least one ranks
# it first, or both second (rag/fusion.py). On eval/kb/isp/dev.jsonl a second citation was
# the expected document in a third of the questions the first one missed.
SECOND_PASSAGE_CONFIDENCE = 0.3
_LANGUAGE_NAMES = {
    "en": {"en": "English", "ru": "Russian"},
    "ru": {"en": "английском", "ru": "русском"},
}

_LIST_ITEM = re.compile(r"^([-*•]|\d+[.)])\s")
_WANTS_HUMAN = re.compile(
    r"\b(operator|human|person|agent|manager|someone real|real person|live chat)\b|"
    r"(оператор|человек|менеджер|специалист|живой|живым|сотрудник)",
    re.IGNORECASE,
)

_TEXTS = {
    "en": {
        "intro": "Here is what I found:",
        "other_language": "This is from our {language} help page:",
        "offer": "If this does not answer your question, write “operator” and a person will "
        "continue the conversation.",
        "unknown": "I'm sorry, I couldn't find an answer to that in our knowledge base. "
        "Write “operator” and a person will help you.",
        "handoff": "Of course — I'm passing the conversation to an operator.",
        "waiting_offer": "A person from our team will also answer you here.",
        "waiting_unknown": "I'm sorry, I couldn't find an answer to that in our knowledge "
        "base. A person from our team will answer you here.",
        "person_button": "Talk to a person",
        "attachment": "I can only read text, so I'm passing this to an operator who will "
        "look at what you sent.",
    },
    "ru": {
        "intro": "Вот что я нашёл:",
        "other_language": "Это из нашей справки на {language} языке:",
        "offer": "Если это не отвечает на ваш вопрос, напишите «оператор», и разговор "
        "продолжит человек.",
        "unknown": "К сожалению, я не нашёл ответа на этот вопрос в нашей базе знаний. "
        "Напишите «оператор», и вам поможет человек.",
        "handoff": "Конечно — передаю разговор оператору.",
        "waiting_offer": "Вам также ответит здесь наш сотрудник.",
        "waiting_unknown": "К сожалению, я не нашёл ответа на этот вопрос в нашей базе "
        "знаний. Вам ответит здесь наш сотрудник.",
        "person_button": "Позвать оператора",
        "attachment": "Я умею читать только текст, поэтому передаю ваше сообщение оператору — "
        "он посмотрит, что вы прислали.",
    },
}


def _texts(language: str | None) -> dict[str, str]:
    return _TEXTS.get(language or "en", _TEXTS["en"])


def readable(passage: str) -> str:
    """A stored passage as a chat message: its own heading, paragraphs without hard wraps.

    Chunks carry a "Document > Section" heading path and the source file's line breaks;
    the customer needs the section's question and flowing text (the document is cited).
    """
    paragraphs = [p.strip() for p in passage.strip().split("\n\n") if p.strip()]
    if paragraphs and is_heading_path(paragraphs[0]):
        paragraphs[0] = paragraphs[0].rsplit(" > ", 1)[1]
    return "\n\n".join(_unwrap(p) for p in paragraphs)


def _unwrap(paragraph: str) -> str:
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    if any(_LIST_ITEM.match(line) for line in lines):
        return "\n".join(lines)  # a list keeps one item a line
    return " ".join(lines)


def choose_passages(hits: list[KnowledgeHit], language: str | None) -> list[KnowledgeHit]:
    """The best passage, and one from a second document when it is nearly as good.

    The knowledge base's own order is trusted across languages (it fuses two models'
    language-equalized rankings). `score` is its confidence in each passage's document.
    Among the best document's passages, one in the customer's language comes first.
    """
    if not hits:
        return []
    best = hits[0]
    for hit in hits[1:]:
        if hit.source == best.source and hit.language == language != best.language:
            best = hit
            break
    chosen = [best]
    for hit in hits[1:]:
        if hit.source != best.source and hit.score >= SECOND_PASSAGE_CONFIDENCE:
            chosen.append(hit)
            break
    return chosen


def language_note(passages: list[KnowledgeHit], language: str | None) -> str | None:
    """One line saying the answer is from a page in another language (None when it is not)."""
    if not language or not passages or any(p.language in (None, language) for p in passages):
        return None
    names = _LANGUAGE_NAMES.get(language, _LANGUAGE_NAMES["en"])
    other = passages[0].language or ""
    return _texts(language)["other_language"].format(language=names.get(other, other))


def _person_button(texts: dict[str, str]) -> list[QuickReply]:
    """The offer of an operator as a button; its title asks for a person in words the
    hand-off check knows, so a press hands the chat over like the typed request."""
    return [QuickReply(title=texts["person_button"], payload="handoff")]


class KnowledgeAnswers:
    """`ReplyGenerator` that answers from retrieved passages without generation."""

    def __init__(self, knowledge: KnowledgeSearch) -> None:
        self.knowledge = knowledge

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        # A photo's description is for a model to read; it is nothing to search for.
        question = without_media(context.question)
        texts = _texts(context.language)
        waiting = context.waiting_for_person
        if not question:
            # A photo, a voice note, a location: nothing to search for, a person can look.
            if waiting:
                return Reply(text=texts["waiting_offer"])
            return Reply(text=texts["attachment"], handoff_reason="an attachment without text")
        if _WANTS_HUMAN.search(question):
            if waiting:
                return Reply(text=texts["waiting_offer"])
            return Reply(text=texts["handoff"], handoff_reason="the customer asked for a person")
        hits = context.knowledge or await self.knowledge.search(
            question, k=4, language=context.language
        )
        passages = choose_passages(hits, context.language)
        # While the chat waits for a person, one is coming: no offer of one, no button.
        buttons = [] if waiting else _person_button(texts)
        if not passages:
            text = texts["waiting_unknown" if waiting else "unknown"]
            await on_token(text)
            return Reply(text=text, abstained=True, quick_replies=buttons)
        note = language_note(passages, context.language)
        body = [note or texts["intro"]]
        for hit in passages:
            passage = readable(hit.text)
            if len(passage) > MAX_ANSWER_CHARS // len(passages):
                passage = passage[: MAX_ANSWER_CHARS // len(passages) - 1].rstrip() + "…"
            body.append(passage)  # the sources are named once, below the message
        body.append(texts["waiting_offer" if waiting else "offer"])
        text = "\n\n".join(body)
        await on_token(text)
        return Reply(
            text=text,
            quick_replies=buttons,
            sources=[
                Source(title=h.title, source=h.source, score=round(h.score, 3)) for h in passages
            ],
        )
