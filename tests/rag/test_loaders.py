"""Parsing and heading-aware chunking, per format."""

from __future__ import annotations

import pytest

from rag.loaders import (
    UnsupportedFormatError,
    chunk_document,
    detect_language,
    kind_of,
    parse,
)

from .docs_factory import docx_bytes, html_page, pdf_bytes

MARKDOWN = """---
tag: shipping
---
# Delivery

## Express
Express parcels arrive the next business day.

## Freight
""" + "Bulky items travel by freight. " * 60


def test_markdown_front_matter_title_and_heading_paths() -> None:
    doc = parse(MARKDOWN.encode(), kind="md", name="delivery.md")
    assert doc.title == "Delivery" and doc.meta["tag"] == "shipping"
    chunks = chunk_document(doc, size=400, overlap=50)
    assert len(chunks) >= 4
    assert chunks[0].text.startswith("Delivery > Express\n\nExpress parcels")
    freight = [c for c in chunks if "Bulky" in c.text]
    assert len(freight) >= 3 and all(c.text.startswith("Delivery > Freight\n\n") for c in freight)
    assert all(len(c.text) <= 400 + len("Delivery > Freight\n\n") for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_small_sections_are_merged_but_keep_their_headings() -> None:
    text = "# FAQ\n\n## Returns\nWithin 30 days.\n\n## Refunds\nIn 5 days.\n"
    chunks = chunk_document(parse(text.encode(), kind="md", name="faq.md"), size=900)
    assert len(chunks) == 1
    assert "FAQ > Returns\n\nWithin 30 days." in chunks[0].text
    assert "FAQ > Refunds\n\nIn 5 days." in chunks[0].text


def test_html_keeps_headings_and_drops_scripts_and_navigation() -> None:
    html = html_page("Returns", [("Period", "Thirty days."), ("Label", "Print it.")])
    doc = parse(html.encode(), kind="html", name="http://x/returns.html")
    assert doc.title == "Returns"
    assert "## Period" in doc.text and "Thirty days." in doc.text
    assert "tracking" not in doc.text and "Home | Shop" not in doc.text and "©" not in doc.text


def test_pdf_text_layer() -> None:
    doc = parse(pdf_bytes(["Warranty terms", "", "Two years on every device."]),
                kind="pdf", name="warranty.pdf")
    assert "Two years on every device." in doc.text
    assert chunk_document(doc)[0].text.count("Two years") == 1


def test_docx_headings_become_markdown() -> None:
    data = docx_bytes("Гарантия", [("Срок", "Два года на всю технику."), ("Ремонт", "Бесплатно.")])
    doc = parse(data, kind="docx", name="garantiya.docx")
    assert doc.title == "Гарантия"
    assert "## Срок\n\nДва года" in doc.text
    chunks = chunk_document(doc)
    assert chunks[0].language == "ru" and "Гарантия > Срок" in chunks[0].text


def test_plain_text_first_line_is_the_title() -> None:
    doc = parse(b"Opening hours\n\nMonday to Friday.", kind="txt", name="hours.txt")
    assert doc.title == "Opening hours"
    assert parse(b"just one line", kind="txt", name="notes.txt").title == "just one line"


def test_kinds_and_languages() -> None:
    assert kind_of("a/b/Guide.MD") == "md"
    assert kind_of("http://h/page", "text/html; charset=utf-8") == "html"
    assert kind_of("http://h/x", "application/pdf") == "pdf"
    with pytest.raises(UnsupportedFormatError):
        kind_of("image.png", "image/png")
    assert detect_language("Доставка занимает 2 дня, DHL Express") == "ru"
    assert detect_language("Delivery takes 2 days") == "en"
