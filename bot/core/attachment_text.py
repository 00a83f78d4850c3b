"""One line per attachment for the model and the knowledge answer: what it is, never its bytes.

`[photo: receipt.jpg, 120 KB]`, `[voice message: 7 s, 12 KB]`, `[location: 48.85837,
2.294481]`; a file that was not stored says why (`not stored: too large`). A shared contact
says only that it is one: its phone number must not reach the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.types import Attachment

_LABELS = {
    "image": "photo",
    "file": "file",
    "voice": "voice message",
    "audio": "audio",
    "video": "video",
    "sticker": "sticker",
    "location": "location",
}
# A description line as `describe` writes it (what `without_media` takes out again).
_DESCRIPTION = re.compile(
    r"^\[(?:photo|file|voice message|audio|video|sticker|location)(?:: [^\n]*)?\]$\n?", re.M
)
_PROBLEMS = {
    "too_large": "too large",
    "type_not_allowed": "type not allowed",
    "unavailable": "could not be fetched",
}


def human_size(size: int) -> str:
    """`512 B`, `120 KB`, `3.4 MB`."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _extra(attachment: Attachment, name: str) -> object:
    return (attachment.model_extra or {}).get(name)


def describe(attachment: Attachment) -> str | None:
    """The one-line description of a media attachment; None for buttons, contacts, …."""
    label = _LABELS.get(attachment.kind)
    if label is None:
        return None
    if attachment.kind == "location":
        lat, lon = _extra(attachment, "latitude"), _extra(attachment, "longitude")
        where = f"{lat}, {lon}" if lat is not None and lon is not None else ""
        parts = [p for p in (attachment.name, where) if p]
        return f"[{label}: {', '.join(parts)}]" if parts else f"[{label}]"
    details: list[str] = []
    emoji = _extra(attachment, "emoji")
    if attachment.kind == "sticker" and isinstance(emoji, str) and emoji:
        details.append(emoji)  # what the sticker says, as the customer meant it
    if attachment.name:
        details.append(attachment.name)
    duration = _extra(attachment, "duration")
    if attachment.kind in ("voice", "audio", "video") and isinstance(duration, int) and duration:
        details.append(f"{duration} s")
    size = _extra(attachment, "size")
    if isinstance(size, int) and size >= 0:
        details.append(human_size(size))
    problem = _extra(attachment, "media_problem")
    if isinstance(problem, str) and problem in _PROBLEMS:
        details.append(f"not stored: {_PROBLEMS[problem]}")
    return f"[{label}: {', '.join(details)}]" if details else f"[{label}]"


def describe_all(attachments: Sequence[Attachment]) -> str:
    """The descriptions of a message's media, one line each ("" when it has none)."""
    return "\n".join(d for a in attachments if (d := describe(a)) is not None)


def is_stand_in(text: str) -> bool:
    """True for the bracketed text a channel stores in place of a missing caption."""
    stripped = text.strip()
    return (
        not stripped
        or (stripped.startswith("[") and stripped.endswith("]") and "\n" not in stripped)
        or (len(stripped) <= 4 and not any(c.isalnum() for c in stripped))  # a sticker's emoji
    )


def text_with_media(text: str, attachments: Sequence[Attachment]) -> str:
    """What the model reads of a message: its media described, then its caption or text."""
    described = describe_all(attachments)
    if not described:
        return text
    return described if is_stand_in(text) else f"{described}\n{text}"


def without_media(text: str) -> str:
    """What the customer wrote, without the description lines of what they sent."""
    return _DESCRIPTION.sub("", text).strip()
