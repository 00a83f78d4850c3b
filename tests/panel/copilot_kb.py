"""A small knowledge base for the copilot tests, put in the shared app's engine per test."""

from __future__ import annotations

import pytest

from bot.answers.knowledge import KnowledgeHit
from tests.support import LiveApp

SHIPPING = KnowledgeHit(
    text="Shipping > Delivery times\n\nOrders ship within 2 business days. Delivery in Europe "
    "takes 3-5 days.",
    title="Shipping policy",
    source="shipping.md",
    score=0.9,
    language="en",
)
RETURNS = KnowledgeHit(
    text="Returns > Refunds\n\nItems can be returned within 30 days for a full refund.",
    title="Returns and refunds",
    source="https://shop.example/returns",
    score=0.8,
    language="en",
)


class Shelf:
    """A small real knowledge base: passages sharing a word with the query."""

    def __init__(self, *hits: KnowledgeHit) -> None:
        self.hits = list(hits)
        self.queries: list[str] = []

    async def search(
        self, query: str, *, k: int = 5, language: str | None = None
    ) -> list[KnowledgeHit]:
        self.queries.append(query)
        words = {w.lower().strip("?.,!") for w in query.split()}
        return [h for h in self.hits if words & set(h.text.lower().replace(".", "").split())][:k]


def install_shelf(app: LiveApp, monkeypatch: pytest.MonkeyPatch) -> Shelf:
    """The app's knowledge base for this test: shipping and returns."""
    shelf = Shelf(SHIPPING, RETURNS)
    monkeypatch.setattr(app.engine, "knowledge", shelf)
    return shelf
