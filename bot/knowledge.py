"""The core's view of the knowledge base: one search interface, whatever stores the chunks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
