"""Vector stores behind LangChain's `VectorStore`, each wrapped in a small backend adapter.

The knowledge base needs four things from a store: upsert chunks with vectors it already
computed, delete chunks by id, and a top-k search by vector that returns cosine
similarities under a filter on language and tag. LangChain's interface has no portable
scored search by vector nor a portable filter syntax, so each adapter translates:

- `chroma`: persistent Chroma client under DATA_DIR (cosine HNSW, tuned), the embedded default;
- `weaviate`: production, when WEAVIATE_URL is set (near-vector search, cosine distance);
- `memory`: LangChain's `InMemoryVectorStore` (exact), for tests and small demos.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore

if TYPE_CHECKING:
    from chromadb.api.collection_configuration import CreateHNSWConfiguration

# Chroma's HNSW, tuned with benchmarks/rag_retrieval.py (50k chunks per language collection):
# M=16/ef_search=64 gave recall@5 vs exact 0.70, M=16/256 0.92, M=32/ef_construction=200/
# ef_search=200 0.97 at the same ~4 ms p50 (writes ~2x slower; ingestion is bound by the
# embedding model anyway). ef_search only counts when the collection is created.
CHROMA_HNSW: CreateHNSWConfiguration = {
    "space": "cosine",
    "ef_construction": 200,
    "max_neighbors": 32,
    "ef_search": 200,
}
_ADD_BATCH = 1000


@dataclass(frozen=True)
class Where:
    """A metadata filter every backend understands: any of these languages / tags."""

    languages: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None

    def matches(self, metadata: dict[str, Any]) -> bool:
        if self.languages is not None and metadata.get("language") not in self.languages:
            return False
        return self.tags is None or metadata.get("tag") in self.tags


class StashingEmbeddings(Embeddings):
    """Hands the store vectors the knowledge base has already computed (no double work).

    LangChain stores embed inside `add_texts`; the knowledge base embeds first (it needs the
    vectors for its language statistics), stashes them here, then calls `add_texts`.
    """

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self._stash: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def stashed(self, texts: Sequence[str], vectors: Sequence[list[float]]) -> Iterator[None]:
        with self._lock:
            self._stash = dict(zip(texts, vectors, strict=True))
            try:
                yield
            finally:
                self._stash = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self._stash and all(t in self._stash for t in texts):
            return [self._stash[t] for t in texts]
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


class VectorBackend(Protocol):
    """What the knowledge base needs from a vector store (see the module docstring)."""

    name: str

    @property
    def store(self) -> VectorStore:
        """A LangChain view of the chunks (for `as_retriever()` and the like)."""
        ...

    def add(
        self, ids: Sequence[str], texts: Sequence[str], vectors: Sequence[list[float]],
        metadatas: Sequence[dict[str, Any]],
    ) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def search(self, vector: list[float], k: int, where: Where) -> list[tuple[Document, float]]:
        """Top-k chunks with their cosine similarity, best first."""
        ...

    def close(self) -> None: ...


class _LangChainBackend:
    name = "base"
    # How the LangChain store's add_texts takes our ids (langchain-weaviate: `uuids`).
    ids_keyword = "ids"

    def __init__(self, store: VectorStore, embeddings: StashingEmbeddings) -> None:
        self.store = store
        self._embeddings = embeddings

    def add(
        self, ids: Sequence[str], texts: Sequence[str], vectors: Sequence[list[float]],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        for start in range(0, len(ids), _ADD_BATCH):
            end = start + _ADD_BATCH
            with self._embeddings.stashed(texts[start:end], vectors[start:end]):
                self.store.add_texts(
                    list(texts[start:end]), metadatas=list(metadatas[start:end]),
                    **{self.ids_keyword: list(ids[start:end])},
                )

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), _ADD_BATCH):
            self.store.delete(ids=list(ids[start : start + _ADD_BATCH]))

    def close(self) -> None:
        return None


class ChromaBackend:
    """Persistent Chroma under `path` (the embedded default): one collection per language.

    Chroma answers an unfiltered HNSW query in a few ms, but a metadata filter matching
    half the chunks (one of two languages) costs ~40 ms at 10k chunks and grows with the
    store (benchmarks/rag_retrieval.py). Every search is per language, so each language gets
    its own collection — `{collection}_{language}`, each a LangChain `Chroma` store — and
    a language filter costs nothing. Tags stay a metadata filter.
    """

    name = "chroma"

    def __init__(self, path: Path, embeddings: Embeddings, *, collection: str) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(path),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )
        self._embeddings = StashingEmbeddings(embeddings)
        self._prefix = collection
        self.stores: dict[str, Any] = {}
        for existing in self._client.list_collections():
            name = existing.name
            if name.startswith(f"{collection}_"):
                self._open(name.removeprefix(f"{collection}_"))
        self._open("en")

    def _open(self, language: str) -> Any:
        from chromadb.api.collection_configuration import CreateCollectionConfiguration
        from langchain_chroma import Chroma

        key = re.sub(r"[^a-z0-9]", "", language.lower())[:16] or "xx"
        store = self.stores.get(key)
        if store is None:
            store = Chroma(
                collection_name=f"{self._prefix}_{key}",
                embedding_function=self._embeddings,
                client=self._client,
                collection_configuration=CreateCollectionConfiguration(hnsw=CHROMA_HNSW),
            )
            self.stores[key] = store
        return store

    @property
    def store(self) -> VectorStore:
        """The English collection (each language's collection is in `stores`)."""
        return self.stores["en"]  # type: ignore[no-any-return]

    def add(
        self, ids: Sequence[str], texts: Sequence[str], vectors: Sequence[list[float]],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        by_language: dict[str, list[int]] = {}
        for i, meta in enumerate(metadatas):
            by_language.setdefault(str(meta.get("language", "en")), []).append(i)
        for language, rows in by_language.items():
            store = self._open(language)
            for start in range(0, len(rows), _ADD_BATCH):
                part = rows[start : start + _ADD_BATCH]
                part_texts = [texts[i] for i in part]
                with self._embeddings.stashed(part_texts, [vectors[i] for i in part]):
                    store.add_texts(part_texts, metadatas=[metadatas[i] for i in part],
                                    ids=[ids[i] for i in part])

    def delete(self, ids: Sequence[str]) -> None:
        for store in self.stores.values():
            for start in range(0, len(ids), _ADD_BATCH):
                store.delete(ids=list(ids[start : start + _ADD_BATCH]))

    @staticmethod
    def chroma_filter(where: Where) -> dict[str, Any] | None:
        if where.tags is None:
            return None
        return {"tag": {"$in": list(where.tags)}}

    def search(self, vector: list[float], k: int, where: Where) -> list[tuple[Document, float]]:
        languages = where.languages if where.languages is not None else tuple(self.stores)
        collections = [self.stores[lang]._collection for lang in languages if lang in self.stores]
        if not collections:
            return []
        query = np.asarray([vector], dtype=np.float32)
        chroma_where = self.chroma_filter(where)
        found = [hit for c in collections for hit in _chroma_query(c, query, k, chroma_where)]
        found.sort(key=lambda item: item[1], reverse=True)
        return found[:k]

    def count(self) -> int:
        return sum(int(store._collection.count()) for store in self.stores.values())

    def close(self) -> None:
        return None


def _chroma_query(
    collection: Any, query: np.ndarray, k: int, where: dict[str, Any] | None,
) -> list[tuple[Document, float]]:
    """Top-k of one Chroma collection as (Document, cosine similarity).

    Straight to the collection rather than through LangChain's wrapper, which would
    turn the vector into a list and back for nothing.
    """
    result = collection.query(
        query_embeddings=query, n_results=k, where=where,
        include=["documents", "metadatas", "distances"],
    )
    ids, texts = result["ids"][0], (result["documents"] or [[]])[0]
    metas, distances = (result["metadatas"] or [[]])[0], (result["distances"] or [[]])[0]
    return [
        (Document(page_content=text, metadata=dict(meta or {}), id=chunk_id),
         1.0 - float(distance))
        for chunk_id, text, meta, distance in zip(ids, texts, metas, distances, strict=True)
        if text is not None
    ]


class MemoryBackend(_LangChainBackend):
    """LangChain's exact in-memory store: not persisted."""

    name = "memory"

    def __init__(self, embeddings: Embeddings) -> None:
        stash = StashingEmbeddings(embeddings)
        self._memory = InMemoryVectorStore(stash)
        super().__init__(self._memory, stash)

    def search(self, vector: list[float], k: int, where: Where) -> list[tuple[Document, float]]:
        return self._memory.similarity_search_with_score_by_vector(
            vector, k=k, filter=lambda doc: where.matches(doc.metadata)
        )


def weaviate_connection_params(url: str, *, grpc_port: int = 50051) -> dict[str, Any]:
    """Arguments of `weaviate.connect_to_custom` for a WEAVIATE_URL (gRPC on the same host)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"WEAVIATE_URL must be an http(s) URL, got {url!r}")
    secure = parts.scheme == "https"
    return {
        "http_host": parts.hostname,
        "http_port": parts.port or (443 if secure else 80),
        "http_secure": secure,
        "grpc_host": parts.hostname,
        "grpc_port": grpc_port,
        "grpc_secure": secure,
    }


def weaviate_filter(where: Where) -> Any:
    """The Weaviate v4 filter for a `Where` (None when it filters nothing)."""
    from weaviate.classes.query import Filter

    clauses: list[Any] = []
    if where.languages is not None:
        clauses.append(Filter.by_property("language").contains_any(list(where.languages)))
    if where.tags is not None:
        clauses.append(Filter.by_property("tag").contains_any(list(where.tags)))
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else Filter.all_of(clauses)


class WeaviateBackend(_LangChainBackend):
    """Weaviate through `langchain-weaviate` (production: WEAVIATE_URL).

    Search goes straight to near-vector with cosine distance rather than the store's
    hybrid search: BM25 never crosses languages, and the knowledge base needs comparable
    cosine similarities to equalize languages (docs/rag.md).
    """

    name = "weaviate"
    ids_keyword = "uuids"  # our chunk ids are UUIDs already

    def __init__(
        self, url: str, embeddings: Embeddings, *, collection: str, grpc_port: int = 50051,
        client: Any = None,
    ) -> None:
        import weaviate
        from langchain_weaviate import WeaviateVectorStore

        if client is None:
            params = weaviate_connection_params(url, grpc_port=grpc_port)
            client = weaviate.connect_to_custom(**params)
        self._client = client
        stash = StashingEmbeddings(embeddings)
        store = WeaviateVectorStore(
            client=client, index_name=collection, text_key="text", embedding=stash,
            attributes=["language", "source", "tag", "doc_id", "chunk_index", "title",
                        "content_hash"],
        )
        super().__init__(store, stash)
        self._collection = client.collections.get(collection)


    def search(self, vector: list[float], k: int, where: Where) -> list[tuple[Document, float]]:
        from weaviate.classes.query import MetadataQuery

        result = self._collection.query.near_vector(
            near_vector=vector, limit=k, filters=weaviate_filter(where),
            return_metadata=MetadataQuery(distance=True),
        )
        found: list[tuple[Document, float]] = []
        for obj in result.objects:
            props = dict(obj.properties)
            text = str(props.pop("text", ""))
            distance = obj.metadata.distance if obj.metadata.distance is not None else 1.0
            found.append((Document(page_content=text, metadata=props, id=str(obj.uuid)),
                          1.0 - float(distance)))
        return found

    def close(self) -> None:
        self._client.close()
