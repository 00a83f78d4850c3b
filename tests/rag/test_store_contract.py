"""One contract for every vector backend: Chroma, memory, and Weaviate.

Weaviate runs as the wire-level fake of tests/fakes/weaviate_server.py (the real
weaviate-client and langchain-weaviate talk REST and gRPC to it), or as a real server when
WEAVIATE_URL is set (gRPC on 50051, or WEAVIATE_GRPC_PORT).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from langchain_core.vectorstores import VectorStore

from rag.embeddings import E5Embeddings
from rag.stores import (
    ChromaBackend,
    MemoryBackend,
    StashingEmbeddings,
    VectorBackend,
    WeaviateBackend,
    Where,
    weaviate_connection_params,
    weaviate_filter,
)
from tests.fakes.weaviate_server import FakeWeaviate

BACKENDS = ["chroma", "memory", "weaviate"]


@pytest.fixture(scope="module")
def weaviate_server() -> Iterator[tuple[str, int, FakeWeaviate | None]]:
    """(REST URL, gRPC port, the fake or None for a real server)."""
    url = os.environ.get("WEAVIATE_URL")
    if url:
        yield url, int(os.environ.get("WEAVIATE_GRPC_PORT", "50051")), None
        return
    with FakeWeaviate() as fake:
        yield fake.url, fake.grpc_port, fake


class _CountingEmbeddings(E5Embeddings):
    def __init__(self) -> None:
        super().__init__()
        self.documents_embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.documents_embedded += len(texts)
        return super().embed_documents(texts)


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path,
    weaviate_server: tuple[str, int, FakeWeaviate | None],
) -> Iterator[VectorBackend]:
    emb = _CountingEmbeddings()
    made: VectorBackend
    if request.param == "chroma":
        made = ChromaBackend(tmp_path / "chroma", emb, collection="Contract")
    elif request.param == "memory":
        made = MemoryBackend(emb)
    else:
        url, grpc_port, fake = weaviate_server
        made = WeaviateBackend(
            url, emb, collection=f"Contract{tmp_path.name.replace('-', '').replace('_', '')}",
            grpc_port=grpc_port,
        )
    yield made
    made.close()
    if request.param == "weaviate" and weaviate_server[2] is not None:
        fake = weaviate_server[2]
        assert not fake.unhandled, f"the client called what the fake lacks: {fake.unhandled}"
        assert not fake.errors, fake.errors


Rows = tuple[list[str], list[str], list[list[float]], list[dict[str, object]]]


def _rows(n: int, seed: int = 0) -> Rows:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]
    texts = [f"chunk number {i}" for i in range(n)]
    metas: list[dict[str, object]] = [
        {"doc_id": f"d{i % 5}", "language": "ru" if i % 2 else "en", "tag": "a" if i % 3 else "b",
         "source": f"doc{i % 5}.md", "title": f"Doc {i % 5}", "chunk_index": i,
         "content_hash": "h"}
        for i in range(n)
    ]
    return ids, texts, vectors.tolist(), metas


def test_is_a_langchain_vector_store(backend: VectorBackend) -> None:
    assert isinstance(backend.store, VectorStore)


def test_search_returns_cosine_similarities_best_first(backend: VectorBackend) -> None:
    ids, texts, vectors, metas = _rows(40)
    backend.add(ids, texts, vectors, metas)
    query = np.asarray(vectors[7]) * 0.8 + np.asarray(vectors[3]) * 0.2
    query /= np.linalg.norm(query)
    found = backend.search(query.tolist(), 5, Where())
    exact = np.asarray(vectors) @ query
    assert [d.page_content for d, _ in found][:2] == ["chunk number 7", "chunk number 3"]
    assert found[0][1] == pytest.approx(float(exact[7]), abs=1e-4)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert found[0][0].metadata["doc_id"] == "d2" and found[0][0].metadata["chunk_index"] == 7


def test_vectors_computed_by_the_caller_are_not_embedded_again(backend: VectorBackend) -> None:
    ids, texts, vectors, metas = _rows(10)
    backend.add(ids, texts, vectors, metas)
    store_embeddings = backend.store.embeddings
    assert isinstance(store_embeddings, StashingEmbeddings)
    inner = store_embeddings.inner
    assert isinstance(inner, _CountingEmbeddings) and inner.documents_embedded == 0


def test_filters_by_language_and_tag(backend: VectorBackend) -> None:
    ids, texts, vectors, metas = _rows(30)
    backend.add(ids, texts, vectors, metas)
    q = vectors[0]
    ru = backend.search(q, 30, Where(languages=("ru",)))
    assert len(ru) == 15 and all(d.metadata["language"] == "ru" for d, _ in ru)
    tagged = backend.search(q, 30, Where(languages=("en",), tags=("b",)))
    assert tagged and all(
        d.metadata["language"] == "en" and d.metadata["tag"] == "b" for d, _ in tagged
    )
    assert len(tagged) == sum(1 for m in metas if m["language"] == "en" and m["tag"] == "b")
    assert backend.search(q, 5, Where(tags=("zzz",))) == []


def test_upsert_replaces_and_delete_removes(backend: VectorBackend) -> None:
    ids, texts, vectors, metas = _rows(6)
    backend.add(ids, texts, vectors, metas)
    backend.add(ids[:1], ["replaced text"], vectors[:1], metas[:1])
    top = backend.search(vectors[0], 1, Where())
    assert top[0][0].page_content == "replaced text"
    backend.delete(ids[:3])
    left = backend.search(vectors[0], 10, Where())
    assert sorted(d.page_content for d, _ in left) == ["chunk number 3", "chunk number 4",
                                                       "chunk number 5"]


def test_chroma_persists_across_reopen(tmp_path: Path) -> None:
    emb = E5Embeddings()
    ids, texts, vectors, metas = _rows(5)
    first = ChromaBackend(tmp_path / "c", emb, collection="Persist")
    first.add(ids, texts, vectors, metas)
    first.close()
    again = ChromaBackend(tmp_path / "c", emb, collection="Persist")
    assert again.count() == 5
    assert again.search(vectors[2], 1, Where())[0][0].page_content == "chunk number 2"


# --- Weaviate without a server: configuration and translation -------------------------------

def test_weaviate_connection_params_from_url() -> None:
    assert weaviate_connection_params("http://weaviate:8080") == {
        "http_host": "weaviate", "http_port": 8080, "http_secure": False,
        "grpc_host": "weaviate", "grpc_port": 50051, "grpc_secure": False,
    }
    secure = weaviate_connection_params("https://kb.example.com", grpc_port=443)
    assert secure["http_port"] == 443 and secure["http_secure"] and secure["grpc_secure"]
    with pytest.raises(ValueError, match="WEAVIATE_URL"):
        weaviate_connection_params("weaviate:8080")


def test_weaviate_filter_translation() -> None:
    assert weaviate_filter(Where()) is None
    one = weaviate_filter(Where(languages=("ru",)))
    assert one.target == "language" and one.value == ["ru"]
    both = weaviate_filter(Where(languages=("en",), tags=("shipping", "returns")))
    assert {f.target for f in both.filters} == {"language", "tag"}


def test_open_uses_weaviate_when_url_is_set(tmp_path: Path) -> None:
    """No server: connecting to a closed loopback port fails inside the Weaviate client."""
    import weaviate.exceptions

    from rag import KnowledgeBase

    from .conftest import make_settings

    settings = make_settings(tmp_path).model_copy(update={"weaviate_url": "http://127.0.0.1:9"})
    with pytest.raises(weaviate.exceptions.WeaviateBaseError):
        KnowledgeBase.open(settings, embeddings=E5Embeddings())
    assert not (tmp_path / "kb" / "chroma").exists()
