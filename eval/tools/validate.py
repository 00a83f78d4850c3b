#!/usr/bin/env python3
"""Sanity checks for the eval data (stdlib only).

    python3 eval/tools/validate.py

Guardrails: every line parses, ids unique, allowed category/expect/lang,
category -> expect consistency, minimum counts, dev+test == cases, and every
base64 / hex / rot13 / homoglyph / zero-width / reversed payload decodes to the
text recorded in its "note" ("... of: <payload>").
Knowledge bases: every question parses, "doc" exists, kinds valid, cross_lang
questions differ in language from their document, other answerable kinds are
in the document's language, document word counts 150-600 (or the range in
WORDS: 150-1300 for airline and fitness); the paraphrase questions are listed
with the content words they share with their document (for a manual look).  Exit status 1 on any error.
"""
import base64
import codecs
import json
import pathlib
import re
import sys
from collections import Counter

EVAL = pathlib.Path(__file__).resolve().parents[1]
errors = []


def err(msg):
    errors.append(msg)
    print("ERROR:", msg)


def read(path):
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                err(f"{path}:{n}: empty line")
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                err(f"{path}:{n}: {e}")
    return rows


EXPECT = {
    "injection": "refuse", "encoded": "refuse", "delimiter": "refuse", "authority": "refuse",
    "roleplay": "refuse", "extraction": "refuse", "display_name": "refuse",
    "output_insult": "refuse", "output_promise": "refuse", "output_human": "refuse",
    "output_link": "refuse", "handoff_request": "handoff", "handoff_emotion": "handoff",
    "pii": "answer", "ordinary": "answer", "benign_tricky": "answer",
}
MIN = {"injection": 30, "encoded": 24, "delimiter": 16, "authority": 16, "roleplay": 18,
       "extraction": 20, "display_name": 10, "output_insult": 10, "output_promise": 10,
       "output_human": 8, "output_link": 8, "handoff_request": 34, "handoff_emotion": 16,
       "pii": 16, "ordinary": 44, "benign_tricky": 30}
CYR = re.compile(r"[\u0400-\u04ff]")


def check_payload(case):
    note, text = case.get("note", ""), case["text"]
    m = re.match(r"(base64|hex|rot13|spaced letters|reversed text|zero-width spaces inside words|homoglyphs[^:]*) of: (.*)$", note)
    if not m:
        return
    kind, payload = m.group(1), m.group(2)
    if kind == "base64":
        tokens = re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", text)
        got = [base64.b64decode(t).decode("utf-8") for t in tokens]
    elif kind == "hex":
        h = re.search(r"((?:[0-9a-f]{2} ?){8,})", text)
        got = [bytes.fromhex(h.group(1).replace(" ", "")).decode("utf-8")] if h else []
    elif kind == "rot13":
        got = [codecs.decode(text.split(": ", 1)[1], "rot_13")]
    elif kind == "spaced letters":
        got = [" ".join(w.replace(" ", "") for w in text.split("  "))]
    elif kind == "reversed text":
        got = [text.split(": ", 1)[1][::-1]]
    elif kind.startswith("zero-width"):
        if "\u200b" not in text:
            err(f"{case['id']}: no zero-width char")
        got = [text.replace("\u200b", "")]
    else:  # homoglyphs: map look-alikes back and compare; the text must be mixed-script
        fold = str.maketrans("аеорсіхуѕ", "aeopcixys") if not CYR.search(payload) else str.maketrans("aeopcxy", "аеорсху")
        got = [text.translate(fold)]
        if text == payload:
            err(f"{case['id']}: homoglyph text identical to payload")
    if payload not in got:
        err(f"{case['id']}: {kind} decodes to {got!r}, note says {payload!r}")
    else:
        print(f"  ok {case['id']} {kind}")


def guardrails():
    g = EVAL / "guardrails"
    cases = read(g / "cases.jsonl")
    ids = Counter(c.get("id") for c in cases)
    for i, n in ids.items():
        if n > 1:
            err(f"duplicate id {i}")
    texts = Counter((c["text"], c.get("display_name")) for c in cases)
    for t, n in texts.items():
        if n > 1:
            err(f"duplicate text {t!r}")
    per = Counter()
    for c in cases:
        for k in ("id", "lang", "category", "expect", "text"):
            if k not in c:
                err(f"{c.get('id')}: missing {k}")
        if c["lang"] not in ("en", "ru"):
            err(f"{c['id']}: lang {c['lang']}")
        if c["category"] not in EXPECT:
            err(f"{c['id']}: category {c['category']}")
            continue
        if EXPECT[c["category"]] != c["expect"]:
            err(f"{c['id']}: expect {c['expect']} for {c['category']}")
        if c["category"].startswith("output_") and "model_reply" not in c:
            err(f"{c['id']}: output case without model_reply")
        if c["category"] == "display_name" and "display_name" not in c:
            err(f"{c['id']}: display_name case without display_name")
        if c["category"] == "pii" and "note" not in c:
            err(f"{c['id']}: pii case without note")
        per[c["category"]] += 1
        check_payload(c)
    for cat, n in MIN.items():
        if per[cat] < n:
            err(f"category {cat}: {per[cat]} < {n}")
    dev, test = read(g / "dev.jsonl"), read(g / "test.jsonl")
    if sorted(json.dumps(r, sort_keys=True) for r in dev + test) != sorted(json.dumps(r, sort_keys=True) for r in cases):
        err("guardrails dev+test != cases")
    if {r["id"] for r in dev} & {r["id"] for r in test}:
        err("guardrails dev/test overlap")
    print(f"guardrails: {len(cases)} cases, dev {len(dev)}, test {len(test)}")


STOP = set(["the", "and", "for", "you", "your", "are", "can", "how", "what", "does", "with", "this", "that", "have", "from", "will", "not", "any", "there", "when", "which", "who", "why", "where", "into", "about", "also", "get", "got", "just", "like", "make", "need", "want", "they", "them", "then", "than", "чем", "что", "как", "это", "для", "или", "так", "все", "его", "она", "они", "при", "без", "уже", "ещё", "еще", "если", "мне", "меня", "мой", "моя", "мое", "мои", "вас", "ваш", "ваша", "ваше", "ваши", "нам", "нас", "нет", "есть", "был", "быть", "будет", "можно", "нужно", "надо", "тоже", "где", "когда", "какой", "какая", "какие", "какое", "сколько", "почему", "который", "которая", "которые", "чтобы", "потом", "после", "через", "только", "очень"])


def words(text):
    return [w for w in re.findall(r"[a-zа-яё0-9]+", text.lower()) if len(w) >= 4 and w not in STOP]


def stem(w):
    return w[:5]


def doc_lang(text):
    cyr = len(CYR.findall(text))
    lat = len(re.findall(r"[A-Za-z]", text))
    return "ru" if cyr > lat else "en"


# Allowed document length (words) per base; the airline and fitness bases have a few long pages on purpose.
WORDS = {"airline": (150, 1300), "fitness": (150, 1300)}


def kb(name, split):
    base = EVAL / "kb" / name
    lo, hi = WORDS.get(name, (150, 600))
    docs = {p.name: p.read_text(encoding="utf-8") for p in sorted((base / "docs").glob("*.md"))}
    langs = Counter()
    for fn, text in docs.items():
        n = len(re.findall(r"\w+", text))
        langs[doc_lang(text)] += 1
        if not lo <= n <= hi:
            err(f"{name}/{fn}: {n} words")
    rows = read(base / "questions.jsonl")
    kinds = Counter()
    seen = Counter(r["q"] for r in rows)
    for q, n in seen.items():
        if n > 1:
            err(f"{name}: duplicate question {q!r}")
    for r in rows:
        if set(r) != {"q", "doc", "kind", "lang"}:
            err(f"{name}: bad keys {r}")
        kinds[(r["kind"], r["lang"])] += 1
        if r["lang"] not in ("en", "ru"):
            err(f"{name}: lang {r}")
        if r["lang"] != doc_lang(r["q"]) and r["kind"] != "exact_term":
            err(f"{name}: question language looks like {doc_lang(r['q'])}: {r['q']!r}")
        if r["kind"] == "uncovered":
            if r["doc"] is not None:
                err(f"{name}: uncovered with doc {r}")
            continue
        if r["kind"] not in ("same_lang", "cross_lang", "paraphrase", "typo", "exact_term"):
            err(f"{name}: kind {r}")
        if r["doc"] not in docs:
            err(f"{name}: unknown doc {r['doc']}")
            continue
        dl = doc_lang(docs[r["doc"]])
        if r["kind"] == "cross_lang" and dl == r["lang"]:
            err(f"{name}: cross_lang in doc language: {r['q']!r}")
        if r["kind"] != "cross_lang" and dl != r["lang"]:
            err(f"{name}: {r['kind']} question not in doc language: {r['q']!r}")
        if r["kind"] == "paraphrase":
            dstems = {stem(w) for w in words(docs[r["doc"]])}
            shared = sorted({w for w in words(r["q"]) if stem(w) in dstems})
            print(f"  paraphrase {r['doc']}: {r['q']!r} shares {shared}")
    print(f"{name}: {len(docs)} docs {dict(langs)}; {len(rows)} questions")
    for k in sorted(kinds):
        print(f"   {k}: {kinds[k]}")
    if split:
        dev, test = read(base / "dev.jsonl"), read(base / "test.jsonl")
        if sorted(json.dumps(r, sort_keys=True) for r in dev + test) != sorted(json.dumps(r, sort_keys=True) for r in rows):
            err(f"{name}: dev+test != questions")
        print(f"   split: dev {len(dev)}, test {len(test)}")


def main():
    guardrails()
    for name, split in (("isp", True), ("clinic", False), ("airline", False), ("fitness", True)):
        if (EVAL / "kb" / name / "questions.jsonl").exists():
            kb(name, split)
    if errors:
        print(f"{len(errors)} error(s)")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
