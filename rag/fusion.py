"""Fusing the rankings of several retrievers, and how sure the fused answer is.

Each retriever (an embedding model over its own vector store) ranks *documents* by its best
chunk's language-equalized similarity. The fusion is reciprocal-rank (scores of different
models are not on one scale; ranks are). Confidence asks the retrievers whether they agree:
for a document, the weighted mean over retrievers of 1 / (1 + its rank there) — 1.0 when
every retriever puts it first, 0.75 when one puts it first and the other second, 0 when no
retriever found it. Agreement between two differently trained models means the same thing
on any knowledge base, whatever its size or wording, unlike a raw cosine cut-off, so the
threshold on it carries from one business to the next (docs/rag.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Reciprocal-rank constant. Set on eval/kb/isp/dev.jsonl: 5, 20 and 60 gave the same hits
# for two embedders; a small constant lets a first place count clearly more than a second.
RRF_K = 5.0
# Registry key prefix of the second model's per-language vector sums ("use:en").
SECOND_MODEL_KEY = "use"


@dataclass(frozen=True, slots=True)
class FusedDocument:
    """One document after fusion: its reciprocal-rank score, confidence and per-model ranks."""

    doc_id: str
    fused: float
    confidence: float
    ranks: tuple[int | None, ...]


def rank_documents(scores: Mapping[str, float]) -> list[str]:
    """Document ids best first (ties by id, so the order is stable)."""
    return sorted(scores, key=lambda doc: (-scores[doc], doc))


def fuse(
    rankings: Sequence[Sequence[str]], weights: Sequence[float], *, rrf_k: float = RRF_K
) -> list[FusedDocument]:
    """Documents of all rankings, best fused first, with the retrievers' agreement on each."""
    if len(rankings) != len(weights):
        raise ValueError("one weight per ranking")
    total = sum(weights) or 1.0
    positions = [{doc: i for i, doc in enumerate(ranking)} for ranking in rankings]
    docs = {doc for ranking in rankings for doc in ranking}
    fused: list[FusedDocument] = []
    for doc in docs:
        ranks = tuple(pos.get(doc) for pos in positions)
        rrf = sum(w / (rrf_k + r) for w, r in zip(weights, ranks, strict=True) if r is not None)
        agreement = sum(
            w / (1.0 + r) for w, r in zip(weights, ranks, strict=True) if r is not None
        )
        fused.append(FusedDocument(doc, rrf, agreement / total, ranks))
    fused.sort(key=lambda item: (-item.fused, -item.confidence, item.doc_id))
    return fused
