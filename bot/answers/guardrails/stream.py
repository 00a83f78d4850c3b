"""Holding a streamed answer back until the output checks have seen what follows it.

The last `HOLD_WORDS` words produced are always held back; each token releases what lies
before them, and only after the checks pass on everything produced so far. So a word is
shown only once the checks have seen it and the words after it (a leak is
`output.LEAK_WORDS` verbatim words: fewer than that of one is no leak). Once a check fails
nothing more is sent; the worker stores the safe answer in place of the model's.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from bot.answers.guardrails.verdict import ALLOW, Verdict

TokenSink = Callable[[str], Awaitable[None]]
HOLD_WORDS = 6
OVERLAP_CHARS = 240
RELEASE_WORDS = 4
# A release this short is a model streaming: its words go out one frame each.
WORD_FRAMES_UP_TO = 12
_PIECE = re.compile(r"\s*\S+\s*|\s+")
_WORD_START = re.compile(r"(?<!\S)\S")


class StreamGuard:
    """A token sink in front of another: forwards only text that passed `check`."""

    def __init__(
        self,
        sink: TokenSink,
        check: Callable[[str], Verdict],
        *,
        max_chars: int,
        hold_words: int = HOLD_WORDS,
    ) -> None:
        self._sink = sink
        self._check = check
        self._max = max_chars
        self._hold = hold_words
        self.produced = ""
        self.released = ""
        self.verdict: Verdict = ALLOW

    async def __call__(self, piece: str) -> None:
        self.produced += piece
        if not self.verdict.allowed:
            return
        pending = self.produced[len(self.released) :]
        starts = [m.start() for m in _WORD_START.finditer(pending)]
        # Released a few words at a time: each release runs the checks once.
        if len(starts) >= self._hold + RELEASE_WORDS:
            await self._release(pending[: starts[-self._hold]])

    async def _release(self, text: str) -> None:
        candidate = self.released + text
        # The checks look at sentences and at runs of a few words: what was released long
        # ago has been checked with everything near it, so only the recent part is checked
        # again (the final answer is checked whole in `finish`).
        start = max(0, len(self.released) - OVERLAP_CHARS)
        verdict = self._check(self.produced[start:])  # the held-back words too
        if not verdict.allowed:
            self.verdict = verdict
            return
        if len(candidate) > self._max:
            return  # past the channel's limit: the stored answer is cut, the stream stops
        self.released = candidate
        await self._send(text)

    async def _send(self, text: str) -> None:
        """A word a frame while a model streams (a release is a few words); a text produced
        whole (a knowledge answer) in one frame, not hundreds: each frame costs a publish
        and a socket write per viewer."""
        pieces = _PIECE.findall(text)
        if len(pieces) > WORD_FRAMES_UP_TO:
            pieces = [text]
        for piece in pieces:
            await self._sink(piece)

    async def finish(self, final: str) -> Verdict:
        """Check the final answer; release the rest of the stream when it passes."""
        if self.verdict.allowed:
            self.verdict = self._check(final)
        if self.verdict.allowed and final.startswith(self.released):
            rest = final[len(self.released) :]
            if rest and len(final) <= self._max:
                self.released = final
                await self._send(rest)
        return self.verdict
