"""The search cache in a real Valkey: keyed by normalized query and knowledge-base version."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.server.embedded import Endpoints
from rag import KBSettings, KnowledgeBase, normalize_query
from rag.embeddings import E5Embeddings

from .conftest import make_settings

DELIVERY = "# Delivery\n\n## Times\nParcels arrive in 2 to 4 business days.\n"


@pytest.fixture
async def cached_kb(
    endpoints: Endpoints, tmp_path: Path, embeddings: E5Embeddings
) -> AsyncIterator[tuple[KnowledgeBase, Redis, str]]:
    assert endpoints.redis_url is not None
    redis = Redis.from_url(endpoints.redis_url)
    prefix = f"kbtest-{uuid.uuid4().hex[:8]}"
    kb = KnowledgeBase.open(make_settings(tmp_path / "data"), embeddings=embeddings,
                            redis=redis, kb_settings=KBSettings(cache_prefix=prefix))
    try:
        yield kb, redis, prefix
    finally:
        kb.close()
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def _count_store_searches(kb: KnowledgeBase) -> list[int]:
    calls = [0]
    original = kb.backend.search

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    kb.backend.search = counting  # type: ignore[method-assign]
    return calls


def test_normalize_query() -> None:
    assert normalize_query("  How LONG is   delivery?? ") == "how long is delivery"
    assert normalize_query("Ещё вопрос: доставка!") == normalize_query("еще вопрос: ДОСТАВКА")
    assert normalize_query(" ?! ") == ""


async def test_second_search_is_served_from_the_cache(
    cached_kb: tuple[KnowledgeBase, Redis, str], tmp_path: Path
) -> None:
    kb, redis, prefix = cached_kb
    doc = tmp_path / "delivery.md"
    doc.write_text(DELIVERY, encoding="utf-8")
    await kb.ingest(str(doc))
    calls = _count_store_searches(kb)
    first = await kb.search("How long does delivery take?")
    assert first and first[0].source == "delivery.md"
    searched = calls[0]
    assert searched >= 1
    again = await kb.search("  how LONG does delivery take ")
    assert again == first and calls[0] == searched
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*:search:*")]
    assert len(keys) == 1
    assert 0 < await redis.ttl(keys[0]) <= kb.kb_settings.cache_ttl_seconds
    await kb.search("How long does delivery take?", k=2)  # other arguments: other entry
    assert calls[0] > searched


async def test_ingestion_bumps_the_version_so_stale_chunks_are_never_served(
    cached_kb: tuple[KnowledgeBase, Redis, str], tmp_path: Path
) -> None:
    kb, _redis, _prefix = cached_kb
    doc = tmp_path / "delivery.md"
    doc.write_text(DELIVERY, encoding="utf-8")
    await kb.ingest(str(doc))
    question = "How long does delivery take?"
    before = await kb.search(question)
    assert "2 to 4" in before[0].text
    version = await kb.version()

    await kb.ingest(str(doc))  # unchanged: same version, cache still used
    assert await kb.version() == version

    doc.write_text(DELIVERY.replace("2 to 4", "5 to 7"), encoding="utf-8")
    await kb.ingest(str(doc))
    assert await kb.version() != version
    after = await kb.search(question)
    assert "5 to 7" in after[0].text

    await kb.delete_document(after[0].doc_id)
    assert await kb.search(question) == []


async def test_version_is_shared_through_redis(
    cached_kb: tuple[KnowledgeBase, Redis, str], tmp_path: Path, embeddings: E5Embeddings
) -> None:
    """An ingestion in another process (its own registry) still invalidates our cache."""
    kb, redis, prefix = cached_kb
    other = KnowledgeBase.open(make_settings(tmp_path / "other"), embeddings=embeddings,
                               redis=redis, kb_settings=KBSettings(cache_prefix=prefix))
    try:
        version = await kb.version()
        await other.bump_version()
        assert await kb.version() != version
    finally:
        other.close()


async def test_query_vectors_are_cached_per_normalized_text(sample_kb: KnowledgeBase) -> None:
    sample_kb.forget_query_vectors()
    hits, misses = sample_kb.vector_cache_hits, sample_kb.vector_cache_misses
    first = await sample_kb.search("How long is the warranty?")
    again = await sample_kb.search("  how long is the WARRANTY  ")
    other = await sample_kb.search("How long does shipping take?")
    assert first == again and other != first
    models = 2 if sample_kb.second_embeddings is not None else 1  # each caches its vectors
    assert (sample_kb.vector_cache_hits - hits, sample_kb.vector_cache_misses - misses) == (
        models, 2 * models
    )



async def test_cached_searches_match_the_pattern_erasure_drops(
    cached_kb: tuple[KnowledgeBase, Redis, str], tmp_path: Path
) -> None:
    """A contact's erasure deletes `search_cache_pattern()` keys; the cache must use them."""
    import fnmatch

    kb, redis, _prefix = cached_kb
    (tmp_path / "delivery.md").write_text(DELIVERY, encoding="utf-8")
    await kb.ingest(str(tmp_path / "delivery.md"))
    await kb.search("how long is delivery?")
    pattern = kb.kb_settings.search_cache_pattern()
    keys = [key.decode() async for key in redis.scan_iter(match=f"{_prefix}:*")]
    searches = [key for key in keys if ":search:" in key]
    assert searches and all(fnmatch.fnmatchcase(key, pattern) for key in searches)
