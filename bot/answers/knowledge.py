"""The core's view of the knowledge base: one search interface, whatever stores the chunks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from redis.asyncio import Redis

from config import Settings
from rag import KnowledgeBase
from rag.kb import query_text


@dataclass(frozen=True, slots=True)
class KnowledgeHit:
    text: str
    title: str
    source: str  # the file name or URL the document was ingested from
    score: float
    language: str | None = None


class KnowledgeSearch(Protocol):
    async def search(
        self, query: str, *, k: int = 5, language: str | None = None
    ) -> list[KnowledgeHit]:
        """The most relevant passages above the relevance threshold, best first."""
        ...


class NoKnowledge:
    """A deployment without a knowledge base: every search finds nothing."""

    async def search(
        self, query: str, *, k: int = 5, language: str | None = None
    ) -> list[KnowledgeHit]:
        return []


# A later section of a chunk must beat its first one by this much to be shown instead. A
# broad question scores every section of a page alike (e5: within 0.001 for "What is your
# return policy?"), and a page opens with its general rule; a specific question ("can I
# return a gift?") beats the opening by 0.02-0.03.
FOCUS_MARGIN = 0.01


class RagKnowledge:
    """The knowledge base of `rag/`, opened on first use (loading the model takes a moment).

    The customer's language is a preference, not a filter: a Russian question must still
    find an English passage, so the search spans every language and callers prefer passages
    in the customer's language among the hits (see `bot.answers.kb_answers.choose_passages`).
    """

    def __init__(self, settings: Settings, *, redis: Redis | None = None) -> None:
        self._settings = settings
        self._redis = redis
        self._kb: KnowledgeBase | None = None
        self._owned = True
        self._opening = asyncio.Lock()

    @classmethod
    def wrapping(cls, kb: KnowledgeBase) -> RagKnowledge:
        """Over a knowledge base that is already open (its owner closes it)."""
        knowledge = cls(Settings(_env_file=None))
        knowledge._kb = kb
        knowledge._owned = False
        return knowledge

    async def base(self) -> KnowledgeBase:
        async with self._opening:
            if self._kb is None:
                self._kb = await asyncio.to_thread(
                    KnowledgeBase.open, self._settings, redis=self._redis
                )
            return self._kb

    async def search(
        self, query: str, *, k: int = 5, language: str | None = None
    ) -> list[KnowledgeHit]:
        kb = await self.base()
        if not await asyncio.to_thread(kb.registry.count):
            return []  # an empty knowledge base knows nothing; skip embedding the query
        hits = await kb.search(query, k=k)
        focused = await asyncio.to_thread(self._focus, kb, query, [hit.text for hit in hits])
        return [
            KnowledgeHit(
                text=text,
                title=hit.title,
                source=hit.source,
                score=hit.score,
                language=hit.language or None,
            )
            for hit, text in zip(hits, focused, strict=True)
        ]

    def _focus(self, kb: KnowledgeBase, query: str, texts: list[str]) -> list[str]:
        """Each chunk cut down to its section that answers the query best.

        A chunk holds a document's sections ("Title > Heading" then text); a customer wants
        the one paragraph that answers them, not the whole page. Sections are compared only
        within their own chunk (one language), so the model's language bias does not matter.
        The question's vector is the one the search just made; sections are embedded once.
        """
        split = [split_sections(text) for text in texts]
        flat = [section for sections in split for section in sections]
        if len(flat) == len(texts):
            return texts
        vectors = kb.passage_vectors(flat)
        question = kb.query_vector(query_text(query))
        scores = vectors @ question
        focused: list[str] = []
        start = 0
        for sections in split:
            own = scores[start : start + len(sections)]
            best = int(np.argmax(own))
            if own[best] - own[0] < FOCUS_MARGIN:
                best = 0  # a general question ("your return policy?"): the opening rule
            focused.append(sections[best])
            start += len(sections)
        return focused

    def close(self) -> None:
        if self._kb is not None and self._owned:
            self._kb.close()


def is_heading_path(paragraph: str) -> bool:
    """A chunk's "Document > Section" line, which ingestion puts before a section's text."""
    return "\n" not in paragraph and " > " in paragraph and len(paragraph) < 200


def split_sections(text: str) -> list[str]:
    """The "Title > Heading" sections of a chunk (the whole text when it has none)."""
    sections: list[list[str]] = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        if is_heading_path(paragraph) or not sections:
            sections.append([paragraph])
        else:
            sections[-1].append(paragraph)
    return ["\n\n".join(parts) for parts in sections] or [text]
