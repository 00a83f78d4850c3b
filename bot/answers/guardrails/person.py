"""Does a message ask for a person? An explicit-request detector, the same for any business.

A request needs two things: a *person* ("operator", "живой человек", "someone from your
team") and a *cue* that the customer wants them: a contact verb ("connect me", "позовите"),
a wish next to the person ("I need a human", "нужен оператор"), or a complaint about the
bot ("this bot is useless", "не хочу с роботом"). A message of one to three words naming a
person ("operator", "человека!") is a request by itself. Words are matched through one typo,
Russian ones by stem, so "opertor", "специалистом" and "позавите" are read; a person word
after a number ("обеды на 15 человек", "a table for 4 people") is a count, not a person.

`person_request()` is 1.0 for a request, 0.5 when the message merely names a person or the
bot (the semantic detector may then decide), 0.0 otherwise ("anyone?", "tell me a story").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from bot.answers.guardrails.normalize import fold

# Whom a customer asks for. Russian entries are stems (any ending); English whole words.
STRONG_PERSON_EN = (
    "operator",
    "operators",
    "human",
    "humans",
    "person",
    "agent",
    "agents",
    "manager",
    "supervisor",
    "representative",
    "rep",
    "staff",
    "employee",
    "consultant",
    "specialist",
    "advisor",
    "adviser",
)
STRONG_PERSON_RU = (
    "оператор",
    "человек",
    "человеч",
    "менеджер",
    "специалист",
    "консультант",
    "сотрудник",
    "старшег",
    "руководител",
    "администратор",
    "агент",
    "chelovek",
    "operator",
    "menedzher",
)
# Words that point at a person only together with something else ("a real one", "support").
WEAK_PERSON = (
    "someone",
    "somebody",
    "anyone",
    "anybody",
    "people",
    "team",
    "support",
    "real",
    "live",
    "actual",
    "кто-нибудь",
    "кто-то",
    "кого-нибудь",
    "кого-то",
    "кем-нибудь",
    "кем-то",
    "кто",
    "кого",
    "кем",
    "поддержк",
    "живо",
    "живы",
    "настоящ",
    "реальн",
)
# The desk of a hotel, clinic or office and whoever staffs it: a request only with a verb of
# being put through ("talk to reception", "соедините с ресепшеном"), not "print it at reception".
DESK = (
    "reception",
    "receptionist",
    "concierge",
    "helpdesk",
    "desk",
    "dispatcher",
    "ресепшн",
    "ресепшен",
    "ресепшин",
    "регистратур",
    "консьерж",
    "диспетчер",
)
PUT_THROUGH_EN = (
    "talk",
    "speak",
    "chat",
    "connect",
    "transfer",
    "switch",
    "redirect",
    "forward",
    "through",
)
PUT_THROUGH_RU = ("соедин", "переключ", "свяж", "связа", "позов", "позав", "перевед", "поговор")
# Verbs of being put in touch.
CONTACT_EN = (
    "talk",
    "speak",
    "chat",
    "connect",
    "transfer",
    "escalate",
    "reach",
    "contact",
    "call",
    "forward",
    "redirect",
    "switch",
    "pass",
    "put",
    "get",
    "give",
    "bring",
    "send",
    "hand",
    "ring",
    "callback",
)
CONTACT_RU = (
    "поговор",
    "говорить",
    "пообщ",
    "общать",
    "соедин",
    "свяж",
    "связа",
    "позов",
    "позав",
    "позв",
    "зовит",
    "переключ",
    "перевед",
    "перевест",
    "передай",
    "передат",
    "подключ",
    "пригла",
    "дайте",
    "дай",
    "перезвон",
    "звонит",
)
# A wish or a question that becomes a request next to a person word.
WISH = (
    "want",
    "need",
    "wanna",
    "please",
    "pls",
    "plz",
    "can",
    "could",
    "may",
    "isthere",
    "any",
    "хочу",
    "хотел",
    "хотела",
    "нужен",
    "нужна",
    "нужно",
    "надо",
    "можно",
    "есть",
    "пожалуйста",
    "пжл",
    "плиз",
    "прошу",
)
BOT = (
    "bot",
    "bots",
    "chatbot",
    "robot",
    "machine",
    "ai",
    "автоответчик",
    "бот",
    "бота",
    "боту",
    "ботом",
    "чат-бот",
    "робот",
    "робота",
    "роботом",
    "нейросет",
)
# Complaints and refusals aimed at the bot: with a bot word they ask for someone else.
_COMPLAINT = re.compile(
    r"\b(useless|stupid|dumb|pointless|not help\w*|doesn'?t (help|understand|get it)|"
    r"don'?t (want|need|understand)|can'?t help|sick of|tired of|fed up|done with|enough|hate|"
    r"no more|stop|instead of|not (a|an|with|to|the)\b|automatic|auto-?repl\w*|"
    r"не понима\w*|бесполезн\w*|туп\w*|надоел\w*|достал\w*|хватит|не хочу|не надо|не с\b|"
    r"вместо|а не\b|задолбал\w*|бестолков\w*|толку|не помога\w*|не помож\w*|"
    r"автоматическ\w*)"
)
# The customer describing a role or a product, not asking ("act as a consultant", "robot vacuum").
_ROLE = re.compile(r"\b(act as|acting as|role|роль|роли|в роли|как консультант)\b")
_PRODUCT_AFTER_BOT = re.compile(
    r"\b(robot|робот)[- ](vacuum|mop|cleaner|lawn|пылесос\w*|мойщик\w*)"
)
# Someone of the business asked to get in touch ("пусть мне напишет куратор", "can a
# teacher call me back"): any staff role counts here, as the customer names the person;
# "can the teacher write me a reference" asks for a thing, not for contact.
_CONTACT_ME = re.compile(
    r"\b(пусть|попросите|попроси|передайте|можно|could|can|would|have|let|ask)\b[^.!?;\n]{0,40}"
    r"\b(напиш\w*|позвон\w*|перезвон\w*|свяж\w*|ответ\w*|call|text|email|e-mail|message|write|"
    r"contact|reach|ring)\s+(мне|меня|со мной|me|back)\b(?!\s+(a|an|the|some|my|this|that|it)\b)"
    r"|\b(мне|со мной)\s+(напиш|позвон|перезвон|свяж)\w*"
)
STAFF_ROLE = (
    "teacher",
    "tutor",
    "curator",
    "coordinator",
    "doctor",
    "nurse",
    "mechanic",
    "technician",
    "преподавател",
    "учител",
    "куратор",
    "методист",
    "координатор",
    "врач",
    "доктор",
    "мастер",
    "техник",
)
_STAFF_STEMS = tuple(r for r in STAFF_ROLE if re.match(r"[а-я]", r))
_NUMBER_WORDS = frozenset(
    [
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "dozen",
        "few",
        "many",
        "двух",
        "трех",
        "четырех",
        "пяти",
        "шести",
        "семи",
        "восьми",
        "девяти",
        "десяти",
        "нескольких",
        "много",
        "два",
        "три",
        "четыре",
        "пять",
        "шесть",
        "семь",
        "восемь",
        "девять",
        "десять",
        "сколько",
    ]
)
_TOKEN = re.compile(r"[a-zа-я0-9]+(?:-[a-zа-я]+)?")
_SENTENCE = re.compile(r"[.!?;\n]+")
_IS_THERE = re.compile(r"\b(is|are) there\b")
_SELF = frozenset(["my", "our", "я", "мой", "моя", "мое", "мои", "наш", "наша", "наши", "как"])
_SELF_ARTICLE = frozenset(["m", "am", "as"])  # "i'm a manager", "as an agent"
# A person word that names a kind of thing, not whom the customer wants: "a staff discount",
# "the operator fee", "скидка для менеджеров" (the word after it, or "для" before it).
_AS_MODIFIER_EN = frozenset(
    [
        "discount",
        "discounts",
        "fee",
        "fees",
        "price",
        "prices",
        "rate",
        "rates",
        "special",
        "specials",
        "code",
        "codes",
        "account",
        "accounts",
        "card",
        "cards",
        "pass",
        "login",
        "app",
        "portal",
        "job",
        "jobs",
        "position",
        "vacancy",
        "vacancies",
        "training",
        "course",
        "salary",
        "uniform",
    ]
)
_TALK = ("talk", "speak", "chat")
WINDOW = 4
SHORT = 3


def _one_edit(a: str, b: str) -> bool:
    """True when a and b differ by one insertion, deletion, substitution or swap."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
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


# Russian is often written as it sounds: unstressed о as а, е as и ("апиратор", "челавек",
# "жывой"). Both the token and the stems are reduced to this key before a typo is allowed.
_SOUND = str.maketrans({"о": "а", "е": "и", "э": "и", "я": "и", "ы": "и", "ь": None, "ъ": None})
_CYRILLIC = re.compile(r"[а-я]")


def sounds(word: str) -> str:
    """A rough phonetic key of a Russian word: vowels reduced, soft and hard signs dropped."""
    return re.sub(r"(.)\1", r"\1", word.translate(_SOUND))


@lru_cache(maxsize=8)
def _sound_stems(stems: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sounds(s) for s in stems if _CYRILLIC.match(s))


def _sounds_like_stem(token: str, stems: Sequence[str]) -> bool:
    """A Russian token spelt as it sounds, matched against stems reduced the same way."""
    return bool(_CYRILLIC.match(token)) and _has_stem(sounds(token), _sound_stems(tuple(stems)))


def _is_word(token: str, words: Sequence[str]) -> bool:
    """A whole-word match, through one typo for words of five letters or more."""
    if token in words:
        return True
    if len(token) < 4:
        return False
    # A typo rarely hits the first letter: only words starting like the token are tried.
    return any(
        len(w) >= 5 and _one_edit(token, w) for w in _by_first(tuple(words)).get(token[0], ())
    )


def _has_stem(token: str, stems: Sequence[str]) -> bool:
    """Starts with a stem (through one typo for stems of five letters or more)."""
    if not token:  # a lone soft or hard sign has no sound left
        return False
    if any(token.startswith(stem) for stem in stems):
        return True
    for stem in _by_first(tuple(stems)).get(token[0], ()):
        n = len(stem)
        if (
            n >= 5
            and len(token) >= n - 1
            and any(_one_edit(token[:k], stem) for k in (n - 1, n, n + 1) if k <= len(token))
        ):
            return True
    return False


@lru_cache(maxsize=64)
def _by_first(words: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    buckets: dict[str, list[str]] = {}
    for w in words:
        buckets.setdefault(w[0], []).append(w)
    return {k: tuple(v) for k, v in buckets.items()}


_WEAK_STEMS = tuple(w for w in WEAK_PERSON if len(w) >= 4)


@lru_cache(maxsize=4096)
def _kind(token: str) -> str:
    """One token's role: 'person', 'weak', 'contact', 'wish', 'bot' or ''."""
    if token in BOT or _has_stem(token, ("нейросет", "автоответчик", "чат-бот")):
        return "bot"
    if _is_word(token, STRONG_PERSON_EN) or _has_stem(token, STRONG_PERSON_RU):
        return "person"
    if token in WISH:
        return "wish"
    if _is_word(token, CONTACT_EN) or _has_stem(token, CONTACT_RU):
        return "contact"
    if token in WEAK_PERSON or _has_stem(token, _WEAK_STEMS):
        return "weak"
    if _is_word(token, DESK) or _has_stem(token, [d for d in DESK if _CYRILLIC.match(d)]):
        return "desk"
    if _sounds_like_stem(token, STRONG_PERSON_RU):
        return "person"
    if _sounds_like_stem(token, _WEAK_STEMS):
        return "weak"
    return ""


def person_request(text: str) -> float:
    """1.0 an explicit request for a person, 0.5 a mention of a person or the bot, else 0."""
    folded = fold(text)
    if _ROLE.search(folded):
        return 0.0
    folded = _IS_THERE.sub("isthere", folded)
    sentences = [(s, _TOKEN.findall(s)) for s in _SENTENCE.split(folded)]
    sentences = [(s, tokens) for s, tokens in sentences if tokens]
    if not sentences or sum(len(tokens) for _, tokens in sentences) > 60:
        return 0.0
    short = sum(not t.isdigit() for _, tokens in sentences for t in tokens) <= SHORT
    best = 0.0
    for sentence, tokens in sentences:
        if _CONTACT_ME.search(sentence) and any(_is_staff(t) for t in tokens):
            return 1.0
        complaint = bool(_COMPLAINT.search(sentence))
        best = max(best, _sentence_score(tokens, short=short, complaint=complaint))
        if best == 1.0:
            break
    return best


def _is_staff(token: str) -> bool:
    """A person word, a desk, or any role of a business's staff."""
    if _kind(token) in ("person", "desk", "weak"):
        return True
    return _is_word(token, STAFF_ROLE) or _has_stem(token, _STAFF_STEMS)


def _describes_self(tokens: list[str], kinds: list[str], i: int) -> bool:
    """ "I'm the travel manager of our company": an "I am a / the" shortly before the person word,
    with no wish or contact verb between them ("I'm angry, I want a manager" asks)."""
    for j in range(max(0, i - WINDOW), i - 2):
        if (
            tokens[j] == "i"
            and tokens[j + 1] in ("m", "am")
            and tokens[j + 2] in ("a", "an", "the")
        ):
            return not any(k in ("wish", "contact") for k in kinds[j + 3 : i])
    return False


def _sentence_score(tokens: list[str], *, short: bool, complaint: bool) -> float:
    kinds = [_kind(t) for t in tokens]
    for i in range(len(tokens)):
        # "talk to", "speak with"; "do your staff speak English" asks for nobody
        talk = kinds[i] == "contact" and _is_word(tokens[i], _TALK)
        if talk and tokens[i + 1 : i + 2] not in (["to"], ["with"], ["w"]):
            kinds[i] = ""
        if kinds[i] not in ("person", "weak"):
            continue
        before = tokens[max(0, i - 2) : i]
        # "обеды на 15 человек", "a table for 4 people": a count; "I'm the administrator",
        # "my manager said": the customer's own people, not whom they ask for.
        own = bool(before) and (
            before[-1] in _SELF
            or (len(before) == 2 and before[1] in ("a", "an", "the") and before[0] in _SELF_ARTICLE)
        )
        own = own or _describes_self(tokens, kinds, i)
        modifier = i + 1 < len(tokens) and tokens[i + 1] in _AS_MODIFIER_EN
        modifier = modifier or (bool(before) and before[-1] == "для")
        if own or modifier or any(b.isdigit() or b in _NUMBER_WORDS for b in before):
            kinds[i] = ""
    bots = [
        i
        for i, k in enumerate(kinds)
        if k == "bot" and not _PRODUCT_AFTER_BOT.search(" ".join(tokens[i : i + 2]))
    ]
    persons = [i for i, k in enumerate(kinds) if k == "person"]
    weak = [i for i, k in enumerate(kinds) if k == "weak"]
    if persons and short:
        return 1.0
    if bots and complaint:
        return 1.0

    def near(i: int, wanted: tuple[str, ...]) -> bool:
        return any(k in wanted for k in kinds[max(0, i - WINDOW) : i + WINDOW + 1])

    for i in persons:
        if near(i, ("contact", "wish")) or bots:
            return 1.0
    for i in (i for i, k in enumerate(kinds) if k == "desk"):
        before = tokens[max(0, i - WINDOW - 1) : i]
        if any(_is_word(t, PUT_THROUGH_EN) or _has_stem(t, PUT_THROUGH_RU) for t in before):
            return 1.0
        if short and any(
            t in ("please", "pls", "plz", "пожалуйста", "плиз", "пжл") for t in tokens
        ):
            return 1.0  # "reception please"
    for i in weak:
        # "someone real", "live support", "anyone I can talk to": a weak word with a
        # contact verb, or two weak words together with a wish.
        if near(i, ("contact",)):
            return 1.0
        if any(j != i and abs(j - i) <= 2 for j in weak) and near(i, ("wish",)):
            return 1.0
    # A person or the bot named lets the semantic detector decide; "anyone?" alone does not.
    return 0.5 if (persons or bots) else 0.0
