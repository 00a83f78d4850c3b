"""The semantic detector: how close a message is to labelled exemplars, kNN style.

Patterns miss paraphrases; an embedding does not care about the exact words. A message is
compared with exemplar attacks, requests for a person and ordinary questions (package data
in `data/`: `<label>.txt` written for any business, `<label>.dev.txt` taken from the
development halves of three businesses' evaluation sets); its score for a label is the mean
similarity of its nearest exemplars of that label minus that of its nearest ordinary
questions, so a message that is merely "about instructions" but reads like a customer's
question scores low. Each embedder gives its own margins; the pipeline averages them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar, Protocol

import numpy as np

NEAREST = 3
# A decision from meaning alone (an attack, a hand-off no rule saw) needs this many words:
# "hi", "ok", "tell me a story", "hello, is anyone there?" sit next to short attacks and
# short requests ("operator") in any embedding, without meaning one.
MEANING_ALONE_MIN_WORDS = 5


class QueryEmbedder(Protocol):
    """Unit vectors for short texts, embedded the way the knowledge search embeds queries."""

    name: str

    async def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors."""
        ...


def exemplars(label: str) -> list[str]:
    """The exemplar lines of `data/<label>.txt` and `data/<label>.dev.txt` (comments and
    blanks skipped)."""
    lines: list[str] = []
    for name in (f"{label}.txt", f"{label}.dev.txt"):
        path = resources.files(__package__).joinpath("data", name)
        if path.is_file():
            text = path.read_text("utf-8")
            lines += [x.strip() for x in text.splitlines() if x.strip() and not x.startswith("#")]
    return lines


LABELS = ("attack", "benign", "handoff")


def digest() -> str:
    """Identifies the exemplar texts the shipped vectors were made from."""
    return hashlib.sha256("\0".join("\n".join(exemplars(x)) for x in LABELS).encode()).hexdigest()


def shipped_vectors(name: str) -> dict[str, np.ndarray] | None:
    """Exemplar vectors shipped with the package (embedding them takes seconds), if they
    were made from the current exemplars by the embedder `name`."""
    path = resources.files(__package__).joinpath(f"data/vectors-{name}.npz")
    if not path.is_file():
        return None
    with path.open("rb") as f, np.load(f) as data:
        if str(data["digest"]) != digest():
            return None
        return {label: np.asarray(data[label], dtype=np.float32) for label in LABELS}


async def write_shipped_vectors(embedder: QueryEmbedder, directory: str) -> None:
    """Embed the exemplars and save them beside them (run after editing `data/*.txt`)."""
    arrays = {label: await embedder.vectors(exemplars(label)) for label in LABELS}
    # Half precision: similarities need three digits, the package half the megabytes.
    halves: dict[str, Any] = {label: a.astype(np.float16) for label, a in arrays.items()}
    halves["digest"] = np.array(digest())
    np.savez_compressed(f"{directory}/vectors-{embedder.name}.npz", **halves)


@dataclass(frozen=True, slots=True)
class Scores:
    attack: float
    handoff: float


class ExemplarIndex:
    """Exemplar vectors of every label, embedded once per process and embedder."""

    _cache: ClassVar[dict[str, dict[str, np.ndarray]]] = {}

    def __init__(self, embedder: QueryEmbedder) -> None:
        self.embedder = embedder
        self._lock = asyncio.Lock()

    async def matrices(self) -> dict[str, np.ndarray]:
        cached = self._cache.get(self.embedder.name) or shipped_vectors(self.embedder.name)
        if cached is not None:
            self._cache[self.embedder.name] = cached
            return cached
        async with self._lock:
            cached = self._cache.get(self.embedder.name)
            if cached is None:
                cached = {}
                for label in LABELS:
                    cached[label] = await self.embedder.vectors(exemplars(label))
                self._cache[self.embedder.name] = cached
        return cached

    async def score_vector(self, vector: np.ndarray) -> Scores:
        m = await self.matrices()
        return score(vector, m)


def _top_mean(similarities: np.ndarray, n: int = NEAREST) -> float:
    if similarities.size <= n:
        return float(similarities.mean()) if similarities.size else 0.0
    return float(np.partition(similarities, -n)[-n:].mean())


def score(vector: np.ndarray, matrices: dict[str, np.ndarray]) -> Scores:
    """Margins of the nearest attack and hand-off exemplars over the nearest ordinary ones."""
    benign = _top_mean(matrices["benign"] @ vector)
    return Scores(
        attack=_top_mean(matrices["attack"] @ vector) - benign,
        handoff=_top_mean(matrices["handoff"] @ vector, 2) - benign,
    )
