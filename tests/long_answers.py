"""A long answer, sized to a channel's limit, with what a split must respect.

Paragraphs that each fit in one message, one that does not (cut at sentence ends), and one
without sentence ends that holds a long tracking link (cut between words, never in the
link); order codes sit all over it. The checks are what a reader would notice.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.text_parts import utf16_len


@dataclass(frozen=True)
class LongAnswer:
    text: str
    intro: str  # fits in a part, with room for the start of the next paragraph
    details: str  # fits in a part alone, but not together with `intro`
    link: str  # a link too long to share a part with the words before it
    codes: tuple[str, ...]
    steps: str  # much longer than a part: cut at sentence ends


def sentences(prefix: str, size: int, code: str) -> str:
    parts: list[str] = []
    n = 0
    while len(" ".join(parts)) < size:
        n += 1
        parts.append(f"{prefix} {n} is confirmed for parcel {code}-{n:03d}, thank you.")
    return " ".join(parts)


def long_answer(limit: int) -> LongAnswer:
    intro = sentences("Your order", int(limit * 0.3), "ORD-7731")
    details = sentences("Refund step", int(limit * 0.8), "RF-20.26")
    words = " ".join(["track your parcel with the private link below"] * (limit // 80))
    link = "https://shop.example.com/track?token=" + "Zq9x" * (limit // 7) + "&lang=en"
    tracking = f"{words} {link} and keep it to yourself"
    steps = sentences("Step", int(limit * 2.4), "SB-4410")
    text = "\n\n".join([intro, details, tracking, steps])
    codes = ("ORD-7731-001", "RF-20.26-003", "SB-4410-011", link)
    assert utf16_len(intro) + utf16_len(details) > limit  # the two cannot share a part
    assert utf16_len(tracking) > limit and len(link) < limit
    return LongAnswer(text=text, intro=intro, details=details, link=link, codes=codes, steps=steps)


def check_parts(parts: list[str], answer: LongAnswer, limit: int) -> None:
    """Within the limit, in order, cut where a reader pauses, codes and links whole."""
    assert all(0 < utf16_len(p) <= limit for p in parts), [utf16_len(p) for p in parts]
    # In order, nothing lost or added: the parts read as the answer.
    assert " ".join(parts).split() == answer.text.split()
    # A paragraph that fits one message arrives as one message.
    assert parts[0] == answer.intro
    assert parts[1] == answer.details
    # The link is never cut: one part holds it whole.
    assert sum(answer.link in p for p in parts) == 1
    for code in answer.codes:
        assert any(code in p for p in parts), f"{code} was cut"
    # The long paragraph is cut between sentences.
    start = next(i for i, p in enumerate(parts) if p.startswith("Step 1 "))
    assert all(p.endswith(".") for p in parts[start:])
    assert all(p.startswith("Step ") for p in parts[start:])
