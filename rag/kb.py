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

from rag.embeddings import MAX_QUERY_CHARS, E5Embeddings, USEEmbeddings
from rag.fusion import SECOND_MODEL_KEY, fuse, rank_documents
from rag.registry import DocumentRecord, Registry, import_sqlite
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
# Chunks asked of each store per language: documents are ranked from them.
_FUSION_FETCH = 20
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

    # confidence in the chunk's document, 0..1: how far the retrievers agree it is the best
    # (rag/fusion.py); the threshold `KB_MIN_CONFIDENCE` applies to the first hit's
    score: float
    similarity: float  # raw cosine similarity of query and chunk (first model that found it)
    rank: float  # the fused (reciprocal-rank) score hits are ordered by
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


def query_text(query: str) -> str:
    """What the models read of a question: its first `MAX_QUERY_CHARS` characters, spaces
    collapsed. Case is kept: e5 ranks "Volna Mobile" better than "volna mobile"."""
    return _SPACES.sub(" ", query[: MAX_QUERY_CHARS * 2]).strip()[:MAX_QUERY_CHARS]


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
        second_backend: VectorBackend | None = None,
        second_embeddings: USEEmbeddings | None = None,
    ) -> None:
        self.backend = backend
        self.embeddings = embeddings
        # The second view of relevance (USE multilingual) in a store of its own; None = e5 only.
        self.second_backend = second_backend if second_embeddings is not None else None
        self.second_embeddings = second_embeddings if second_backend is not None else None
        self.registry = registry
        self.kb_settings = kb_settings or KBSettings()
        self.redis = redis
        self._means_version = -1
        self._means: dict[str, tuple[np.ndarray, int]] = {}
        self._write_lock = asyncio.Lock()
        self._reference_lock = threading.Lock()
        self._references: dict[str, np.ndarray] | None = None
        self._query_vectors = VectorCache(QUERY_VECTOR_CACHE_SIZE)
        self._second_query_vectors = VectorCache(QUERY_VECTOR_CACHE_SIZE)
        self._passage_vectors = VectorCache(PASSAGE_VECTOR_CACHE_SIZE)
        self._passage_lock = threading.Lock()
        # The per-language searches of one query run side by side (see _search_sync).
        self._search_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kb-search")

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
        under DATA_DIR/kb/chroma. The registry lives in MongoDB (MONGODB_URI, MONGODB_DB; in
        the embedded profile the URI `running_core` resolved); a registry file of the SQLite
        era, DATA_DIR/kb/registry.sqlite3, is imported into it on the first open."""
        from rag.embeddings import make_embeddings

        if settings.mongodb_uri is None:
            raise ValueError(
                "the knowledge base's registry needs MONGODB_URI (open it with the settings "
                "running_core resolved, which point at the embedded server)"
            )
        kbs = kb_settings or KBSettings()
        emb = embeddings or make_embeddings(settings, kbs)
        root = settings.data_dir / "kb"

        def backend_for(embeddings: Embeddings, collection: str) -> VectorBackend:
            if settings.weaviate_url:
                return WeaviateBackend(
                    settings.weaviate_url,
                    embeddings,
                    collection=collection,
                    grpc_port=kbs.weaviate_grpc_port,
                )
            return ChromaBackend(root / "chroma", embeddings, collection=collection)

        registry = Registry(settings.mongodb_uri, settings.mongodb_db, name=kbs.collection)
        try:
            import_sqlite(registry, root / "registry.sqlite3")
        except BaseException:
            registry.close()
            raise
        second = USEEmbeddings() if kbs.second_embeddings == "use" else None
        return cls(
            backend=backend_for(emb, kbs.collection),
            embeddings=emb,
            registry=registry,
            kb_settings=kbs,
            redis=redis,
            second_backend=backend_for(second, f"{kbs.collection}Use") if second else None,
            second_embeddings=second,
        )

    @property
    def vectorstore(self) -> VectorStore:
        """The underlying LangChain store (e.g. for `as_retriever()`)."""
        return self.backend.store

    def close(self) -> None:
        self._search_pool.shutdown(wait=False)
        self.backend.close()
        if self.second_backend is not None:
            self.second_backend.close()
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
        record = await asyncio.to_thread(self._find, doc_id)
        if record is None:
            return None
        async with self._write_lock:
            await asyncio.to_thread(self.backend.delete, record.chunk_ids)
            if self.second_backend is not None:
                await asyncio.to_thread(self.second_backend.delete, record.chunk_ids)
            await asyncio.to_thread(self.registry.remove, record.doc_id)
            await self.bump_version()
        return record

    def _find(self, doc_id: str) -> DocumentRecord | None:
        return self.registry.get(doc_id) or self._by_source(doc_id)

    def _by_source(self, source: str) -> DocumentRecord | None:
        matches = [d for d in self.registry.documents() if source in (d.source, d.identity)]
        return matches[0] if len(matches) == 1 else None

    async def bump_version(self) -> None:
        """Every change to the chunks makes all cached answers unreachable."""
        await asyncio.to_thread(self.registry.bump_version)
        if self.redis is not None:
            await self.redis.incr(self._version_key)

    @property
    def _version_key(self) -> str:
        return f"{self.kb_settings.cache_prefix}:{self.kb_settings.collection}:version"

    async def version(self) -> str:
        local = await asyncio.to_thread(self.registry.version)
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
        offer an operator. `min_relevance` overrides `KB_MIN_CONFIDENCE` (the retrievers'
        agreement on the best document, 0..1; -1 returns the best `k` whatever they are).
        A question is cut to its first `MAX_QUERY_CHARS` characters (what the models read).

        `language` restricts to chunks in that language ("ru", "en"); `tags` to documents
        with one of these tags. Results are cached in Redis (when a client was given) under
        the normalized query and the knowledge-base version.
        """
        normalized = normalize_query(query[: MAX_QUERY_CHARS * 2])[:MAX_QUERY_CHARS]
        if not normalized or k <= 0:
            return []
        threshold = self.kb_settings.min_confidence if min_relevance is None else min_relevance
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
            self._search_sync, query_text(query), k, language, tag_tuple, threshold,
            max_per_document,
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
        """Query vectors served from the LRU, both models counted."""
        return self._query_vectors.hits + self._second_query_vectors.hits

    @property
    def vector_cache_misses(self) -> int:
        return self._query_vectors.misses + self._second_query_vectors.misses

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding as a float32 unit vector, from a per-process LRU when the
        same normalized text was embedded lately. `search` passes `query_text(question)`:
        the model reads the case-kept text, the cache (like Redis's) is keyed normalized."""
        key = normalize_query(query)
        cached = self._query_vectors.get(key)
        if cached is not None:
            return cached
        if isinstance(self.embeddings, E5Embeddings):
            vector = self.embeddings.embed_query_array(query)
        else:
            vector = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        self._query_vectors.put(key, vector)
        return vector

    def passage_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Passage embeddings of `texts`, (n, dim) float32; each text is embedded once per
        process while it stays among the recently used."""
        known, missing = self._known_passages(texts)
        if missing:
            # One caller embeds what is missing while the others wait and then find it: many
            # customers asking about the same page at once embed its sections once, not once
            # each (the model runs one call at a time anyway).
            with self._passage_lock:
                known, missing = self._known_passages(texts)
                self._embed_passages(missing, known)
        return np.stack([known[text] for text in texts])

    def _known_passages(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
        known: dict[str, np.ndarray] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            vector = self._passage_vectors.get(text)
            if vector is None:
                missing.append(text)
            else:
                known[text] = vector
        return known, missing

    def _embed_passages(self, missing: list[str], known: dict[str, np.ndarray]) -> None:
        if missing:
            if isinstance(self.embeddings, E5Embeddings):
                fresh = self.embeddings.embed_array(missing)
            else:
                fresh = np.asarray(self.embeddings.embed_documents(missing), dtype=np.float32)
            for text, vector in zip(missing, fresh, strict=True):
                self._passage_vectors.put(text, vector)
                known[text] = vector

    def forget_query_vectors(self) -> None:
        """Empty the query-vector cache (benchmarks; a new model behind the same instance)."""
        self._query_vectors.clear()
        self._second_query_vectors.clear()

    def second_query_vector(self, query: str) -> np.ndarray | None:
        """The query's embedding by the second model (None without one), LRU-cached."""
        if self.second_embeddings is None:
            return None
        key = normalize_query(query)
        cached = self._second_query_vectors.get(key)
        if cached is None:
            cached = self.second_embeddings.embed_query_array(query)
            self._second_query_vectors.put(key, cached)
        return cached

    def _search_sync(
        self,
        query: str,
        k: int,
        language: str | None,
        tags: tuple[str, ...] | None,
        threshold: float,
        max_per_document: int,
    ) -> list[Hit]:
        all_means = self._language_means()
        means = {lang: m for lang, m in all_means.items() if ":" not in lang}
        if not means:
            return []
        languages = [lang for lang in ([language] if language else sorted(means)) if lang in means]
        if not languages:
            return []
        wheres = [Where(languages=(lang,), tags=tags) for lang in languages]
        # Documents are ranked per model, so each store is asked for enough chunks to rank
        # more documents than are cited (a document's chunks can crowd its top).
        fetch = max(k * max(max_per_document, 1), _FUSION_FETCH)
        vector = self.query_vector(query)
        # The first model's store searches run while the second model embeds the query.
        pending = [self._search_pool.submit(self.backend.search, vector.tolist(), fetch, w)
                   for w in wheres]
        _, rank_bg = self._backgrounds(vector, means)
        views: list[dict[str, tuple[float, float, Any]]] = []  # per model: chunk -> scores
        second_means = {lang.split(":", 1)[1]: m for lang, m in all_means.items()
                        if lang.startswith(f"{SECOND_MODEL_KEY}:")}
        second_vector = self.second_query_vector(query) if second_means else None
        second_pending = []
        if second_vector is not None and self.second_backend is not None:
            second_pending = [
                self._search_pool.submit(self.second_backend.search, second_vector.tolist(),
                                         fetch, w)
                for w in wheres if w.languages and w.languages[0] in second_means
            ]
        first: dict[str, tuple[float, float, Any]] = {}
        for lang, future in zip(languages, pending, strict=True):
            for doc, similarity in future.result():
                first[_chunk_key(doc)] = (similarity - rank_bg[lang], similarity, doc)
        views.append(first)
        if second_vector is not None:
            second: dict[str, tuple[float, float, Any]] = {}
            second_langs = [lang for lang in languages if lang in second_means]
            for lang, future in zip(second_langs, second_pending, strict=True):
                background = float(second_vector @ second_means[lang][0])
                for doc, similarity in future.result():
                    second[_chunk_key(doc)] = (similarity - background, similarity, doc)
            views.append(second)
        rankings: list[list[str]] = []
        for view in views:
            best: dict[str, float] = {}
            for equalized, _, doc in view.values():
                doc_id = str(doc.metadata.get("doc_id", ""))
                best[doc_id] = max(best.get(doc_id, -2.0), equalized)
            rankings.append(rank_documents(best))
        weights = (1.0, self.kb_settings.second_weight)[: len(rankings)]
        fused = fuse(rankings, weights)
        if not fused or fused[0].confidence < threshold:
            return []
        # A document's chunks, best first: in the first model's order, then those only the
        # second model found (the two models' scores are not on one scale).
        by_doc: dict[str, list[tuple[float, Any]]] = {}
        seen: set[str] = set()
        for view in views:
            for key, (_, similarity, doc) in sorted(view.items(), key=lambda kv: -kv[1][0]):
                if key not in seen:
                    seen.add(key)
                    doc_id = str(doc.metadata.get("doc_id", ""))
                    by_doc.setdefault(doc_id, []).append((similarity, doc))
        hits: list[Hit] = []
        for entry in fused:
            found = by_doc.get(entry.doc_id, [])
            for similarity, doc in found[: max_per_document if max_per_document > 0 else None]:
                meta = doc.metadata
                hits.append(
                    Hit(
                        score=round(entry.confidence, 5),
                        similarity=round(similarity, 5),
                        rank=round(entry.fused, 5),
                        doc_id=entry.doc_id,
                        source=str(meta.get("source", "")),
                        title=str(meta.get("title", "")),
                        text=doc.page_content,
                        language=str(meta.get("language", "")),
                        tag=str(meta.get("tag", "")),
                        chunk_index=int(meta.get("chunk_index", 0)),
                    )
                )
                if len(hits) >= k:
                    return hits
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


def _chunk_key(doc: Any) -> str:
    meta = doc.metadata
    return f"{meta.get('doc_id', '')}:{meta.get('chunk_index', 0)}"


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
