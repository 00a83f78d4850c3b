"""The document registry: one SQLite file under DATA_DIR/kb that `list` and `delete` read.

It records, per document, its content hash, its chunk ids and, per language, the sum of its
chunk vectors (so the mean passage vector of each language — used to remove e5's
same-language bias — is known without scanning the store). It also holds the knowledge-base
version that every change bumps.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    identity TEXT NOT NULL UNIQUE,
    origin TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    language TEXT NOT NULL,
    tag TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    vector_sums TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_origin ON documents(origin);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


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
    """Thread-safe access to the registry file (one connection, serialized)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def version(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        return int(row[0]) if row else 0

    def bump_version(self) -> int:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES('version', '1') ON CONFLICT(key) "
                "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
            )
            row = self._db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        return int(row[0])

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))

    def by_identity(self, identity: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM documents WHERE identity=?",  # noqa: S608
                (identity,),
            ).fetchone()
        return _record(row) if row else None

    def get(self, doc_id: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM documents WHERE doc_id=?",  # noqa: S608
                (doc_id,),
            ).fetchone()
        return _record(row) if row else None

    def count(self) -> int:
        """How many documents the knowledge base holds (cheap: no rows are read)."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM documents").fetchone()
        return int(row[0])

    def documents(self, origin: str | None = None) -> list[DocumentRecord]:
        with self._lock:
            if origin is None:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM documents ORDER BY source, doc_id"  # noqa: S608
                ).fetchall()
            else:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM documents WHERE origin=? ORDER BY source",  # noqa: S608
                    (origin,),
                ).fetchall()
        return [_record(r) for r in rows]

    def put(self, record: DocumentRecord, vector_sums: dict[str, tuple[list[float], int]]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.doc_id, record.identity, record.origin, record.source, record.title,
                    record.language, record.tag, record.content_hash,
                    json.dumps(list(record.chunk_ids)), json.dumps(vector_sums), time.time(),
                ),
            )

    def remove(self, doc_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))

    def vector_sums(self, doc_id: str) -> dict[str, tuple[list[float], int]]:
        with self._lock:
            row = self._db.execute(
                "SELECT vector_sums FROM documents WHERE doc_id=?", (doc_id,)
            ).fetchone()
        if not row:
            return {}
        return {lang: (vec, int(n)) for lang, (vec, n) in json.loads(row[0]).items()}

    def language_means(self) -> dict[str, tuple[np.ndarray, int]]:
        """The mean chunk vector and chunk count of each language in the knowledge base."""
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        with self._lock:
            rows = self._db.execute("SELECT vector_sums FROM documents").fetchall()
        for (raw,) in rows:
            for lang, (vec, count) in json.loads(raw).items():
                arr = np.asarray(vec, dtype=np.float64)
                sums[lang] = sums[lang] + arr if lang in sums else arr
                counts[lang] = counts.get(lang, 0) + int(count)
        return {
            lang: ((sums[lang] / counts[lang]).astype(np.float32), counts[lang])
            for lang in sums
            if counts[lang] > 0
        }


_COLUMNS = (
    "doc_id, source, identity, origin, title, language, tag, content_hash, chunk_ids, updated_at"
)


def _record(row: tuple[object, ...]) -> DocumentRecord:
    return DocumentRecord(
        doc_id=str(row[0]), source=str(row[1]), identity=str(row[2]), origin=str(row[3]),
        title=str(row[4]), language=str(row[5]), tag=str(row[6]), content_hash=str(row[7]),
        chunk_ids=tuple(json.loads(str(row[8]))), updated_at=float(str(row[9])),
    )
