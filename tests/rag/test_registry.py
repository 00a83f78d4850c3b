"""The document registry in MongoDB: every server sees an ingestion run anywhere; a registry
file of the SQLite era is imported once; its queries use an index on the embedded server."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from rag import KBSettings, KnowledgeBase
from rag.embeddings import E5Embeddings
from rag.registry import DOCUMENTS, META
from tests.fakes.weaviate_server import FakeWeaviate

from .conftest import make_settings

RETURNS = "# Returns\n\n## Period\nYou can return items within 30 days of delivery.\n"
PAYMENT = "# Оплата\n\n## Способы\nМы принимаем карты Visa и Mastercard, а также СБП.\n"
COLLECTION = "SharedKB"
RETURN_QUESTION = "how many days do I have to return an item?"


class _Finds(monitoring.CommandListener):
    """The registry's `find` commands while recording is on (listeners are process-wide)."""

    def __init__(self) -> None:
        self.recording = False
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command.get(event.command_name)
        if self.recording and event.command_name == "find" and name in (DOCUMENTS, META):
            self.commands.append({"find": name, "filter": dict(event.command["filter"])})

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


FINDS = _Finds()
monitoring.register(FINDS)  # before the knowledge bases open their clients


@pytest.fixture
def fake() -> Iterator[FakeWeaviate]:
    with FakeWeaviate() as server:
        yield server
        assert not server.unhandled, f"the client called what the fake lacks: {server.unhandled}"
        assert not server.errors, server.errors


def _server(
    fake: FakeWeaviate, data_dir: Path, db: str, embeddings: E5Embeddings
) -> KnowledgeBase:
    """One server of a deployment: its own DATA_DIR, the shared Weaviate and MongoDB."""
    settings = make_settings(data_dir).model_copy(
        update={"weaviate_url": fake.url, "mongodb_db": db}
    )
    return KnowledgeBase.open(
        settings, embeddings=embeddings,
        kb_settings=KBSettings(collection=COLLECTION, weaviate_grpc_port=fake.grpc_port),
    )


async def test_an_ingestion_on_one_server_reaches_the_other(
    fake: FakeWeaviate, tmp_path: Path, embeddings: E5Embeddings
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text(RETURNS, encoding="utf-8")
    db = make_settings(tmp_path / "deployment").mongodb_db
    first = _server(fake, tmp_path / "app1", db, embeddings)
    second = _server(fake, tmp_path / "app2", db, embeddings)  # `kb ingest` runs here
    try:
        assert await first.search(RETURN_QUESTION, min_relevance=-1) == []
        version = await first.version()

        await second.ingest(str(docs))

        assert await first.version() != version
        assert [d.source for d in first.list_documents()] == ["returns.md"]
        hits = await first.search(RETURN_QUESTION)
        assert hits and hits[0].source == "returns.md" and "30 days" in hits[0].text

        (docs / "oplata.md").write_text(PAYMENT, encoding="utf-8")
        report = await first.ingest(str(docs))  # the other way round: nothing re-embedded
        assert report.unchanged == ["returns.md"] and report.added == ["oplata.md"]
        assert sorted(d.source for d in second.list_documents()) == ["oplata.md", "returns.md"]

        removed = await second.delete_document("returns.md")
        assert removed is not None
        assert await first.search(RETURN_QUESTION, language="en") == []
        assert [d.source for d in first.list_documents()] == ["oplata.md"]
    finally:
        first.close()
        second.close()


_SQLITE_SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, identity TEXT NOT NULL UNIQUE, origin TEXT NOT NULL,
    source TEXT NOT NULL, title TEXT NOT NULL, language TEXT NOT NULL, tag TEXT NOT NULL,
    content_hash TEXT NOT NULL, chunk_ids TEXT NOT NULL, vector_sums TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX documents_origin ON documents(origin);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _write_sqlite_registry(kb: KnowledgeBase, path: Path, version: int) -> None:
    """The registry as the SQLite era wrote it (DATA_DIR/kb/registry.sqlite3, WAL mode)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_SQLITE_SCHEMA)
    for d in kb.list_documents():
        db.execute(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (d.doc_id, d.identity, d.origin, d.source, d.title, d.language, d.tag,
             d.content_hash, json.dumps(list(d.chunk_ids)),
             json.dumps(kb.registry.vector_sums(d.doc_id)), d.updated_at),
        )
    db.execute("INSERT INTO meta VALUES ('version', ?)", (str(version),))
    db.close()


async def test_a_sqlite_registry_is_imported_once_on_the_first_open(
    tmp_path: Path, embeddings: E5Embeddings
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text(RETURNS, encoding="utf-8")
    (docs / "oplata.md").write_text(PAYMENT, encoding="utf-8")
    settings = make_settings(tmp_path / "data")
    before = KnowledgeBase.open(settings, embeddings=embeddings)
    await before.ingest(str(docs))
    listed = before.list_documents()
    means = before.registry.language_means()
    # The upgrade's starting point: the chunks under DATA_DIR, the registry only in the
    # SQLite file, MongoDB empty.
    registry_file = tmp_path / "data" / "kb" / "registry.sqlite3"
    _write_sqlite_registry(before, registry_file, version=41)
    before.close()
    with MongoClient(settings.mongodb_uri) as client:
        client.drop_database(settings.mongodb_db)

    upgraded = KnowledgeBase.open(settings, embeddings=embeddings)
    try:
        assert upgraded.list_documents() == listed
        assert upgraded.registry.version() > 41  # no answer cached before the move survives
        imported = upgraded.registry.language_means()
        assert sorted(imported) == sorted(means)
        for lang, (vector, count) in means.items():
            assert imported[lang][1] == count
            assert imported[lang][0] == pytest.approx(vector, abs=1e-6)
        assert not registry_file.exists()
        assert (registry_file.parent / "registry.sqlite3.imported").is_file()
        assert not list(registry_file.parent.glob("registry.sqlite3-*"))
        hits = await upgraded.search(RETURN_QUESTION)
        assert hits and hits[0].source == "returns.md"
        report = await upgraded.ingest(str(docs))
        assert sorted(report.unchanged) == ["oplata.md", "returns.md"]  # nothing re-embedded
        await upgraded.delete_document("oplata.md")
    finally:
        upgraded.close()

    # Once only: the renamed file does not bring the deleted document back.
    reopened = KnowledgeBase.open(settings, embeddings=embeddings)
    try:
        assert [d.source for d in reopened.list_documents()] == ["returns.md"]
    finally:
        reopened.close()


async def test_the_registry_queries_use_an_index(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text(RETURNS, encoding="utf-8")
    FINDS.commands.clear()
    FINDS.recording = True
    try:
        await kb.ingest(str(docs))
        await kb.ingest(str(docs))
        await kb.search(RETURN_QUESTION)
        kb.list_documents()
        await kb.delete_document("returns.md")
    finally:
        FINDS.recording = False
    explained = {json.dumps(c, sort_keys=True): c for c in FINDS.commands}.values()
    assert {c["find"] for c in explained} == {DOCUMENTS, META}
    settings = make_settings(tmp_path / "data")  # the `kb` fixture's own
    with MongoClient(settings.mongodb_uri) as client:
        database = client[settings.mongodb_db]
        for command in explained:
            answer = database.command({"explain": command, "verbosity": "queryPlanner"})
            stages = set(_stages(answer["queryPlanner"]["winningPlan"]))
            assert "COLLSCAN" not in stages, f"{command} scans its collection: {stages}"


def _stages(plan: dict[str, Any]) -> Iterator[str]:
    yield str(plan.get("stage"))
    for key in ("inputStage", "inputStages"):
        child = plan.get(key)
        for item in child if isinstance(child, list) else [child] if child else []:
            yield from _stages(item)


def test_without_a_mongodb_uri_the_knowledge_base_says_what_it_needs(
    tmp_path: Path, embeddings: E5Embeddings
) -> None:
    settings = make_settings(tmp_path).model_copy(update={"mongodb_uri": None})
    with pytest.raises(ValueError, match="MONGODB_URI"):
        KnowledgeBase.open(settings, embeddings=embeddings)
    assert not (tmp_path / "kb").exists()
