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
        if len(starts) > self._hold:
            await self._release(pending[: starts[-self._hold]])

    async def _release(self, text: str) -> None:
        candidate = self.released + text
        verdict = self._check(self.produced)  # the held-back words too
        if not verdict.allowed:
            self.verdict = verdict
            return
        if len(candidate) > self._max:
            return  # past the channel's limit: the stored answer is cut, the stream stops
        self.released = candidate
        await self._sink(text)

    async def finish(self, final: str) -> Verdict:
        """Check the final answer; release the rest of the stream when it passes."""
        if self.verdict.allowed:
            self.verdict = self._check(final)
        if self.verdict.allowed and final.startswith(self.released):
            rest = final[len(self.released) :]
            if rest and len(final) <= self._max:
                self.released = final
                await self._sink(rest)
        return self.verdict
