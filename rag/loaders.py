"""Turn files and HTTP bodies into Markdown-ish text, then into heading-aware chunks."""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from langchain_text_splitters import RecursiveCharacterTextSplitter

SUPPORTED_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf", ".docx"}

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


class UnsupportedFormatError(ValueError):
    """The file type cannot be ingested."""


@dataclass(frozen=True)
class ParsedDocument:
    """One document as text: Markdown headings (`#`) mark its structure."""

    text: str
    title: str
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    text: str  # what is embedded and returned: heading path + body
    index: int
    language: str


def detect_language(text: str) -> str:
    """`ru` when Cyrillic letters dominate, else `en` (the two languages of the platform)."""
    cyr = len(_CYRILLIC.findall(text))
    lat = len(_LATIN.findall(text))
    return "ru" if cyr > lat else "en"


def kind_of(name: str, content_type: str | None = None) -> str:
    """The parser to use, from the content type (HTTP) or the file name."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    by_type = {
        "text/html": "html",
        "application/xhtml+xml": "html",
        "application/pdf": "pdf",
        "text/markdown": "md",
        "text/x-markdown": "md",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    }
    if ctype in by_type:
        return by_type[ctype]
    suffix = PurePosixPath(name.split("?")[0]).suffix.lower()
    by_suffix = {
        ".md": "md", ".markdown": "md", ".txt": "txt", ".text": "txt", ".html": "html",
        ".htm": "html", ".pdf": "pdf", ".docx": "docx",
    }
    if suffix in by_suffix:
        return by_suffix[suffix]
    if ctype.startswith("text/") or ctype == "":
        return "html" if ctype == "" and name.startswith("http") else "txt"
    raise UnsupportedFormatError(f"unsupported document type: {name} ({ctype or 'unknown'})")


def parse(data: bytes, *, kind: str, name: str) -> ParsedDocument:
    """Parse raw bytes of a given kind (`md`, `txt`, `html`, `pdf`, `docx`)."""
    fallback_title = PurePosixPath(name.rstrip("/")).stem or name
    if kind in ("md", "txt"):
        text = _decode(data)
        meta: dict[str, str] = {}
        match = _FRONT_MATTER.match(text)
        if match:
            for line in match.group(1).splitlines():
                key, sep, value = line.partition(":")
                if sep:
                    meta[key.strip().lower()] = value.strip().strip("\"'")
            text = text[match.end() :]
        if kind == "txt":
            text = _text_to_markdown(text)
    elif kind == "html":
        text, html_title = _html_to_markdown(_decode(data))
        meta = {"title": html_title} if html_title else {}
    elif kind == "pdf":
        text, meta = _pdf_to_text(data)
    elif kind == "docx":
        text, meta = _docx_to_markdown(data)
    else:
        raise UnsupportedFormatError(f"unsupported document type: {kind}")
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").strip()
    title = meta.get("title") or _first_heading(text) or _first_line(text) or fallback_title
    return ParsedDocument(text=text, title=title[:200], meta=meta)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _first_heading(text: str) -> str | None:
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            return m.group(2).strip()
    return None


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:120]
    return None


def _text_to_markdown(text: str) -> str:
    """Plain text: a short first line followed by a blank line is treated as the title."""
    lines = text.strip().splitlines()
    if len(lines) >= 2 and 0 < len(lines[0]) <= 120 and not lines[1].strip():
        return f"# {lines[0].strip()}\n\n" + "\n".join(lines[2:])
    return text


def _html_to_markdown(html: str) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "footer", "header", "form"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else None
    body = soup.find("main") or soup.find("article") or soup.body or soup
    parts: list[str] = []
    blocks = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "dt", "dd"]
    for el in body.find_all(blocks):
        if el.name not in ("h1", "h2", "h3", "h4", "h5", "h6") and el.find_parent(["p", "li"]):
            continue  # nested inside a block already taken
        text = " ".join(el.get_text(" ", strip=True).split())
        if not text:
            continue
        if el.name[0] == "h" and el.name[1:].isdigit():
            parts.append(f"{'#' * int(el.name[1:])} {text}")
        elif el.name == "li":
            parts.append(f"- {text}")
        else:
            parts.append(text)
    return "\n\n".join(parts), title


def _pdf_to_text(data: bytes) -> tuple[str, dict[str, str]]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    meta: dict[str, str] = {}
    info = reader.metadata
    if info is not None and info.title:
        meta["title"] = str(info.title)
    text = "\n\n".join(p for p in pages if p)
    return _text_to_markdown(text), meta


def _docx_to_markdown(data: bytes) -> tuple[str, dict[str, str]]:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts: list[str] = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        if style == "Title":
            parts.append(f"# {text}")
        elif style.startswith("Heading"):
            level = style.removeprefix("Heading").strip()
            depth = int(level) + 1 if level.isdigit() else 2
            parts.append(f"{'#' * min(depth, 6)} {text}")
        elif "List" in style:
            parts.append(f"- {text}")
        else:
            parts.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                parts.append(" | ".join(cells))
    meta: dict[str, str] = {}
    if document.core_properties.title:
        meta["title"] = document.core_properties.title
    return "\n\n".join(parts), meta


def chunk_document(doc: ParsedDocument, *, size: int = 900, overlap: int = 120) -> list[Chunk]:
    """Split by Markdown headings; each chunk starts with its heading path.

    A section longer than `size` is split further, every piece keeping the heading path, so
    a passage never loses the question it answers. Sections too small to stand alone are
    merged with the next one under the same top-level heading.
    """
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=min(overlap, size // 2),
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
    )
    sections: list[tuple[list[str], str]] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []

    def flush() -> None:
        text = "\n".join(body).strip()
        if text:
            sections.append(([h for _, h in path], text))
        body.clear()

    for line in doc.text.splitlines():
        m = _HEADING.match(line)
        if m:
            flush()
            level = len(m.group(1))
            path = [(lvl, h) for lvl, h in path if lvl < level]
            path.append((level, m.group(2).strip()))
        else:
            body.append(line)
    flush()

    chunks: list[Chunk] = []
    pending = ""
    for headings, text in sections:
        trail = [h for h in headings if h != doc.title]
        header = " > ".join([doc.title, *trail])
        for piece in splitter.split_text(text):
            block = f"{header}\n\n{piece.strip()}"
            if pending and len(pending) + len(block) + 2 <= size:
                pending = f"{pending}\n\n{block}"
                continue
            if pending:
                chunks.append(Chunk(pending, len(chunks), detect_language(pending)))
            pending = block if len(block) < size // 3 else ""
            if not pending:
                chunks.append(Chunk(block, len(chunks), detect_language(block)))
    if pending:
        chunks.append(Chunk(pending, len(chunks), detect_language(pending)))
    if not chunks and doc.title:
        chunks.append(Chunk(doc.title, 0, detect_language(doc.title)))
    return chunks
