"""Ingestion: files, folders, URLs and sitemaps → chunks in the store, tracked by content hash."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import httpx
import numpy as np
from tqdm import tqdm

from rag.fetch import SafeFetcher, host_of
from rag.fusion import SECOND_MODEL_KEY
from rag.loaders import SUPPORTED_SUFFIXES, UnsupportedFormatError, chunk_document, kind_of, parse
from rag.registry import DocumentRecord

if TYPE_CHECKING:
    from rag.kb import KnowledgeBase
    from rag.settings import KBSettings

_CHUNK_NAMESPACE = uuid.UUID("6b1f0f9e-6f0e-4a52-9c1e-5a3f3d0c2b11")


@dataclass
class IngestReport:
    """What one `ingest` run did. Lists hold document sources (file names or URLs)."""

    source: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    chunks: int = 0  # chunks written
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, "
            f"{len(self.failed)} failed; {self.chunks} chunks in {self.seconds:.1f}s"
        )


@dataclass(frozen=True)
class _Item:
    identity: str  # absolute path or URL
    source: str  # what citations show: the file name or the URL
    name: str
    fetch: Callable[[], Any]  # async () -> (bytes, content type | None)


def doc_id_for(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def chunk_id_for(doc_id: str, content_hash: str, index: int) -> str:
    """A UUID (Weaviate wants UUIDs); new content gets new ids, so the swap leaves no gap."""
    return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{doc_id}:{content_hash}:{index}"))


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


async def ingest(
    source: str, *, kb: KnowledgeBase, tag: str | None = None, progress: bool = True,
) -> IngestReport:
    """Ingest a file, a folder (recursively), a URL or a sitemap URL into `kb`.

    Unchanged documents (same content hash) are skipped; changed ones get their chunks
    replaced; documents that were ingested through this same folder or sitemap before and
    are gone now are removed. The knowledge-base version is bumped when anything changed,
    so the search cache never serves stale chunks. Errors of single documents are reported
    in `failed` and do not stop the run.
    """
    started = time.perf_counter()
    report = IngestReport(source=source)
    timeout = kb.kb_settings.http_timeout_seconds
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
        origin, items, complete = await _discover(source, fetcher_for(http, kb.kb_settings),
                                                  kb.kb_settings)
        seen: set[str] = set()
        bar = tqdm(total=len(items), desc="kb ingest", unit="doc", disable=not progress)
        try:
            async with kb._write_lock:
                for item in items:
                    seen.add(item.identity)
                    try:
                        await _ingest_one(item, origin=origin, kb=kb, tag=tag, report=report)
                    except (OSError, httpx.HTTPError, UnsupportedFormatError, ValueError) as exc:
                        report.failed.append((item.source, f"{type(exc).__name__}: {exc}"))
                    bar.update(1)
                    bar.set_postfix(chunks=report.chunks)
                if complete:
                    listed = await asyncio.to_thread(kb.registry.documents, origin=origin)
                    for record in listed:
                        if record.identity not in seen:
                            await asyncio.to_thread(kb.backend.delete, record.chunk_ids)
                            if kb.second_backend is not None:
                                await asyncio.to_thread(kb.second_backend.delete, record.chunk_ids)
                            await asyncio.to_thread(kb.registry.remove, record.doc_id)
                            report.removed.append(record.source)
                if report.changed:
                    await kb.bump_version()
        finally:
            bar.close()
    report.seconds = time.perf_counter() - started
    return report


def fetcher_for(http: httpx.AsyncClient, settings: KBSettings) -> SafeFetcher:
    """The URL fetcher of an ingestion run, with the knowledge base's limits."""
    return SafeFetcher(
        http,
        allow_private=settings.allow_private_urls,
        max_bytes=settings.max_document_bytes,
        extra_hosts=settings.allowed_hosts.split(","),
    )


async def _discover(
    source: str, fetcher: SafeFetcher, settings: KBSettings,
) -> tuple[str, list[_Item], bool]:
    """(origin, items, complete): `complete` means absent documents of the origin are gone."""
    if _is_url(source):
        # Pages and redirects stay on the source's host unless more hosts are allowed.
        hosts = {host_of(source)}
        first = await fetcher.get(source, hosts=hosts)
        locs = _sitemap_locs(first.body)
        if locs is None:
            prefetched = (first.body, first.content_type)
            return source, [_url_item(source, fetcher, hosts, prefetched)], True
        urls: list[str] = []
        # A sitemap may list itself or another that lists it back: each is read once.
        visited = {source, first.url}
        pending = list(locs)
        sitemaps, truncated = 1, False
        while pending and len(urls) < settings.max_sitemap_urls:
            loc = pending.pop(0)
            if loc in visited:
                continue
            visited.add(loc)
            if loc.endswith(".xml"):
                if sitemaps >= settings.max_sitemaps:
                    truncated = True
                    continue
                sitemaps += 1
                sub = await fetcher.get(loc, hosts=hosts)
                pending.extend(_sitemap_locs(sub.body) or [])
            else:
                urls.append(loc)
        complete = not truncated and (len(urls) < settings.max_sitemap_urls or not pending)
        return source, [_url_item(u, fetcher, hosts) for u in urls], complete
    return await asyncio.to_thread(_discover_path, source)


def _discover_path(source: str) -> tuple[str, list[_Item], bool]:
    path = Path(source).expanduser().resolve()
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        return str(path), [_file_item(p) for p in files], True
    if path.is_file():
        return str(path), [_file_item(path)], True
    raise FileNotFoundError(f"no such file, folder or URL: {source}")


def _sitemap_locs(body: bytes) -> list[str] | None:
    head = body[:2048].lstrip()
    if not head.startswith(b"<?xml") and not head.startswith(b"<urlset") \
            and not head.startswith(b"<sitemapindex"):
        return None
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - our own sitemap; no DTDs expanded
    except ElementTree.ParseError:
        return None
    if not root.tag.endswith(("urlset", "sitemapindex")):
        return None
    return [el.text.strip() for el in root.iter() if el.tag.endswith("loc") and el.text]


def _file_item(path: Path) -> _Item:
    async def fetch() -> tuple[bytes, str | None]:
        return await asyncio.to_thread(path.read_bytes), None

    return _Item(identity=str(path), source=path.name, name=path.name, fetch=fetch)


def _url_item(
    url: str, fetcher: SafeFetcher, hosts: set[str],
    prefetched: tuple[bytes, str | None] | None = None,
) -> _Item:
    async def fetch() -> tuple[bytes, str | None]:
        if prefetched is not None:
            return prefetched
        fetched = await fetcher.get(url, hosts=hosts)
        return fetched.body, fetched.content_type

    return _Item(identity=url, source=url, name=url, fetch=fetch)


async def _ingest_one(
    item: _Item, *, origin: str, kb: KnowledgeBase, tag: str | None, report: IngestReport,
) -> None:
    data, ctype = await item.fetch()
    content_hash = hashlib.sha256(data).hexdigest()
    previous = await asyncio.to_thread(kb.registry.by_identity, item.identity)
    if previous is not None and previous.content_hash == content_hash and (
        tag is None or tag == previous.tag
    ) and await asyncio.to_thread(_has_second_vectors, kb, previous.doc_id):
        if previous.origin != origin:
            kept = await asyncio.to_thread(kb.registry.vector_sums, previous.doc_id)
            await asyncio.to_thread(kb.registry.put, _moved(previous, origin), kept)
        report.unchanged.append(item.source)
        return
    kind = kind_of(item.name, ctype)
    parsed = await asyncio.to_thread(parse, data, kind=kind, name=item.name)
    settings = kb.kb_settings
    chunks = chunk_document(parsed, size=settings.chunk_size, overlap=settings.chunk_overlap)
    if not chunks:
        raise ValueError("no text found")
    doc_id = doc_id_for(item.identity)
    doc_tag = tag if tag is not None else parsed.meta.get("tag", "")
    language = parsed.meta.get("language") or _majority([c.language for c in chunks])
    texts = [c.text for c in chunks]
    vectors = await asyncio.to_thread(kb.embeddings.embed_documents, texts)
    ids = [chunk_id_for(doc_id, content_hash, c.index) for c in chunks]
    metadatas = [
        {
            "doc_id": doc_id, "source": item.source, "title": parsed.title, "tag": doc_tag,
            "language": c.language, "chunk_index": c.index, "content_hash": content_hash,
        }
        for c in chunks
    ]
    await asyncio.to_thread(kb.backend.add, ids, texts, vectors, metadatas)
    second_vectors = None
    if kb.second_backend is not None and kb.second_embeddings is not None:
        second_vectors = await asyncio.to_thread(kb.second_embeddings.embed_array, texts)
        await asyncio.to_thread(
            kb.second_backend.add, ids, texts, second_vectors.tolist(), metadatas
        )
    if previous is not None:
        stale = [cid for cid in previous.chunk_ids if cid not in set(ids)]
        await asyncio.to_thread(kb.backend.delete, stale)
        if kb.second_backend is not None:
            await asyncio.to_thread(kb.second_backend.delete, stale)
    sums: dict[str, tuple[list[float], int]] = {}
    array = np.asarray(vectors, dtype=np.float64)
    for lang in {c.language for c in chunks}:
        mask = np.array([c.language == lang for c in chunks])
        sums[lang] = (array[mask].sum(axis=0).tolist(), int(mask.sum()))
        if second_vectors is not None:
            # The second model's sums sit beside the first's under "use:<language>".
            part = second_vectors[mask].astype(np.float64)
            sums[f"{SECOND_MODEL_KEY}:{lang}"] = (part.sum(axis=0).tolist(), int(mask.sum()))
    await asyncio.to_thread(
        kb.registry.put,
        DocumentRecord(
            doc_id=doc_id, source=item.source, identity=item.identity, origin=origin,
            title=parsed.title, language=language, tag=doc_tag, content_hash=content_hash,
            chunk_ids=tuple(ids), updated_at=time.time(),
        ),
        sums,
    )
    (report.updated if previous is not None else report.added).append(item.source)
    report.chunks += len(chunks)


def _has_second_vectors(kb: KnowledgeBase, doc_id: str) -> bool:
    """A document ingested before the second model was on must be embedded again."""
    if kb.second_backend is None:
        return True
    return any(key.startswith(f"{SECOND_MODEL_KEY}:") for key in kb.registry.vector_sums(doc_id))


def _moved(record: DocumentRecord, origin: str) -> DocumentRecord:
    return DocumentRecord(
        doc_id=record.doc_id, source=record.source, identity=record.identity, origin=origin,
        title=record.title, language=record.language, tag=record.tag,
        content_hash=record.content_hash, chunk_ids=record.chunk_ids, updated_at=time.time(),
    )


def _majority(values: list[str]) -> str:
    return max(set(values), key=values.count) if values else "en"
