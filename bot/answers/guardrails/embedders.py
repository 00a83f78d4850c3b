"""Query embedders for the semantic detector, sharing the knowledge search's vectors.

With the knowledge base of `rag/`, a message is embedded through its query-vector cache,
so the search that follows for the same text costs no second embedding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag import normalize_query


class E5QueryEmbedder:
    """multilingual-e5-small in process (the one the knowledge base ships with)."""

    name = "e5-small"

    def __init__(self) -> None:
        from rag.embeddings import E5Embeddings

        self._model = E5Embeddings()

    async def vectors(self, texts: Sequence[str]) -> np.ndarray:
        items = [normalize_query(t) for t in texts]
        return await asyncio.to_thread(self._model.embed_array, items, query=True)


class KnowledgeQueryEmbedder:
    """Through a `RagKnowledge`'s knowledge base: the same vectors and cache as its search."""

    def __init__(self, knowledge: Any) -> None:
        self._knowledge = knowledge
        # The knowledge base embeds with e5 unless KB_EMBEDDINGS says otherwise.
        from rag import KBSettings

        self.name = "e5-small" if KBSettings().embeddings == "local" else "kb"

    async def vectors(self, texts: Sequence[str]) -> np.ndarray:
        kb = await self._knowledge.base()
        if len(texts) > 4:  # exemplars: one batch, not the per-query cache
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


def embedder_for(knowledge: object | None) -> E5QueryEmbedder | KnowledgeQueryEmbedder:
    """The knowledge base's own embedder when it has one, else e5 in process."""
    from bot.answers.knowledge import RagKnowledge

    if isinstance(knowledge, RagKnowledge):
        return KnowledgeQueryEmbedder(knowledge)
    return E5QueryEmbedder()
