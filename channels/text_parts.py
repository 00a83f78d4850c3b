"""Splitting a long answer into the parts a channel can carry, the way people read them.

One splitter for every channel with a length limit (Telegram 4096, WhatsApp through Twilio
1600; both counted in UTF-16 code units, so an emoji counts two and no provider's counting
can make a part too long). A part ends where a reader would pause: after a paragraph,
else after a line, else after a sentence, else between words. A run of text without
whitespace — a link, an order number, a token, a code — is never cut: it moves whole to the
next part. Only such a run that alone exceeds the limit is cut, at the limit (never
between the two halves of a surrogate pair).

Parts are returned in reading order; joined with the whitespace they were cut at, they are
the (stripped) text again.
"""

from __future__ import annotations

import re

# Where text may be cut, coarsest first. Each pattern matches the whitespace a part may end
# at (its group `cut` when it has one); that whitespace is dropped at a cut.
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_LINE = re.compile(r"\s*\n\s*")
# A sentence ends with . ! ? … (or CJK ones), maybe followed by closing quotes/brackets, then
# whitespace: a dot inside a link, a version or an order code ("A-12.5") is not followed by
# whitespace and so is never a sentence end; nor is one followed by a lowercase letter or a
# digit (an abbreviation, "No. 12345").
_SENTENCE = re.compile(r"[.!?…。！？][\"'»”’)\]]{0,3}(?P<cut>\s+)")
_WORD = re.compile(r"\s+")
_LEVELS: tuple[re.Pattern[str], ...] = (_PARAGRAPH, _LINE, _SENTENCE, _WORD)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit both Telegram and Twilio count in."""
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int) -> list[str]:
    """Parts of `text` of at most `limit` UTF-16 units each, in order; none is empty.

    Cut at paragraph, then line, then sentence, then word boundaries; links and codes (any
    run without whitespace) are never cut unless one alone is longer than `limit`.
    """
    if limit < 2:
        raise ValueError("limit must leave room for a surrogate pair")
    text = text.strip()
    if not text:
        return []
    return [part for part in _split(text, limit, 0) if part]


def _split(text: str, limit: int, level: int) -> list[str]:
    if utf16_len(text) <= limit:
        return [text]
    if level >= len(_LEVELS):
        return _hard_cut(text, limit)
    pieces = _pieces(text, _LEVELS[level])
    parts: list[str] = []
    current = ""  # the part being filled, its text as written (separators included)
    for piece, separator in pieces:
        candidate = current + piece
        if utf16_len(candidate) <= limit:
            current = candidate + separator
            continue
        if current.strip():
            parts.append(current.strip())
        if utf16_len(piece) <= limit:
            current = piece + separator
            continue
        # Too long for one part even alone: cut it at the next, finer boundary. Its last
        # part stays open, so the pieces after it can still join it.
        inner = _split(piece, limit, level + 1)
        parts.extend(inner[:-1])
        current = inner[-1] + separator
    if current.strip():
        parts.append(current.strip())
    return parts


def _pieces(text: str, boundary: re.Pattern[str]) -> list[tuple[str, str]]:
    """`text` cut at every match of `boundary`: (piece, the separator that followed it)."""
    pieces: list[tuple[str, str]] = []
    cursor = 0
    group = "cut" if "cut" in boundary.groupindex else 0
    for match in boundary.finditer(text):
        start, end = match.span(group)
        if start == 0 or end == start:
            continue
        if (
            boundary is _SENTENCE
            and end < len(text)
            and (text[end].islower() or text[end].isdigit())
        ):
            continue  # "No. 12345", "e.g. this": the label stays with what it labels
        pieces.append((text[cursor:start], text[start:end]))
        cursor = end
    pieces.append((text[cursor:], ""))
    return [(piece, sep) for piece, sep in pieces if piece]


def _hard_cut(text: str, limit: int) -> list[str]:
    """A run without whitespace longer than `limit`: cut at the limit, pairs kept whole."""
    parts: list[str] = []
    start, units = 0, 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > limit:
            parts.append(text[start:index])
            start, units = index, 0
        units += width
    parts.append(text[start:])
    return parts
