"""The knowledge base: search with a relevance threshold, language equalization, a Redis cache."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from rag.embeddings import E5Embeddings
from rag.registry import DocumentRecord, Registry
from rag.settings import KBSettings
from rag.stores import ChromaBackend, VectorBackend, WeaviateBackend, Where

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from config import Settings
    from rag.ingest import IngestReport

# Below this many chunks, a language's own mean vector is too noisy to rank by.
_MIN_CHUNKS_FOR_CORPUS_MEAN = 10
# Vectors kept per process (1.5 KB each): a repeated question, or a passage shown again,
# skips the model.
QUERY_VECTOR_CACHE_SIZE = 1024
PASSAGE_VECTOR_CACHE_SIZE = 4096
_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\s\W_]+|[\s\W_]+$")


class VectorCache:
    """Text -> embedding, the least recently used dropped past `size`; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, text: str) -> np.ndarray | None:
        with self._lock:
            vector = self._vectors.get(text)
            if vector is None:
                self.misses += 1
                return None
            self._vectors.move_to_end(text)
            self.hits += 1
            return vector

    def put(self, text: str, vector: np.ndarray) -> None:
        vector.setflags(write=False)  # shared by every caller of the cache
        with self._lock:
            self._vectors[text] = vector
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk. `source` is the file name or URL to cite."""

    # relevance: cosine similarity minus the query's similarity to neutral text of the chunk's
    # language (the threshold applies to it; comparable across languages and knowledge bases)
    score: float
    similarity: float  # raw cosine similarity of query and chunk
    rank: float  # the language-equalized score hits are ordered by
    doc_id: str
    source: str
    title: str
    text: str
    language: str
    tag: str
    chunk_index: int

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}:{self.chunk_index}"


def normalize_query(query: str) -> str:
    """Case, Unicode form, spacing and edge punctuation do not change the question."""
    text = unicodedata.normalize("NFKC", query).casefold().replace("ё", "е")
    return _EDGE_PUNCT.sub("", _SPACES.sub(" ", text)).strip()


class KnowledgeBase:
    """Documents, their chunks in a vector store, and search over them.

    Build it with `KnowledgeBase.open(settings, redis=...)`; one instance per process is
    enough (it is thread- and task-safe). Blocking work (embedding, store calls) runs in
    worker threads, so `search` and ingestion never block the event loop.
    """

    def __init__(
        self,
        *,
        backend: VectorBackend,
        embeddings: Embeddings,
        registry: Registry,
        kb_settings: KBSettings | None = None,
        redis: Redis | None = None,
    ) -> None:
        self.backend = backend
        self.embeddings = embeddings
        self.registry = registry
        self.kb_settings = kb_settings or KBSettings()
        self.redis = redis
        self._means_version = -1
        self._means: dict[str, tuple[np.ndarray, int]] = {}
        self._write_lock = asyncio.Lock()
        self._reference_lock = threading.Lock()
        self._references: dict[str, np.ndarray] | None = None
        self._query_vectors = VectorCache(QUERY_VECTOR_CACHE_SIZE)
        self._passage_vectors = VectorCache(PASSAGE_VECTOR_CACHE_SIZE)
        # The per-language searches of one query run side by side (see _search_sync).
        self._search_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kb-search")

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        kb_settings: KBSettings | None = None,
        redis: Redis | None = None,
        embeddings: Embeddings | None = None,
    ) -> KnowledgeBase:
        """The knowledge base of these settings: Weaviate when WEAVIATE_URL is set, else Chroma
        under DATA_DIR/kb/chroma. The registry lives in DATA_DIR/kb/registry.sqlite3."""
        from rag.embeddings import make_embeddings

        kbs = kb_settings or KBSettings()
        emb = embeddings or make_embeddings(settings, kbs)
        root = settings.data_dir / "kb"
        backend: VectorBackend
        if settings.weaviate_url:
            backend = WeaviateBackend(
                settings.weaviate_url,
                emb,
                collection=kbs.collection,
                grpc_port=kbs.weaviate_grpc_port,
            )
        else:
            backend = ChromaBackend(root / "chroma", emb, collection=kbs.collection)
        return cls(
            backend=backend,
            embeddings=emb,
            registry=Registry(root / "registry.sqlite3"),
            kb_settings=kbs,
            redis=redis,
        )

    @property
    def vectorstore(self) -> VectorStore:
        """The underlying LangChain store (e.g. for `as_retriever()`)."""
        return self.backend.store

    def close(self) -> None:
        self._search_pool.shutdown(wait=False)
        self.backend.close()
        self.registry.close()

    # ------------------------------------------------------------------ documents

    def list_documents(self) -> list[DocumentRecord]:
        return self.registry.documents()

    async def ingest(
        self, source: str, *, tag: str | None = None, progress: bool = False
    ) -> IngestReport:
        from rag.ingest import ingest

        return await ingest(source, kb=self, tag=tag, progress=progress)

    async def delete_document(self, doc_id: str) -> DocumentRecord | None:
        """Remove a document and its chunks; None when no such id (or source) exists."""
        record = self.registry.get(doc_id) or self._by_source(doc_id)
        if record is None:
            return None
        async with self._write_lock:
            await asyncio.to_thread(self.backend.delete, record.chunk_ids)
            self.registry.remove(record.doc_id)
            await self.bump_version()
        return record

    def _by_source(self, source: str) -> DocumentRecord | None:
        matches = [d for d in self.registry.documents() if source in (d.source, d.identity)]
        return matches[0] if len(matches) == 1 else None

    async def bump_version(self) -> None:
        """Every change to the chunks makes all cached answers unreachable."""
        self.registry.bump_version()
        if self.redis is not None:
            await self.redis.incr(self._version_key)

    @property
    def _version_key(self) -> str:
        return f"{self.kb_settings.cache_prefix}:{self.kb_settings.collection}:version"

    async def version(self) -> str:
        local = self.registry.version()
        if self.redis is None:
            return str(local)
        shared = await self.redis.get(self._version_key)
        return f"{int(shared or 0)}.{local}"

    # ------------------------------------------------------------------ search

    async def search(
        self,
        query: str,
        k: int = 5,
        language: str | None = None,
        tags: Sequence[str] | None = None,
        *,
        min_relevance: float | None = None,
        max_per_document: int = 2,
    ) -> list[Hit]:
        """The best `k` chunks; [] when even the best is below the relevance threshold.

        An empty list means "the knowledge base does not know": the agent says so and may
        offer an operator. Hits after the first may score up to `KB_RELEVANCE_WINDOW` below
        the threshold (cross-language answers score lower; docs/rag.md).

        `language` restricts to chunks in that language ("ru", "en"); `tags` to documents
        with one of these tags. Results are cached in Redis (when a client was given) under
        the normalized query and the knowledge-base version.
        """
        normalized = normalize_query(query)
        if not normalized or k <= 0:
            return []
        threshold = self.kb_settings.min_relevance if min_relevance is None else min_relevance
        tag_tuple = tuple(sorted(set(tags))) if tags else None
        cache_key = None
        if self.redis is not None:
            version = await self.version()
            digest = hashlib.sha256(
                json.dumps(
                    [normalized, k, language, tag_tuple, threshold, max_per_document]
                ).encode()
            ).hexdigest()[:32]
            cache_key = (
                f"{self.kb_settings.cache_prefix}:{self.kb_settings.collection}:search:"
                f"v{version}:{digest}"
            )
            cached = await self.redis.get(cache_key)
            if cached is not None:
                return [Hit(**item) for item in json.loads(cached)]
        hits = await asyncio.to_thread(
            self._search_sync, normalized, k, language, tag_tuple, threshold, max_per_document
        )
        if cache_key is not None and self.redis is not None:
            payload = json.dumps([asdict(h) for h in hits], ensure_ascii=False)
            await self.redis.set(cache_key, payload, ex=self.kb_settings.cache_ttl_seconds)
        return hits

    def _language_means(self) -> dict[str, tuple[np.ndarray, int]]:
        version = self.registry.version()
        if version != self._means_version:
            self._means = self.registry.language_means()
            self._means_version = version
        return self._means

    def _reference_means(self) -> dict[str, np.ndarray]:
        """Mean vectors of the parallel reference text, per language; computed once per model
        (kept in the process and in the registry, so a new process does not embed it again)."""
        with self._reference_lock:
            if self._references is not None:
                return self._references
            key = f"reference:{embeddings_key(self.embeddings)}"
            refs = _REFERENCE_CACHE.get(key)
            if refs is None:
                stored = self.registry.get_meta(key)
                if stored is not None:
                    loaded = json.loads(stored).items()
                    refs = {k: np.asarray(v, dtype=np.float32) for k, v in loaded}
                else:
                    from rag.reference import reference_texts

                    refs = {}
                    for lang in ("en", "ru"):
                        vecs = np.asarray(self.embeddings.embed_documents(reference_texts(lang)))
                        refs[lang] = vecs.mean(axis=0).astype(np.float32)
                    payload = json.dumps({k: v.tolist() for k, v in refs.items()})
                    self.registry.set_meta(key, payload)
                _REFERENCE_CACHE[key] = refs
            self._references = refs
            return refs

    @property
    def vector_cache_hits(self) -> int:
        return self._query_vectors.hits

    @property
    def vector_cache_misses(self) -> int:
        return self._query_vectors.misses

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding as a float32 unit vector, from a per-process LRU when the
        same text was embedded lately. `search` passes the normalized query."""
        cached = self._query_vectors.get(query)
        if cached is not None:
            return cached
        if isinstance(self.embeddings, E5Embeddings):
            vector = self.embeddings.embed_query_array(query)
        else:
            vector = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        self._query_vectors.put(query, vector)
        return vector

    def passage_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Passage embeddings of `texts`, (n, dim) float32; each text is embedded once per
        process while it stays among the recently used."""
        known: dict[str, np.ndarray] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            vector = self._passage_vectors.get(text)
            if vector is None:
                missing.append(text)
            else:
                known[text] = vector
        if missing:
            if isinstance(self.embeddings, E5Embeddings):
                fresh = self.embeddings.embed_array(missing)
            else:
                fresh = np.asarray(self.embeddings.embed_documents(missing), dtype=np.float32)
            for text, vector in zip(missing, fresh, strict=True):
                self._passage_vectors.put(text, vector)
                known[text] = vector
        return np.stack([known[text] for text in texts])

    def forget_query_vectors(self) -> None:
        """Empty the query-vector cache (benchmarks; a new model behind the same instance)."""
        self._query_vectors.clear()

    def _search_sync(
        self,
        query: str,
        k: int,
        language: str | None,
        tags: tuple[str, ...] | None,
        threshold: float,
        max_per_document: int,
    ) -> list[Hit]:
        means = self._language_means()
        if not means:
            return []
        vector = self.query_vector(query)
        languages = [lang for lang in ([language] if language else sorted(means)) if lang in means]
        if not languages:
            return []
        relevance_bg, rank_bg = self._backgrounds(vector, means)
        fetch = k * max_per_document if max_per_document > 0 else k
        wheres = [Where(languages=(lang,), tags=tags) for lang in languages]
        results = self.search_languages(vector.tolist(), fetch, wheres)
        # (rank score, relevance score, similarity, document)
        scored: list[tuple[float, float, float, Any]] = [
            (similarity - rank_bg[lang], similarity - relevance_bg[lang], similarity, doc)
            for lang, found in zip(languages, results, strict=True)
            for doc, similarity in found
        ]
        if not scored or max(item[1] for item in scored) < threshold:
            return []
        scored.sort(key=lambda item: item[0], reverse=True)
        floor = threshold - self.kb_settings.relevance_window
        hits: list[Hit] = []
        per_doc: dict[str, int] = {}
        for rank, score, similarity, doc in scored:
            if score < floor:
                continue
            meta = doc.metadata
            doc_id = str(meta.get("doc_id", ""))
            if max_per_document > 0 and per_doc.get(doc_id, 0) >= max_per_document:
                continue
            per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
            hits.append(
                Hit(
                    score=round(score, 5),
                    similarity=round(similarity, 5),
                    rank=round(rank, 5),
                    doc_id=doc_id,
                    source=str(meta.get("source", "")),
                    title=str(meta.get("title", "")),
                    text=doc.page_content,
                    language=str(meta.get("language", "")),
                    tag=str(meta.get("tag", "")),
                    chunk_index=int(meta.get("chunk_index", 0)),
                )
            )
            if len(hits) >= k:
                break
        return hits

    def search_languages(
        self,
        vector: list[float],
        k: int,
        wheres: Sequence[Where],
    ) -> list[list[tuple[Any, float]]]:
        """The store's top-k for each filter (one per language), in order.

        The others go to the pool while this thread does the first: after the embedding both
        cores are idle, and the stores (Chroma's Rust core, a Weaviate round trip) run
        without the GIL. 100k chunks: ~13 ms one after the other, ~7 ms side by side.
        """
        pending = [
            self._search_pool.submit(self.backend.search, vector, k, where) for where in wheres[1:]
        ]
        results = [self.backend.search(vector, k, wheres[0])] if wheres else []
        results.extend(future.result() for future in pending)
        return results

    def _backgrounds(
        self,
        vector: np.ndarray,
        means: dict[str, tuple[np.ndarray, int]],
    ) -> tuple[dict[str, float], dict[str, float]]:
        """(relevance background, ranking background) of the query in each language.

        e5 scores a query ~0.04 higher against any text in its own language. Relevance is
        measured against the fixed parallel reference text (same scale for any knowledge
        base); ranking subtracts the query's mean similarity to the knowledge base's own
        chunks of each language (exactly q · their mean vector), which equalizes languages
        best, once a language has enough chunks to make that mean meaningful.
        """
        refs = self._reference_means()
        relevance = {
            lang: float(vector @ refs.get(lang, mean)) for lang, (mean, _) in means.items()
        }
        if not self.kb_settings.language_debias:
            overall = float(np.mean(list(relevance.values())))
            return relevance, dict.fromkeys(relevance, overall)
        rank = {
            lang: float(vector @ mean) if count >= _MIN_CHUNKS_FOR_CORPUS_MEAN else relevance[lang]
            for lang, (mean, count) in means.items()
        }
        return relevance, rank


def embeddings_key(embeddings: Embeddings) -> str:
    """Names the embedding model, for caches of vectors it produced."""
    model = getattr(embeddings, "model", None) or getattr(embeddings, "model_name", None)
    if isinstance(embeddings, E5Embeddings):
        model = "multilingual-e5-small-q4"
    return f"{type(embeddings).__name__}:{model or id(embeddings)}"


_REFERENCE_CACHE: dict[str, dict[str, np.ndarray]] = {}


def unique_sources(hits: Iterable[Hit]) -> list[dict[str, str]]:
    """`[{"title", "source"}]` for a message's `sources`, in rank order, without repeats."""
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    for hit in hits:
        if hit.source not in seen:
            seen.add(hit.source)
            out.append({"title": hit.title, "source": hit.source})
    return out
