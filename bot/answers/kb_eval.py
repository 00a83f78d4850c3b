"""`python -m bot eval kb`: a business's own questions through the bot's knowledge answers.

Each question goes through `KnowledgeAnswers.generate` — the reply generator the embedded
default answers customers with — over the same `RagKnowledge` search, and what the answer
cites is compared with the expected document (or with "I don't know" when `doc` is null).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.answers.agent_context import AgentContext
from bot.answers.kb_answers import KnowledgeAnswers
from bot.answers.knowledge import KnowledgeSearch
from bot.answers.model_context import ModelContext, Turn
from rag.loaders import detect_language


@dataclass(frozen=True, slots=True)
class Question:
    """One line of a questions file: `{"q", "doc" | null, "kind"?, "lang"?}`."""

    q: str
    doc: str | None
    kind: str
    lang: str


@dataclass(frozen=True, slots=True)
class Outcome:
    question: Question
    cited: tuple[str, ...]  # sources the answer cited, in order; () = "I don't know"
    score: float | None  # the knowledge base's confidence behind the answer

    @property
    def answered(self) -> bool:
        return bool(self.cited)

    @property
    def hit(self) -> bool:
        """The expected document is among the first two cited."""
        return self.question.doc is not None and self.question.doc in self.cited[:2]


@dataclass(slots=True)
class EvalReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def _answerable(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.question.doc is not None]

    @property
    def hit2(self) -> float:
        answerable = self._answerable()
        return sum(o.hit for o in answerable) / len(answerable) if answerable else 1.0

    @property
    def cross_hit2(self) -> float:
        cross = [o for o in self._answerable() if o.question.kind == "cross_lang"]
        return sum(o.hit for o in cross) / len(cross) if cross else 1.0

    @property
    def abstain(self) -> float:
        """Share of uncovered questions answered "I don't know"."""
        uncovered = [o for o in self.outcomes if o.question.doc is None]
        return sum(not o.answered for o in uncovered) / len(uncovered) if uncovered else 1.0

    @property
    def refused(self) -> float:
        """Share of answerable questions wrongly answered "I don't know"."""
        answerable = self._answerable()
        return sum(not o.answered for o in answerable) / len(answerable) if answerable else 0.0

    def table(self) -> str:
        """The report as text: hits by kind and by language, abstentions, the misses."""
        lines = [f"{'group':<16}{'n':>4}{'hit@2':>8}{'refused':>9}{'abstained':>11}"]

        def row(name: str, group: Sequence[Outcome]) -> str:
            answerable = [o for o in group if o.question.doc is not None]
            uncovered = [o for o in group if o.question.doc is None]
            hit = f"{sum(o.hit for o in answerable)}/{len(answerable)}" if answerable else "-"
            ref = f"{sum(not o.answered for o in answerable)}" if answerable else "-"
            abst = "-"
            if uncovered:
                abst = f"{sum(not o.answered for o in uncovered)}/{len(uncovered)}"
            return f"{name:<16}{len(group):>4}{hit:>8}{ref:>9}{abst:>11}"

        for kind in sorted({o.question.kind for o in self.outcomes}):
            lines.append(row(kind, [o for o in self.outcomes if o.question.kind == kind]))
        for lang in sorted({o.question.lang for o in self.outcomes}):
            lines.append(row(f"lang={lang}", [o for o in self.outcomes if o.question.lang == lang]))
        lines.append(row("all", self.outcomes))
        lines.append(
            f"\nexpected document among the first two cited: {self.hit2:.3f} "
            f'(cross-language {self.cross_hit2:.3f}); uncovered answered "I don\'t know": '
            f"{self.abstain:.3f}; answerable wrongly refused: {self.refused:.3f}"
        )
        misses = [o for o in self.outcomes if (o.question.doc is None) == o.answered]
        misses += [o for o in self._answerable() if o.answered and not o.hit]
        if misses:
            lines.append("\nmisses:")
        for o in misses:
            cited = ", ".join(o.cited) if o.cited else "I don't know"
            expected = o.question.doc or "I don't know"
            score = "" if o.score is None else f" score {o.score:.2f}"
            lines.append(
                f"  [{o.question.kind}/{o.question.lang}] {o.question.q!r}: expected "
                f"{expected}, cited {cited}{score}"
            )
        return "\n".join(lines)


def load_questions(path: Path) -> list[Question]:
    """The questions of a JSONL file; a bad line raises ValueError naming its number."""
    questions: list[Question] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text = item["q"]
            doc = item.get("doc")
            if (
                not isinstance(text, str)
                or not text.strip()
                or not (doc is None or isinstance(doc, str))
            ):
                raise TypeError("q must be text and doc text or null")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not a question line ({exc})") from exc
        lang = str(item.get("lang") or detect_language(text))
        kind = str(item.get("kind") or ("uncovered" if doc is None else "answerable"))
        questions.append(Question(q=text, doc=doc, kind=kind, lang=lang))
    return questions


async def _ignore(_: str) -> None:
    return None


async def answer_sources(
    answers: KnowledgeAnswers, question: Question
) -> tuple[tuple[str, ...], float | None]:
    """What the bot's answer to `question` cites, and the confidence behind it."""
    context = ModelContext(
        system_prompt="",
        # seq 1: the reply answers the customer turns after `answered_before_seq` (0).
        turns=[Turn(role="user", text=question.q, seq=1)],
        language=question.lang,
        answering_through_seq=1,
        agent=AgentContext(
            conversation_id="eval",
            contact_id="eval",
            channel="eval",
            external_user_id="eval",
            language=question.lang,
        ),
    )
    reply = await answers.generate(context, on_token=_ignore)
    scores = [s.score for s in reply.sources if s.score is not None]
    return tuple(s.source for s in reply.sources), (scores[0] if scores else None)


async def evaluate(knowledge: KnowledgeSearch, questions: Sequence[Question]) -> EvalReport:
    """Every question through the bot's knowledge answers."""
    answers = KnowledgeAnswers(knowledge)
    report = EvalReport()
    for question in questions:
        cited, score = await answer_sources(answers, question)
        report.outcomes.append(Outcome(question=question, cited=cited, score=score))
    return report


def failed_thresholds(
    report: EvalReport,
    *,
    min_hit2: float | None = None,
    min_cross_hit2: float | None = None,
    min_abstain: float | None = None,
    max_refused: float | None = None,
) -> list[str]:
    """The thresholds the report does not meet, as sentences (empty: all met)."""
    failed: list[str] = []
    if min_hit2 is not None and report.hit2 < min_hit2:
        failed.append(f"hit@2 {report.hit2:.3f} < {min_hit2}")
    if min_cross_hit2 is not None and report.cross_hit2 < min_cross_hit2:
        failed.append(f"cross-language hit@2 {report.cross_hit2:.3f} < {min_cross_hit2}")
    if min_abstain is not None and report.abstain < min_abstain:
        failed.append(f"uncovered abstained {report.abstain:.3f} < {min_abstain}")
    if max_refused is not None and report.refused > max_refused:
        failed.append(f"answerable refused {report.refused:.3f} > {max_refused}")
    return failed
