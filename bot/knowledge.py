"""The core's view of the knowledge base: one search interface, whatever stores the chunks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from config import Settings
from rag import KnowledgeBase


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


class RagKnowledge:
    """The knowledge base of `rag/`, opened on first use (loading the model takes a moment).

    The customer's language is a preference, not a filter: a Russian question must still
    find an English passage, so the search spans every language and callers prefer passages
    in the customer's language among the hits (see `bot.kb_answers.choose_passages`).
    """

    def __init__(self, settings: Settings, *, redis: Redis | None = None) -> None:
        self._settings = settings
        self._redis = redis
        self._kb: KnowledgeBase | None = None
        self._opening = asyncio.Lock()

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
        if not kb.registry.documents():
            return []  # an empty knowledge base knows nothing; skip embedding the query
        hits = await kb.search(query, k=k)
        return [
            KnowledgeHit(
                text=hit.text,
                title=hit.title,
                source=hit.source,
                score=hit.score,
                language=hit.language or None,
            )
            for hit in hits
        ]

    def close(self) -> None:
        if self._kb is not None:
            self._kb.close()
