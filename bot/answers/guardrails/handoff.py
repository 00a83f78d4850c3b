"""The hand-off policy: when a person takes over, decided without asking the model.

Three triggers, each recorded with its reason: the customer asks for a person (any phrasing,
typos, one word — a fuzzy lexicon plus the semantic detector), the customer is angry or
raises a legal or safety matter (configurable words), or the assistant has failed or
refused several times in a row. The model's own hand-off tool stays a further trigger.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bot.answers.guardrails.normalize import fold
from bot.answers.guardrails.verdict import Action, Verdict

# Who the customer may ask for, and the words that make a sentence a request for them.
PERSON_WORDS = [
    "operator",
    "human",
    "person",
    "agent",
    "manager",
    "supervisor",
    "representative",
    "rep",
    "staff",
    "employee",
    "someone",
    "real",
    "people",
    "humans",
    "consultant",
    "specialist",
    "support",
    "team",
    "оператор",
    "оператора",
    "человек",
    "человека",
    "людей",
    "менеджер",
    "менеджера",
    "менеджеру",
    "специалист",
    "специалиста",
    "консультант",
    "консультанта",
    "сотрудник",
    "сотрудника",
    "старший",
    "старшего",
    "руководитель",
    "руководителя",
    "руководство",
    "администратор",
    "администратора",
    "живой",
    "живым",
    "живого",
    "агент",
    "агента",
    "chelovek",
    "operatora",
    "operator",
    "menedzher",
]
REQUEST_WORDS = [
    "talk",
    "speak",
    "chat",
    "connect",
    "transfer",
    "put",
    "get",
    "want",
    "need",
    "call",
    "give",
    "let",
    "switch",
    "pass",
    "escalate",
    "reach",
    "contact",
    "through",
    "поговорить",
    "говорить",
    "общаться",
    "соедините",
    "соедини",
    "свяжите",
    "свяжи",
    "позовите",
    "позови",
    "позвать",
    "переключите",
    "переключи",
    "переведите",
    "переведи",
    "передайте",
    "передай",
    "дайте",
    "дай",
    "хочу",
    "нужен",
    "нужна",
    "нужно",
    "можно",
    "давайте",
    "пригласите",
    "позавите",
    "позавите",
]
BOT_WORDS = [
    "bot",
    "robot",
    "machine",
    "бот",
    "бота",
    "ботом",
    "робот",
    "робота",
    "роботом",
    "автоответчик",
]
NEGATION = re.compile(
    r"\b(not|don't|dont|do not|no|sick of|tired of|hate|не|надоел|хватит|достал)\b"
)
_WORD = re.compile(r"[a-zа-я]+")
# Words that describe the customer's own situation, not a request ("act as a consultant").
_ROLE = re.compile(r"\b(act as|role|роль|роли|как консультант|в роли)\b")


def _near(word: str, vocabulary: Iterable[str]) -> bool:
    """True when `word` is one typo (edit or swap) from a vocabulary word of 5+ letters."""
    for target in vocabulary:
        if word == target:
            return True
        if len(target) >= 5 and abs(len(word) - len(target)) <= 1 and _one_edit(word, target):
            return True
    return False


def _one_edit(a: str, b: str) -> bool:
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def asks_for_person(text: str) -> float:
    """How surely the message asks for a person: 1.0 a clear request, 0 none (lexicon)."""
    folded = fold(text)
    if _ROLE.search(folded):
        return 0.0
    words = _WORD.findall(folded)
    if not words or len(words) > 40:
        return 0.0
    person = [w for w in words if _near(w, PERSON_WORDS)]
    if not person:
        return 0.0
    short = len(words) <= 3
    request = any(_near(w, REQUEST_WORDS) for w in words)
    against_bot = any(w in BOT_WORDS for w in words) and bool(NEGATION.search(folded))
    if short or request or against_bot:
        return 1.0
    return 0.0


def trigger_word(text: str, words: Sequence[str]) -> str | None:
    """The first configured anger / legal / safety word found (`word*` matches a stem)."""
    folded = fold(text)
    for word in words:
        stem = word.strip().casefold()
        whole = not stem.endswith("*")
        stem = stem.rstrip("*")
        tail = "(?![a-zа-я])" if whole else ""
        if stem and re.search(rf"(?<![a-zа-я]){re.escape(stem)}{tail}", folded):
            return stem
    return None


def angry(text: str) -> bool:
    """Shouting: three or more exclamation marks, or a long message mostly in capitals."""
    letters = [ch for ch in text if ch.isalpha()]
    caps = sum(ch.isupper() for ch in letters)
    return "!!!" in text or (len(letters) >= 12 and caps / len(letters) > 0.7)


def failures_in_a_row(kinds: Sequence[str | None], limit: int) -> bool:
    """True when the last `limit` assistant turns were all refusals or failures."""
    if limit <= 0 or len(kinds) < limit:
        return False
    return all(k in ("guardrail", "ai_failed", "unanswered") for k in kinds[-limit:])


def handoff_verdict(
    text: str,
    *,
    person_score: float,
    semantic_handoff: float,
    semantic_threshold: float,
    trigger_words: Sequence[str],
    previous_kinds: Sequence[str | None] = (),
    after_failures: int = 0,
) -> Verdict | None:
    """The hand-off the policy asks for (rule, score), or None."""
    if person_score >= 1.0:
        return Verdict(Action.HANDOFF, "person_request", 1.0, "handoff")
    if semantic_handoff >= semantic_threshold:
        return Verdict(Action.HANDOFF, "person_request", semantic_handoff, "handoff", "semantic")
    word = trigger_word(text, trigger_words)
    if word:
        return Verdict(Action.HANDOFF, "sensitive_topic", 1.0, "handoff", word)
    if angry(text):
        return Verdict(Action.HANDOFF, "anger", 1.0, "handoff")
    if failures_in_a_row(previous_kinds, after_failures):
        return Verdict(Action.HANDOFF, "repeated_failures", float(after_failures), "handoff")
    return None
