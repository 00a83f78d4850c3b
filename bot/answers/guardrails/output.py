# ruff: noqa: E501  (long regex alternations read better unbroken)
"""Output checks on an answer (or the part of it streamed so far).

Each check is a function of the text and the business's settings, returning a Verdict:
leaks of secret prompt blocks or of long verbatim stretches of the instructions, insults,
commitments the business never made, claims to be human, links outside the allowed
domains, and the channel's length limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from bot.answers.guardrails.normalize import fold
from bot.answers.guardrails.verdict import ALLOW, Action, Verdict

# A verbatim run of this many words of the instructions is a leak; of a secret block, fewer.
LEAK_WORDS = 10
SECRET_LEAK_WORDS = 5

_INSULT = re.compile(
    r"\b(idiot|idiots|stupid|moron|dumb|dumbass|imbecile|loser|clown|brainless|pathetic|"
    r"useless|lazy|worthless|shut (the hell )?up|fuck\w*|f\*+\w*|shit\w*|bitch\w*|asshole|"
    r"bastard|jerk|retard\w*|scum|fool|fools|idiotic|halfwit|nitwit)\b"
    r"|(идиот|дебил|дурак|дура\b|тупой|тупая|тупица|кретин|придурок|придурк|урод|бездар|"
    r"неудачник|лох|заткнись|сволоч|мразь|козел|козёл|бля|хуй|хуе|пизд|ебан|ебат|сука|сучк|"
    r"говнюк|лентяй|бестолоч|болван|олух|недоумок|тупорыл|нищеброд|быдл|ничтожеств|убог|жалк\w* "
    r"(тип|человек|неудачник)|чмо\b|лузер|овощ\b|бомж)"
)
_COMMITMENT = re.compile(
    r"\b(i|we) (personally )?(guarantee|promise|assure you|will (refund|compensate|reimburse)|"
    r"(will|'ll) (give|send|offer) you (a )?(full )?(refund|discount|compensation|voucher|credit))"
    r"|\b(we|i)('ll| will)( \w+)? (refund|compensate|reimburse|pay you back)\b"
    r"|(^|[.!?]\s+)guaranteed\s*[.!]|\bi guarantee\b|\bi promise\b|\b\d{1,3} ?% (off|discount)\b"
    r"|\b(full|100 ?%) refund\b|\bfree (of charge )?(for life|forever)\b|\bforever\b[^.!?\n]{0,30}\bfree\b"
    r"|\b(free|replace)[^.!?\n]{0,40}\b(for life|forever)\b"
    r"|(гарантирую|гарантируем|обещаю|обещаем|компенсируем|возместим|вернем (вам )?(все |всю )?деньги"
    r"|вернем (вам )?полную|деньги вернем|скидк\w* (в )?\d{1,3} ?%|\d{1,3} ?% скидк"
    r"|бесплатно навсегда|навсегда бесплатн|пожизненн)"
    # A service given away or money returned, in any business's words: fees waived, "on us",
    # a free upgrade or night, money back in full, a bonus or gift from the business.
    r"|\bwaive[sd]? (the |your |all |any )?(\w+ )?(fees?|charges?|penalt\w+|costs?)\b"
    r"|\b(is|are|'s|be) (on us|on the house)\b|\bat our expense\b"
    r"|\b(we|i)('ll| will| can| would)\b[^.!?\n]{0,50}\bat no (extra |additional )?(cost|charge)\b"
    r"|\b(complimentary|free) (upgrade|night|nights|suite|extra night)\b"
    r"|\b(returned|refunded|reimbursed|paid back) in full\b|\bbonus of\b"
    r"|\b(voucher|gift card|credit) (of|for|worth) [^.!?\n]{0,6}\d"
    r"|(полностью|в полном объеме) (вернем|возвратим|возместим|компенсируем)|(вернем|возвратим|"
    r"возместим|компенсируем)[^.!?\n]{0,25}(полностью|в полном объеме|всю стоимость|стоимость)"
    r"|за (наш|свой) сч[её]т|за сч[её]т (отеля|компании|магазина|заведения|сети|фирмы)"
    r"|бесплатн\w* (апгрейд|ночь|ночи|повышени)|возврат\w* (в размере )?100 ?%"
    r"|100 ?% возврат|(подарок|бонус|сертификат) (от (отеля|компании|магазина|нас)|на \d|в \d)"
    r"|(оформлю|оформим|сделаю|сделаем|дам|дадим|предоставлю|предоставим|подарим|начислим) (вам )?"
    r"(бесплатн|скидк|компенсац|возврат|апгрейд|бонус)"
)
_HUMAN = re.compile(
    r"\b(i am|i'm) (a |an )?(real |live |actual )?(human|person|operator|live agent|manager|"
    r"real person|not a (bot|robot|machine|ai))\b|\b(i am|i'm) not (a |an )?(bot|robot|ai|machine)\b"
    r"|\bnot (a|with a) bot\b|\byou('re| are) (talking|chatting|speaking) (to|with) (a )?(real|live|human)"
    r"|\bmy name is \w+,? (and )?i('m| am) (a |an |the )?(operator|agent|manager)"
    r"|я (живой|настоящий|реальный)? ?(человек|оператор|менеджер|сотрудник)\b"
    r"|я не (бот|робот|программа|ии)|не с ботом|(с|со) (живым|настоящим|реальным) (человеком|менеджером|оператором|сотрудником)"
    r"|(меня зовут \w+,? я (оператор|менеджер|сотрудник))"
    # "not an automated system", "здесь живой администратор"
    r"|\b(a member|part) of (the|our) (\w+ )?(team|staff)\b[^.!?\n]{0,30}\bnot\b"
    r"|\bnot (an? )?(automated|automatic|chat) ?(system|reply|response|assistant|bot)\b"
    r"|(здесь|тут|с вами|вам пишет|на связи) (говорит |общается |пишет )?(живой|настоящий|"
    r"реальный) (человек|администратор|оператор|менеджер|сотрудник)"
)
# A staff member by name, on the text as written (the capital marks a name): "I'm Olga from
# the front desk", "Я Ольга с ресепшена".
_STAFF_BY_NAME = re.compile(
    r"\b(I'm|I am|This is|It's) [A-Z][a-z]+,? (from|at|of) (the |our )?(front desk|reception|"
    r"support team|reservations|booking team|office|management|staff|team)\b"
    r"|(?<![А-Яа-яЁё])(Я|Это) [А-ЯЁ][а-яё]+,? (с|из) (ресепшен\w*|ресепшн\w*|отдел\w*|офис\w*|"
    r"команды|поддержки|администрации|службы)(?![а-яё])"
)
# Cheap first looks: the full patterns run only on a text that has one of these stems.
_COMMITMENT_HINT = re.compile(
    r"guarant|promis|assur|refund|compensat|reimburs|%|free|forever|for life|waive|on us|"
    r"on the house|expense|no (extra |additional )?(cost|charge)|complimentary|in full|bonus|"
    r"voucher|gift card|credit|"
    r"гарант|обеща|компенс|возмест|верн|деньги|скидк|бесплат|навсегда|пожизн|сч[её]т|возврат|"
    r"подар|бонус|сертификат|апгрейд"
)
_HUMAN_HINT = re.compile(
    r"human|person|operator|agent|manager|bot|robot|machine|\bai\b|real|live|front desk|"
    r"reception|team|staff|office|automat|ресепш|отдел|офис|команд|поддержк|администрац|служб|"
    r"человек|оператор|менеджер|сотрудник|бот|робот|программ|\bии\b|живы|живой|настоящ"
)
_URL = re.compile(
    r"\b(?:https?://|www\.)[^\s<>\"')\]]{1,300}"
    r"|(?<![\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,6}(?:[a-z]{2,12})(?=[/\s:,;!?)\]]|$)(?:/[^\s<>\"')\]]{0,300})?",
    re.IGNORECASE,
)
# Words that look like domains but are not links (file names, abbreviations).
_NOT_DOMAIN_TLDS = {
    "txt",
    "pdf",
    "doc",
    "docx",
    "jpg",
    "png",
    "md",
    "html",
    "csv",
    "xls",
    "xlsx",
    "zip",
    "exe",
    "js",
    "py",
}


@dataclass(frozen=True)
class OutputPolicy:
    """What an answer may contain, from settings and the knowledge used for it."""

    instructions: str = ""
    secret_texts: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    allowed_commitments: tuple[str, ...] = ()
    max_chars: int = 4000
    extra_domains: frozenset[str] = field(default_factory=frozenset)
    # The knowledge passages the answer may quote: the business's own words are not promises
    # the model invented, and the sites they name are the business's to name.
    trusted_text: str = ""


@lru_cache(maxsize=64)
def _shingles(text: str, size: int) -> frozenset[int]:
    words = re.findall(r"\w+", fold(text))
    return frozenset(hash(tuple(words[i : i + size])) for i in range(max(len(words) - size + 1, 0)))


def _leaks(folded: str, source: str, size: int) -> bool:
    prompt = _shingles(source, size)
    if not prompt:
        return False
    words = re.findall(r"\w+", folded)
    return any(hash(tuple(words[i : i + size])) in prompt for i in range(len(words) - size + 1))


def check_leak(answer: str, policy: OutputPolicy, folded: str | None = None) -> Verdict:
    folded = fold(answer) if folded is None else folded
    for secret in policy.secret_texts:
        if _leaks(folded, secret, SECRET_LEAK_WORDS):
            return Verdict(Action.REFUSE, "secret_leak", 1.0, "output")
    if policy.instructions and _leaks(folded, policy.instructions, LEAK_WORDS):
        return Verdict(Action.REFUSE, "prompt_leak", 1.0, "output")
    return ALLOW


def check_insult(answer: str, folded: str | None = None) -> Verdict:
    found = _INSULT.search(fold(answer) if folded is None else folded)
    return Verdict(Action.REFUSE, "insult", 1.0, "output", found.group(0)) if found else ALLOW


def check_commitment(answer: str, policy: OutputPolicy, folded: str | None = None) -> Verdict:
    folded = fold(answer) if folded is None else folded
    if not _COMMITMENT_HINT.search(folded):
        return ALLOW
    for sentence in re.split(r"(?<=[.!?\n])\s+", folded):
        found = _COMMITMENT.search(sentence)
        if found and policy.trusted_text and sentence.strip() in policy.trusted_text:
            continue
        if found and not any(p.casefold() in sentence for p in policy.allowed_commitments if p):
            return Verdict(Action.REFUSE, "commitment", 1.0, "output", found.group(0))
    return ALLOW


def check_human_claim(answer: str, folded: str | None = None) -> Verdict:
    folded = fold(answer) if folded is None else folded
    found = _HUMAN.search(folded) if _HUMAN_HINT.search(folded) else None
    found = found or _STAFF_BY_NAME.search(answer)
    return Verdict(Action.REFUSE, "human_claim", 1.0, "output", found.group(0)) if found else ALLOW


def _host(link: str) -> str:
    if not link.lower().startswith(("http://", "https://")):
        link = "http://" + link
    return (urlsplit(link).hostname or "").lower().rstrip(".")


def _allowed(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def link_hosts(text: str) -> set[str]:
    """The host names of the links in `text`."""
    return {_host(m.group(0)) for m in _URL.finditer(text)} - {""}


def check_links(answer: str, policy: OutputPolicy) -> Verdict:
    domains = {d.lower().lstrip(".") for d in policy.allowed_domains if d} | set(
        policy.extra_domains
    )
    for match in _URL.finditer(answer):
        host = _host(match.group(0))
        if not host or "." not in host or host.rsplit(".", 1)[-1] in _NOT_DOMAIN_TLDS:
            continue
        if host.replace(".", "").isdigit() and not match.group(0).lower().startswith("http"):
            continue  # a version or a price ("1.5"), not a host
        if not _allowed(host, domains):
            return Verdict(Action.REFUSE, "link_domain", 1.0, "output", host)
    return ALLOW


def _each_check(answer: str, policy: OutputPolicy, folded: str) -> Iterator[Verdict]:
    """The checks in order, lazily: the first failure stops the rest."""
    yield check_leak(answer, policy, folded)
    yield check_insult(answer, folded)
    yield check_commitment(answer, policy, folded)
    yield check_human_claim(answer, folded)
    yield check_links(answer, policy)


def check_answer(answer: str, policy: OutputPolicy) -> Verdict:
    """The first failed output check for `answer`, or ALLOW (length is handled apart)."""
    folded = fold(answer)
    for verdict in _each_check(answer, policy, folded):
        if not verdict.allowed:
            return verdict
    return ALLOW


def limit_length(answer: str, max_chars: int) -> tuple[str, Verdict]:
    """The answer cut at a sentence end within the channel's limit (with a verdict)."""
    if len(answer) <= max_chars:
        return answer, ALLOW
    cut = answer[: max_chars - 1]
    end = max(cut.rfind(". "), cut.rfind("\n"), cut.rfind("! "), cut.rfind("? "))
    if end > max_chars // 2:
        cut = cut[: end + 1]
    return cut.rstrip() + "…", Verdict(Action.TRUNCATE, "length", float(len(answer)), "output")
