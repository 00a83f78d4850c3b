"""The knowledge base on Weaviate, over the wire: the app's store and the real weaviate-client
against the fake server of tests/fakes/weaviate_server.py (REST + gRPC, the client's own stubs).

The store contract itself runs on it in test_store_contract.py; here, what the bot does with it:
ingest, search in both languages, refresh a changed document, delete one, reopen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import KBSettings, KnowledgeBase
from rag.embeddings import E5Embeddings
from tests.fakes.weaviate_server import FakeWeaviate

from .conftest import make_settings

RETURNS = "# Returns\n\n## Period\nYou can return items within 30 days of delivery.\n"
PAYMENT = "# Оплата\n\n## Способы\nМы принимаем карты Visa и Mastercard, а также СБП.\n"
DELIVERY = "# Delivery\n\n## Times\nCouriers deliver within two working days in the city.\n"
WARRANTY = "# Гарантия\n\n## Срок\nНа всю технику действует гарантия один год.\n"
COLLECTION = "WireKB"


@pytest.fixture
def fake() -> Iterator[FakeWeaviate]:
    with FakeWeaviate() as server:
        yield server
        assert not server.unhandled, f"the client called what the fake lacks: {server.unhandled}"
        assert not server.errors, server.errors


def _open(fake: FakeWeaviate, data_dir: Path, embeddings: E5Embeddings) -> KnowledgeBase:
    settings = make_settings(data_dir).model_copy(update={"weaviate_url": fake.url})
    return KnowledgeBase.open(
        settings, embeddings=embeddings,
        kb_settings=KBSettings(collection=COLLECTION, weaviate_grpc_port=fake.grpc_port),
    )


async def test_ingest_search_refresh_delete_and_reopen_on_weaviate(
    fake: FakeWeaviate, tmp_path: Path, embeddings: E5Embeddings
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text(RETURNS, encoding="utf-8")
    (docs / "oplata.md").write_text(PAYMENT, encoding="utf-8")
    kb = _open(fake, tmp_path / "data", embeddings)
    assert kb.backend.name == "weaviate"
    assert not (tmp_path / "data" / "kb" / "chroma").exists()

    report = await kb.ingest(str(docs))

    assert sorted(report.added) == ["oplata.md", "returns.md"] and not report.failed
    assert fake.count(COLLECTION) == report.chunks >= 2
    assert "grpc BatchObjects" in fake.calls and "POST /v1/schema" in fake.calls
    hits = await kb.search("how many days do I have to return an item?", k=3)
    assert hits and hits[0].source == "returns.md" and "30 days" in hits[0].text
    pay = await kb.search("how do I pay?", k=3)
    # With two pages the models split their first places (a reciprocal-rank tie, broken by
    # doc id, which depends on the folder): the answer cites both; the payment page is one.
    assert pay and "oplata.md" in [h.source for h in pay[:2]]
    ru = await kb.search("какие карты вы принимаете?", k=3, language="ru", min_relevance=-1)
    assert [h.source for h in ru] == ["oplata.md"]

    (docs / "returns.md").write_text(RETURNS.replace("30 days", "45 days"), encoding="utf-8")
    again = await kb.ingest(str(docs))
    assert again.updated == ["returns.md"] and again.unchanged == ["oplata.md"]
    hits = await kb.search("how many days do I have to return an item?", k=3)
    assert "45 days" in hits[0].text and not any("30 days" in h.text for h in hits)
    kb.close()
    created = fake.calls.count("POST /v1/schema")
    assert created == 2  # one class per model (e5, USE)

    # A new process: the classes exist already, the chunks are still on the server.
    reopened = _open(fake, tmp_path / "data", embeddings)
    assert fake.calls.count("POST /v1/schema") == created
    payment = next(d for d in reopened.list_documents() if d.source == "oplata.md")
    removed = await reopened.delete_document(payment.doc_id)
    assert removed is not None
    assert await reopened.search("какие карты?", k=3, language="ru", min_relevance=-1) == []
    assert fake.count(COLLECTION) == len(
        next(d for d in reopened.list_documents() if d.source == "returns.md").chunk_ids
    )
    reopened.close()


async def test_same_hits_and_scores_as_the_embedded_store(
    fake: FakeWeaviate, tmp_path: Path, embeddings: E5Embeddings
) -> None:
    """Chroma (exact enough at this size) and Weaviate answer the knowledge base alike."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text(RETURNS, encoding="utf-8")
    (docs / "oplata.md").write_text(PAYMENT, encoding="utf-8")
    # Two pages a language: with one, its language-equalized scores all tie at zero.
    (docs / "delivery.md").write_text(DELIVERY, encoding="utf-8")
    (docs / "garantiya.md").write_text(WARRANTY, encoding="utf-8")
    on_weaviate = _open(fake, tmp_path / "w", embeddings)
    on_chroma = KnowledgeBase.open(make_settings(tmp_path / "c"), embeddings=embeddings)
    for kb in (on_weaviate, on_chroma):
        await kb.ingest(str(docs))
    for query in ("how do I pay?", "возврат товара", "can I pay with Mastercard?"):
        w = await on_weaviate.search(query, k=4, min_relevance=-1)
        c = await on_chroma.search(query, k=4, min_relevance=-1)
        assert [h.source for h in w] == [h.source for h in c], query
        assert [h.score for h in w] == pytest.approx([h.score for h in c], abs=1e-4), query
    on_weaviate.close()
    on_chroma.close()


def test_a_server_that_stops_answering_fails_inside_the_client(
    tmp_path: Path, embeddings: E5Embeddings
) -> None:
    """Start-up against a Weaviate that went away fails loudly, not with an empty knowledge base."""
    import weaviate.exceptions

    with FakeWeaviate() as server:
        url, port = server.url, server.grpc_port
    settings = make_settings(tmp_path).model_copy(update={"weaviate_url": url})
    with pytest.raises(weaviate.exceptions.WeaviateBaseError):
        KnowledgeBase.open(settings, embeddings=embeddings,
                           kb_settings=KBSettings(weaviate_grpc_port=port))
