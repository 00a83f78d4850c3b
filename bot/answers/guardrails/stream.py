"""Holding a streamed answer back until the output checks have seen it.

Tokens are buffered and released a sentence (or a window of characters) at a time, each
release only after the checks pass on everything produced so far. Once a check fails
nothing more is sent; the worker then stores the safe answer in place of the model's.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from bot.answers.guardrails.verdict import ALLOW, Verdict

TokenSink = Callable[[str], Awaitable[None]]
WINDOW_CHARS = 160
_SENTENCE_END = re.compile(r"[.!?…\n](?=\s|$)")


class StreamGuard:
    """A token sink in front of another: forwards only text that passed `check`."""

    def __init__(
        self,
        sink: TokenSink,
        check: Callable[[str], Verdict],
        *,
        max_chars: int,
        window: int = WINDOW_CHARS,
    ) -> None:
        self._sink = sink
        self._check = check
        self._max = max_chars
        self._window = window
        self.produced = ""
        self.released = ""
        self.verdict: Verdict = ALLOW

    async def __call__(self, piece: str) -> None:
        self.produced += piece
        if not self.verdict.allowed:
            return
        pending = self.produced[len(self.released) :]
        cut = 0
        for match in _SENTENCE_END.finditer(pending):
            cut = match.end()
        if not cut and len(pending) >= self._window:
            cut = pending.rfind(" ") + 1 or len(pending)
        if cut:
            await self._release(pending[:cut])

    async def _release(self, text: str) -> None:
        candidate = self.released + text
        verdict = self._check(candidate)
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
