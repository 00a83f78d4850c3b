"""Ingestion: every format, content hashes (unchanged/changed/deleted), URLs, sitemaps, delete."""

from __future__ import annotations

from pathlib import Path

from rag import KBSettings, KnowledgeBase, ingest
from rag.embeddings import E5Embeddings
from rag.stores import ChromaBackend

from .conftest import make_settings
from .docs_factory import docx_bytes, html_page, pdf_bytes

RETURNS = "# Returns\n\n## Period\nYou can return items within 30 days of delivery.\n"
PAYMENT = "# Оплата\n\n## Способы\nМы принимаем карты Visa и Mastercard, а также СБП.\n"


async def test_folder_of_every_format_then_unchanged_changed_deleted(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "returns.md").write_text(RETURNS, encoding="utf-8")
    (folder / "oplata.txt").write_text("Оплата заказа\n\nКартой или через СБП.", encoding="utf-8")
    (folder / "sub" / "hours.html").write_text(
        html_page("Opening hours", [("Weekdays", "We are open 8 to 20.")]), encoding="utf-8")
    (folder / "sub" / "warranty.pdf").write_bytes(pdf_bytes(["Warranty", "", "Two years."]))
    (folder / "sub" / "garantiya.docx").write_bytes(
        docx_bytes("Гарантия", [("Срок", "Два года на технику.")]))
    (folder / ".hidden.md").write_text("# Secret", encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG")

    first = await ingest(str(folder), kb=kb, progress=False)
    assert sorted(first.added) == ["garantiya.docx", "hours.html", "oplata.txt", "returns.md",
                                   "warranty.pdf"]
    assert not first.failed and first.chunks >= 5 and first.chunks_per_second > 0
    version = kb.registry.version()
    listed = {d.source: d for d in kb.list_documents()}
    assert listed["oplata.txt"].language == "ru" and listed["returns.md"].language == "en"
    assert listed["hours.html"].title == "Opening hours"

    again = await ingest(str(folder), kb=kb, progress=False)
    assert len(again.unchanged) == 5 and not again.changed and again.chunks == 0
    assert kb.registry.version() == version  # nothing changed, cache stays valid

    (folder / "returns.md").write_text(RETURNS.replace("30 days", "60 days"), encoding="utf-8")
    (folder / "sub" / "warranty.pdf").unlink()
    changed = await ingest(str(folder), kb=kb, progress=False)
    assert changed.updated == ["returns.md"] and changed.removed == ["warranty.pdf"]
    assert kb.registry.version() > version
    hits = await kb.search("How many days do I have to return an item?", min_relevance=-1)
    returns_hits = [h for h in hits if h.source == "returns.md"]
    assert len(returns_hits) == 1 and "60 days" in returns_hits[0].text
    old_ids = set(listed["returns.md"].chunk_ids)
    current = kb.registry.by_identity(listed["returns.md"].identity)
    assert current is not None and not old_ids & set(current.chunk_ids)
    assert all(h.source != "warranty.pdf" for h in await kb.search("warranty", min_relevance=-1))


async def test_single_file_tag_and_delete_by_id_or_source(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    path = tmp_path / "oplata.md"
    path.write_text(PAYMENT, encoding="utf-8")
    report = await kb.ingest(str(path), tag="payment")
    assert report.added == ["oplata.md"]
    (doc,) = kb.list_documents()
    assert doc.tag == "payment" and doc.chunks == 1 and len(doc.content_hash) == 64
    hits = await kb.search("Which cards do you accept?", tags=["payment"], min_relevance=-1)
    assert hits and hits[0].doc_id == doc.doc_id and hits[0].tag == "payment"

    assert await kb.delete_document("no-such-id") is None
    removed = await kb.delete_document(doc.doc_id)
    assert removed is not None and removed.source == "oplata.md"
    assert kb.list_documents() == []
    assert await kb.search("Which cards do you accept?", min_relevance=-1) == []

    await kb.ingest(str(path))
    assert await kb.delete_document("oplata.md") is not None  # by source name too
    assert kb.list_documents() == []


async def test_url_and_sitemap_from_a_local_server(
    kb: KnowledgeBase, http_root: tuple[Path, str]
) -> None:
    root, base = http_root
    (root / "shipping.html").write_text(
        html_page("Shipping", [("Times", "Parcels arrive in 2 to 4 business days.")]),
        encoding="utf-8")
    (root / "returns.md").write_text(RETURNS, encoding="utf-8")
    (root / "garantiya.docx").write_bytes(docx_bytes("Гарантия", [("Срок", "Два года.")]))
    (root / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{base}/shipping.html</loc></url><url><loc>{base}/returns.md</loc></url>"
        f"<url><loc>{base}/garantiya.docx</loc></url><url><loc>{base}/missing.html</loc></url>"
        "</urlset>", encoding="utf-8")

    single = await ingest(f"{base}/shipping.html", kb=kb, progress=False)
    assert single.added == [f"{base}/shipping.html"]

    report = await ingest(f"{base}/sitemap.xml", kb=kb, progress=False)
    assert sorted(report.added) == [f"{base}/garantiya.docx", f"{base}/returns.md"]
    assert report.unchanged == [f"{base}/shipping.html"]
    assert [s for s, _ in report.failed] == [f"{base}/missing.html"]
    hits = await kb.search("how long does shipping take", k=1)
    assert hits[0].source == f"{base}/shipping.html" and hits[0].title == "Shipping"

    (root / "sitemap.xml").write_text(
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{base}/shipping.html</loc></url></urlset>", encoding="utf-8")
    shrunk = await ingest(f"{base}/sitemap.xml", kb=kb, progress=False)
    assert sorted(shrunk.removed) == [f"{base}/garantiya.docx", f"{base}/returns.md"]
    assert [d.source for d in kb.list_documents()] == [f"{base}/shipping.html"]


async def test_missing_path_raises(kb: KnowledgeBase, tmp_path: Path) -> None:
    import pytest

    with pytest.raises(FileNotFoundError):
        await ingest(str(tmp_path / "nope"), kb=kb, progress=False)


async def test_a_base_from_before_the_second_model_gets_it_on_the_next_ingest(
    tmp_path: Path, embeddings: E5Embeddings
) -> None:
    path = tmp_path / "returns.md"
    path.write_text(RETURNS, encoding="utf-8")
    settings = make_settings(tmp_path / "data")
    old = KnowledgeBase.open(settings, embeddings=embeddings,
                             kb_settings=KBSettings(second_embeddings="none"))
    assert old.second_backend is None
    await old.ingest(str(path))
    old.close()

    kb = KnowledgeBase.open(settings, embeddings=embeddings)
    try:
        assert isinstance(kb.second_backend, ChromaBackend) and kb.second_backend.count() == 0
        # Same content, but no USE vectors yet: embedded again instead of "unchanged".
        report = await kb.ingest(str(path))
        assert report.updated == ["returns.md"] and kb.second_backend.count() == 1
        assert (await kb.ingest(str(path))).unchanged == ["returns.md"]
        hits = await kb.search("How many days do I have to return an item?", min_relevance=-1)
        assert hits and hits[0].source == "returns.md"
        await kb.delete_document("returns.md")
        assert kb.second_backend.count() == 0 and kb.backend.count() == 0  # type: ignore[attr-defined]
    finally:
        kb.close()
