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
from bot.core.types import Source

MAX_ANSWER_CHARS = 1500
# A second passage is added only when it is about as relevant as the first.
SECOND_PASSAGE_MARGIN = 0.005

_LIST_ITEM = re.compile(r"^([-*•]|\d+[.)])\s")
_WANTS_HUMAN = re.compile(
    r"\b(operator|human|person|agent|manager|someone real|real person|live chat)\b|"
    r"(оператор|человек|менеджер|специалист|живой|живым|сотрудник)",
    re.IGNORECASE,
)

_TEXTS = {
    "en": {
        "intro": "Here is what I found:",
        "source": "Source",
        "offer": "If this does not answer your question, write “operator” and a person will "
        "continue the conversation.",
        "unknown": "I'm sorry, I couldn't find an answer to that in our knowledge base. "
        "Write “operator” and a person will help you.",
        "handoff": "Of course — I'm passing the conversation to an operator.",
        "attachment": "I can only read text, so I'm passing this to an operator who will "
        "look at what you sent.",
    },
    "ru": {
        "intro": "Вот что я нашёл:",
        "source": "Источник",
        "offer": "Если это не отвечает на ваш вопрос, напишите «оператор», и разговор "
        "продолжит человек.",
        "unknown": "К сожалению, я не нашёл ответа на этот вопрос в нашей базе знаний. "
        "Напишите «оператор», и вам поможет человек.",
        "handoff": "Конечно — передаю разговор оператору.",
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
    """The best passage, and a second one from another document when it is as relevant.

    The knowledge base's own order is trusted across languages (its scores are equalized
    for the embedding model's same-language bias; raw scores are not comparable across
    languages). A second passage must match the first one's language, or the customer's.
    """
    if not hits:
        return []
    best = hits[0]
    chosen = [best]
    for hit in hits[1:3]:
        if hit.source == best.source or hit.score < best.score - SECOND_PASSAGE_MARGIN:
            continue
        if hit.language in (best.language, language):
            chosen.append(hit)
            break
    return chosen


class KnowledgeAnswers:
    """`ReplyGenerator` that answers from retrieved passages without generation."""

    def __init__(self, knowledge: KnowledgeSearch) -> None:
        self.knowledge = knowledge

    async def generate(self, context: ModelContext, *, on_token: TokenSink) -> Reply:
        question = context.question.strip()
        texts = _texts(context.language)
        if not question:
            # A photo, a voice note, a location: nothing to search for, a person can look.
            return Reply(text=texts["attachment"], handoff_reason="an attachment without text")
        if _WANTS_HUMAN.search(question):
            return Reply(text=texts["handoff"], handoff_reason="the customer asked for a person")
        hits = context.knowledge or await self.knowledge.search(
            question, k=4, language=context.language
        )
        passages = choose_passages(hits, context.language)
        if not passages:
            text = texts["unknown"]
            await on_token(text)
            return Reply(text=text)
        body = [texts["intro"]]
        for hit in passages:
            passage = readable(hit.text)
            if len(passage) > MAX_ANSWER_CHARS // len(passages):
                passage = passage[: MAX_ANSWER_CHARS // len(passages) - 1].rstrip() + "…"
            body.append(f"{passage}\n({texts['source']}: {hit.title})")
        body.append(texts["offer"])
        text = "\n\n".join(body)
        await on_token(text)
        return Reply(text=text, sources=[Source(title=h.title, source=h.source) for h in passages])
