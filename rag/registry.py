"""The document registry: what `list` and `delete` read, kept in MongoDB for every server.

It records, per document, its content hash, its chunk ids and, per language, the sum of its
chunk vectors (so the mean passage vector of each language — used to remove e5's
same-language bias — is known without scanning the store). It also holds the knowledge-base
version that every change bumps. Being in the deployment's MongoDB (the embedded SecantusDB
when nothing else is configured), `kb ingest` run on any machine reaches every server.

Two collections, shared by every knowledge base of the database and told apart by the
knowledge base's name: `kb_documents` (one document per ingested document) and `kb_meta`
(the version, cached reference vectors). Every query is one single-field filter on an
indexed field: SecantusDB plans a compound (`$and`) filter as a collection scan.

The client is pymongo's synchronous one (thread-safe, pooled): the knowledge base calls it
from worker threads (the search runs in one), and its async methods hand calls to a thread.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymongo import ASCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection

DOCUMENTS = "kb_documents"
META = "kb_meta"
# What an imported SQLite registry (the format before MongoDB) is renamed to.
IMPORTED_SUFFIX = ".imported"
_SERVER_SELECTION_MS = 10_000

VectorSums = dict[str, tuple[list[float], int]]


@dataclass(frozen=True)
class DocumentRecord:
    """A document of the knowledge base as `kb list` shows it."""

    doc_id: str
    source: str  # the file name or URL it was ingested from
    identity: str  # absolute path or URL: what makes two ingestions the same document
    origin: str  # the folder / sitemap / file / URL it was ingested through
    title: str
    language: str
    tag: str
    content_hash: str
    chunk_ids: tuple[str, ...]
    updated_at: float

    @property
    def chunks(self) -> int:
        return len(self.chunk_ids)


class Registry:
    """The registry of the knowledge base `name` in database `db` (thread-safe)."""

    def __init__(self, uri: str, db: str, *, name: str) -> None:
        self.name = name
        self._client: MongoClient[dict[str, Any]] = MongoClient(
            uri, serverSelectionTimeoutMS=_SERVER_SELECTION_MS, tz_aware=True
        )
        database = self._client[db]
        self._docs: Collection[dict[str, Any]] = database[DOCUMENTS]
        self._meta: Collection[dict[str, Any]] = database[META]
        self._docs.create_index([("kb", ASCENDING)])
        self._docs.create_index([("identity_key", ASCENDING)], unique=True)
        self._docs.create_index([("origin_key", ASCENDING)])

    def close(self) -> None:
        self._client.close()

    def _key(self, value: str) -> str:
        # One field carries the knowledge base and the value, so a lookup is one equality.
        return f"{self.name}\x1f{value}"

    # ------------------------------------------------------------------ meta

    def version(self) -> int:
        row = self._meta.find_one({"_id": self._key("version")})
        return int(row["value"]) if row else 0

    def bump_version(self) -> int:
        row = self._meta.find_one_and_update(
            {"_id": self._key("version")},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert row is not None  # upserted
        return int(row["value"])

    def raise_version_to(self, version: int) -> None:
        """The version is at least `version` (an import keeps the imported base's counter)."""
        self._meta.update_one(
            {"_id": self._key("version")}, {"$max": {"value": version}}, upsert=True
        )

    def get_meta(self, key: str) -> str | None:
        row = self._meta.find_one({"_id": self._key(f"meta:{key}")})
        return str(row["value"]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._meta.replace_one({"_id": self._key(f"meta:{key}")}, {"value": value}, upsert=True)

    # ------------------------------------------------------------------ documents

    def by_identity(self, identity: str) -> DocumentRecord | None:
        row = self._docs.find_one({"identity_key": self._key(identity)}, _RECORD_FIELDS)
        return _record(row) if row else None

    def get(self, doc_id: str) -> DocumentRecord | None:
        row = self._docs.find_one({"_id": self._key(doc_id)}, _RECORD_FIELDS)
        return _record(row) if row else None

    def count(self) -> int:
        """How many documents the knowledge base holds (no document is sent back)."""
        return self._docs.count_documents({"kb": self.name})

    def documents(self, origin: str | None = None) -> list[DocumentRecord]:
        where = {"kb": self.name} if origin is None else {"origin_key": self._key(origin)}
        records = [_record(row) for row in self._docs.find(where, _RECORD_FIELDS)]
        return sorted(records, key=lambda r: (r.source, r.doc_id))

    def put(self, record: DocumentRecord, vector_sums: VectorSums) -> None:
        self._docs.replace_one(
            {"_id": self._key(record.doc_id)},
            {
                "kb": self.name,
                "doc_id": record.doc_id,
                "identity": record.identity,
                "identity_key": self._key(record.identity),
                "origin": record.origin,
                "origin_key": self._key(record.origin),
                "source": record.source,
                "title": record.title,
                "language": record.language,
                "tag": record.tag,
                "content_hash": record.content_hash,
                "chunk_ids": list(record.chunk_ids),
                # A list, not a mapping: the keys ("en", "use:ru") are data, not field names.
                "vector_sums": [
                    {"key": key, "vector": list(vector), "count": int(count)}
                    for key, (vector, count) in vector_sums.items()
                ],
                "updated_at": record.updated_at,
            },
            upsert=True,
        )

    def remove(self, doc_id: str) -> None:
        self._docs.delete_one({"_id": self._key(doc_id)})

    def vector_sums(self, doc_id: str) -> VectorSums:
        row = self._docs.find_one({"_id": self._key(doc_id)}, {"vector_sums": 1})
        return _sums(row) if row else {}

    def language_means(self) -> dict[str, tuple[np.ndarray, int]]:
        """The mean chunk vector and chunk count of each language in the knowledge base."""
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        for row in self._docs.find({"kb": self.name}, {"vector_sums": 1}):
            for lang, (vec, count) in _sums(row).items():
                arr = np.asarray(vec, dtype=np.float64)
                sums[lang] = sums[lang] + arr if lang in sums else arr
                counts[lang] = counts.get(lang, 0) + count
        return {
            lang: ((sums[lang] / counts[lang]).astype(np.float32), counts[lang])
            for lang in sums
            if counts[lang] > 0
        }


_RECORD_FIELDS = {
    name: 1
    for name in (
        "doc_id", "source", "identity", "origin", "title", "language", "tag", "content_hash",
        "chunk_ids", "updated_at",
    )
}


def _record(row: dict[str, Any]) -> DocumentRecord:
    return DocumentRecord(
        doc_id=str(row["doc_id"]), source=str(row["source"]), identity=str(row["identity"]),
        origin=str(row["origin"]), title=str(row["title"]), language=str(row["language"]),
        tag=str(row["tag"]), content_hash=str(row["content_hash"]),
        chunk_ids=tuple(str(c) for c in row["chunk_ids"]), updated_at=float(row["updated_at"]),
    )


def _sums(row: dict[str, Any]) -> VectorSums:
    return {
        str(item["key"]): ([float(x) for x in item["vector"]], int(item["count"]))
        for item in row.get("vector_sums") or []
    }


def import_sqlite(registry: Registry, path: Path) -> int:
    """Copy a registry file of the SQLite era into `registry`, then rename it `*.imported`.

    Runs once per file: the rename is the mark (its -wal / -shm files are removed).
    Documents MongoDB already holds (another server imported its copy first) are replaced by
    the file's, which describes the same chunks; the version only ever rises, so no cached
    answer of either survives. Returns how many documents were imported (0: no file).
    """
    if not path.is_file():
        return 0
    try:
        # Read-only: a file another server (sharing the volume) just renamed is not created
        # again, empty. Reads see what the WAL holds.
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return 0
    try:
        rows = db.execute(
            "SELECT doc_id, source, identity, origin, title, language, tag, content_hash, "
            "chunk_ids, vector_sums, updated_at FROM documents"
        ).fetchall()
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()
    for row in rows:
        record = DocumentRecord(
            doc_id=str(row[0]), source=str(row[1]), identity=str(row[2]), origin=str(row[3]),
            title=str(row[4]), language=str(row[5]), tag=str(row[6]), content_hash=str(row[7]),
            chunk_ids=tuple(json.loads(str(row[8]))), updated_at=float(row[10]),
        )
        sums = {k: (v, int(n)) for k, (v, n) in json.loads(str(row[9])).items()}
        registry.put(record, sums)
    for key, value in meta.items():
        if key != "version" and registry.get_meta(str(key)) is None:
            registry.set_meta(str(key), str(value))
    registry.raise_version_to(int(meta.get("version", 0)))
    registry.bump_version()
    # Gone already: another server sharing the volume imported the same file at the same time.
    with contextlib.suppress(FileNotFoundError):
        path.rename(path.with_name(path.name + IMPORTED_SUFFIX))
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return len(rows)
