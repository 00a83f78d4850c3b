"""Query embedders for the semantic detector, sharing the knowledge search's vectors.

Two multilingual models read each message, as they read each knowledge question: e5-small
and, unless `KB_SECOND_EMBEDDINGS=none`, Google's USE multilingual. Measured leaving one
business out of the labelled sets, their averaged margins find more attacks and requests
for a person than either alone at the same false-refusal rate (README, guardrails). With the
knowledge base of `rag/`, a message is embedded through its query-vector caches, so the
search that follows for the same text costs no second embedding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from bot.answers.guardrails.semantic import QueryEmbedder
from rag import KBSettings, normalize_query

# More texts than this at once are exemplars: one batch, not the per-query cache.
_BATCH = 4


class E5QueryEmbedder:
    """multilingual-e5-small in process (the one the knowledge base ships with)."""

    name = "e5-small"

    def __init__(self) -> None:
        from rag.embeddings import E5Embeddings

        self._model = E5Embeddings()

    async def vectors(self, texts: Sequence[str]) -> np.ndarray:
        items = [normalize_query(t) for t in texts]
        return await asyncio.to_thread(self._model.embed_array, items, query=True)


class USEQueryEmbedder:
    """USE multilingual v3 in process (the knowledge base's second model)."""

    name = "use"

    def __init__(self) -> None:
        from rag.embeddings import USEEmbeddings

        self._model = USEEmbeddings()

    async def vectors(self, texts: Sequence[str]) -> np.ndarray:
        items = [normalize_query(t) for t in texts]
        return await asyncio.to_thread(self._model.embed_array, items)


class KnowledgeQueryEmbedder:
    """Through a `RagKnowledge`'s knowledge base: the same vectors and cache as its search."""

    def __init__(self, knowledge: Any) -> None:
        self._knowledge = knowledge
        # The knowledge base embeds with e5 unless KB_EMBEDDINGS says otherwise.
        self.name = "e5-small" if KBSettings().embeddings == "local" else "kb"

    async def vectors(self, texts: Sequence[str]) -> np.ndarray:
        kb = await self._knowledge.base()
        if len(texts) > _BATCH:
            items = [normalize_query(t) for t in texts]
            embeddings = kb.embeddings
            if hasattr(embeddings, "embed_array"):
                out: np.ndarray = await asyncio.to_thread(embeddings.embed_array, items, query=True)
                return out
            rows = await asyncio.to_thread(lambda: [embeddings.embed_query(t) for t in items])
            return np.asarray(rows, dtype=np.float32)

        def one() -> np.ndarray:
            return np.stack([kb.query_vector(normalize_query(t)) for t in texts])

        return await asyncio.to_thread(one)


class KnowledgeSecondQueryEmbedder:
    """The knowledge base's second model, through its cache (built only when the base has
    one: `embedders_for`)."""

    name = "use"

    def __init__(self, knowledge: Any) -> None:
        self._knowledge = knowledge
        self._batch = USEQueryEmbedder()

    async def vectors(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) > _BATCH:
            return await self._batch.vectors(texts)
        kb = await self._knowledge.base()

        def one() -> np.ndarray:
            rows = [kb.second_query_vector(normalize_query(t)) for t in texts]
            if any(r is None for r in rows):
                raise RuntimeError("the knowledge base has no second embedding model")
            return np.stack(rows)

        return await asyncio.to_thread(one)


def _second_model() -> bool:
    return KBSettings().second_embeddings == "use"


def embedders_for(knowledge: object | None) -> list[QueryEmbedder]:
    """The knowledge base's own embedders when it has them, else the same models in process."""
    from bot.answers.knowledge import RagKnowledge

    if isinstance(knowledge, RagKnowledge):
        first: QueryEmbedder = KnowledgeQueryEmbedder(knowledge)
        return [first, KnowledgeSecondQueryEmbedder(knowledge)] if _second_model() else [first]
    return shipped_embedders() if _second_model() else [E5QueryEmbedder()]


def shipped_embedders() -> list[QueryEmbedder]:
    """The in-process embedders whose exemplar vectors ship with the package."""
    return [E5QueryEmbedder(), USEQueryEmbedder()]
