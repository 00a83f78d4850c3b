"""Limits on what comes over the wire, applied before anything parses or stores it.

Python's `json` module recurses once per nesting level, so a body a few thousand levels
deep raises RecursionError (a 500, or a dropped socket) instead of a clean refusal; BSON
holds integers of at most 8 bytes and strings of valid UTF-8, so a 2**70 or a lone
surrogate that JSON happily carries makes the database refuse the whole message. These
helpers turn the first into a reason to give the sender and the second into a value the
database takes, keeping what the sender said.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Real payloads nest far less (a Telegram update with a keyboard is about 8 levels deep).
MAX_JSON_DEPTH = 64
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_BRACKETS = re.compile(rb"[\[\]{}]")
# A JSON string literal: what is inside it never counts as nesting.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


class InputRejected(ValueError):
    """Input refused before parsing; the message is the reason to give the sender."""


def json_depth_exceeds(raw: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests deeper than `limit` arrays/objects (linear, no parsing)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # the common case: too few brackets to be that deep at all
    depth = 0
    for match in _BRACKETS.finditer(_STRING.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def loads_bounded(raw: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads`, refusing nesting deeper than `max_depth` before it parses anything.

    Raises `InputRejected` for too deep a text and `ValueError` for one that is not JSON.
    """
    if json_depth_exceeds(raw, max_depth):
        raise InputRejected(f"JSON is nested more than {max_depth} levels deep")
    return json.loads(raw)


def clean_text(value: str) -> str:
    """The string with lone surrogates (not encodable as UTF-8) replaced by U+FFFD."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


def storable(value: Any) -> Any:
    """A copy the database can hold: integers beyond 8 bytes become their decimal string
    (nothing is lost, and a file size of 2**70 is not something to compute with) and
    strings lose their lone surrogates. Other values pass through unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value
