"""Undo the disguises attacks wear before any rule looks at a text.

A rule sees several *views* of one message: the folded text (NFKC, case, zero-width
characters removed, Latin/Cyrillic look-alikes folded inside mixed-script words, leetspeak
and spaced-out letters joined), and whatever base64, hex, ROT13, reversed or transliterated
payload it carries. Every step is linear in the text's length.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff]"
)
# Look-alikes, both ways; applied only inside words that mix the two scripts.
_CYR_TO_LAT = str.maketrans("аеорсхукмтнвіјѕԁ", "aeopcxykmthbijsd")
_LAT_TO_CYR = str.maketrans("aeopcxykmthb", "аеорсхукмтнв")
_LEET = str.maketrans("0134578@$!|", "oieastbasil")
# Leetspeak inside a Russian word stands for Cyrillic letters ("3@6удь" is "забудь").
_LEET_CYR = str.maketrans(
    {"0": "о", "3": "з", "4": "ч", "6": "б", "7": "т", "@": "а", "$": "с", "u": "и"}
)
# Only words that can hide something are rewritten: those with a digit or symbol (leetspeak)
# or with two scripts next to each other (look-alikes). A word starts after a space, so each
# is scanned once.
_SUSPECT_WORD = re.compile(r"(?<!\S)\S*(?:[0-9@$|!]|[a-z][а-яёіјѕԁ]|[а-яёіјѕԁ][a-z])\S*")
_HAS_LAT = re.compile(r"[a-z]")
_HAS_CYR = re.compile(r"[а-яёіјѕԁ]")
_LEET_WORD = re.compile(r"(?=[^\s]*[a-zа-я])(?=[^\s]*[0-9@$|!])[a-zа-я0-9@$|!]{3,}")
# A number with its unit or ordinal ending ("11pm", "2nd", "15km", "3шт") is not leetspeak:
# read as letters it turns "after 11pm" into "after iipm".
_QUANTITY = re.compile(
    r"\d+(?:am|pm|st|nd|rd|th|h|hr|hrs|min|m|m2|km|kg|g|gb|mb|tb|k|x|p|ч|мин|м|км|кг|г|гб|мб|"
    r"шт|й|я|е|го|му|х|ми|мя|ти|ая|ое|ой|ый|ий)"
)
# Single characters separated by spaces ("i g n o r e  a l l"): a double space is a word gap.
_SPACED = re.compile(r"(?<!\S)(?:\w {1,3}){3,}\w(?!\S)")
# A word of four or more single letters joined by dots, dashes or stars ("з.а.б.у.д.ь",
# "i-g-n-o-r-e"); two or three ("т.е.", "U.S.A.") stay abbreviations.
_DOTTED = re.compile(r"(?<!\S)(?:[^\W\d_][.*·_-]){3,}[^\W\d_][.*·_-]?(?!\S)")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}[ :]?){8,}")
_TRANSLIT = [
    ("shch", "щ"),
    ("sch", "щ"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ch", "ч"),
    ("sh", "ш"),
    ("yu", "ю"),
    ("ya", "я"),
    ("yo", "е"),
    ("ts", "ц"),
    ("a", "а"),
    ("b", "б"),
    ("v", "в"),
    ("g", "г"),
    ("d", "д"),
    ("e", "е"),
    ("z", "з"),
    ("i", "и"),
    ("j", "й"),
    ("y", "ы"),
    ("k", "к"),
    ("l", "л"),
    ("m", "м"),
    ("n", "н"),
    ("o", "о"),
    ("p", "п"),
    ("r", "р"),
    ("s", "с"),
    ("t", "т"),
    ("u", "у"),
    ("f", "ф"),
    ("h", "х"),
    ("c", "ц"),
    ("w", "в"),
    ("x", "кс"),
    ("'", "ь"),
]
_TRANSLIT_RE = re.compile("|".join(re.escape(a) for a, _ in _TRANSLIT))
_TRANSLIT_MAP = dict(_TRANSLIT)


def fold(text: str) -> str:
    """The canonical form rules match against: NFKC, casefolded, ё→е, disguises undone."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text).casefold().replace("ё", "е")
    text = _SPACED.sub(_join_spaced, text)
    text = _DOTTED.sub(lambda m: re.sub(r"[.*·_-]", "", m.group(0)), text)
    return _SUSPECT_WORD.sub(_fold_word, text)


def _fold_word(match: re.Match[str]) -> str:
    word = match.group(0)
    latin, cyrillic = len(_HAS_LAT.findall(word)), len(_HAS_CYR.findall(word))
    if latin and cyrillic:
        word = word.translate(_CYR_TO_LAT if latin >= cyrillic else _LAT_TO_CYR)
    bare = word.strip(".,!?;:()\"'")
    if _LEET_WORD.fullmatch(bare) and not _QUANTITY.fullmatch(bare):
        word = word.translate(_LEET_CYR if _HAS_CYR.search(word) else _LEET)
    return word


def _join_spaced(match: re.Match[str]) -> str:
    words = re.split(r" {2,}", match.group(0))
    return " ".join(w.replace(" ", "") for w in words)


def _printable(text: str) -> bool:
    if not text:
        return False
    good = sum(ch.isprintable() or ch.isspace() for ch in text)
    return good / len(text) > 0.95 and sum(ch.isalpha() for ch in text) >= 4


def decoded_payloads(text: str) -> list[str]:
    """Text hidden in base64 or hex runs of the message, when it decodes to readable text."""
    found: list[str] = []
    for match in _BASE64.finditer(text):
        run = match.group(0)
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if _printable(decoded):
            found.append(decoded)
    for match in _HEX.finditer(text):
        digits = re.sub(r"[ :]", "", match.group(0))
        if len(digits) % 2:
            digits = digits[:-1]
        try:
            decoded = bytes.fromhex(digits).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        if _printable(decoded):
            found.append(decoded)
    return found


def _transliterate(text: str) -> str:
    return _TRANSLIT_RE.sub(lambda m: _TRANSLIT_MAP[m.group(0)], text)


def views(text: str) -> list[str]:
    """Every reading of `text` a rule should look at; the folded text comes first."""
    folded = fold(text)
    out = [folded]
    out.extend(fold(payload) for payload in decoded_payloads(text))
    ascii_letters = sum("a" <= ch <= "z" for ch in folded)
    if ascii_letters > 8:
        out.append(codecs.encode(folded, "rot13"))
        out.append(folded[::-1])
        if not _HAS_CYR.search(folded):
            out.append(_transliterate(folded))
    elif sum(ch.isalpha() for ch in folded) > 8:
        out.append(folded[::-1])
    return out


# Sentence and line ends (CJK ones too), where an injection appended to a question starts.
_SEGMENT = re.compile(r"(?<=[.!?])\s+|(?<=[\u3002\uff01\uff1f])|\n+")
# The masks PII redaction leaves ("[PHONE]") are not markup.
_PII_MASK = re.compile(r"\[[A-Z]+\]")
# Letters of neither Latin nor Cyrillic script (CJK, Greek, Arabic, …): an appended
# instruction in another language.
_OTHER_SCRIPT = re.compile(r"[^\W\d_a-zA-Z\u00c0-\u024f\u0400-\u04ff]")
# Words an injection is made of, in any business: what makes a sentence worth a second look.
_SUSPECT = re.compile(
    r"instruct|rule|prompt|system|polic|guideline|filter|restrict|ignor|forget|disregard|"
    r"overrid|mode\b|admin|develop|role|pretend|imagine|obey|command|secret|hidden|reveal|"
    r"confiden|jailbr|unlock|[<>\[\]{}#|`]|told|instructed|from now|you are now|you're now|"
    r"act as|role-?play|сказал|велел|велят|отныне|с этого момента|теперь ты|сыграй|играй|"
    r"инструкц|правил|промпт|систем|ограничен|фильтр|игнор|забуд|забыв|режим|админ|"
    r"разработ|роль|роли|притвор|представ|подчин|команд|секрет|скрыт|раскр|конфиденц|указани"
)
SEGMENT_MIN_WORDS = 4


def suspect_segments(text: str) -> list[str]:
    """The sentences of a message of several, when it holds words injections are made of:
    each is read on its own, so a harmless question cannot dilute an appended attack."""
    if not (_SUSPECT.search(fold(_PII_MASK.sub(" ", text))) or _OTHER_SCRIPT.search(text)):
        return []
    parts = [p.strip() for p in _SEGMENT.split(text) if p and p.strip()]
    kept = [p for p in parts if len(p.split()) >= SEGMENT_MIN_WORDS or _OTHER_SCRIPT.search(p)]
    return kept if len(parts) > 1 and kept else []


def unmasked(text: str) -> str | None:
    """The folded text when folding undid a disguise (look-alikes, leetspeak, spaced or
    invisible letters), else None: only then is it worth a second embedding."""
    plain = " ".join(unicodedata.normalize("NFKC", text).casefold().replace("ё", "е").split())
    folded = " ".join(fold(text).split())
    # "Xiaomi S10" folds too ("sio"): only a fold that reveals an injection's words counts.
    return folded if folded != plain and _SUSPECT.search(folded) else None
