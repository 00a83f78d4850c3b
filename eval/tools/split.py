#!/usr/bin/env python3
"""Deterministic stratified dev/test split of the eval JSONL files.

    python3 eval/tools/split.py

Splits
  eval/guardrails/cases.jsonl  -> eval/guardrails/{dev,test}.jsonl  strata (category, lang), ordered by id
  eval/kb/isp/questions.jsonl  -> eval/kb/isp/{dev,test}.jsonl      strata (kind, lang), ordered by position in file
  eval/kb/fitness/questions.jsonl -> eval/kb/fitness/{dev,test}.jsonl  strata (kind, lang), ordered by position
                                  in file (same rule as the isp base)
  eval/guardrails/hotel.jsonl  -> eval/guardrails/hotel_{dev,test}.jsonl  strata (category, lang),
                                  shuffled inside each stratum by random.Random(HOTEL_SEED)

Within each stratum the rows are taken in order and alternate dev, test,
dev, test ...  Strata are visited in sorted order; a stratum with an odd
number of rows gives its extra row to the side that currently has fewer
rows (dev on a tie), so the totals stay within one row of each other.
The hotel set is shuffled with a fixed seed first (its author wrote the cases in pairs,
so alternation by id alone would put one of each pair on each side); re-running gives
byte-identical files.
The clinic knowledge base is held out and is never split.
"""

import json
import pathlib
import random
from collections import defaultdict

EVAL = pathlib.Path(__file__).resolve().parents[1]
HOTEL_SEED = 20261203


def read(path):
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write(path, rows):
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def split(rows, key, order):
    strata = defaultdict(list)
    for pos, r in enumerate(rows):
        strata[key(r)].append((order(r, pos), pos, r))
    dev, test = [], []
    for k in sorted(strata):
        items = sorted(strata[k], key=lambda t: (t[0], t[1]))
        first, second = (dev, test) if len(dev) <= len(test) else (test, dev)
        for i, (_, pos, r) in enumerate(items):
            (first if i % 2 == 0 else second).append((r, pos))
    # keep the original file order inside each output file
    dev = [r for r, _ in sorted(dev, key=lambda t: t[1])]
    test = [r for r, _ in sorted(test, key=lambda t: t[1])]
    return dev, test


def main():
    g = EVAL / "guardrails"
    rows = read(g / "cases.jsonl")
    dev, test = split(rows, key=lambda r: (r["category"], r["lang"]), order=lambda r, pos: r["id"])
    write(g / "dev.jsonl", dev)
    write(g / "test.jsonl", test)
    print(f"guardrails: {len(rows)} -> dev {len(dev)}, test {len(test)}")

    if (g / "hotel.jsonl").exists():
        rows = read(g / "hotel.jsonl")
        rng = random.Random(HOTEL_SEED)  # noqa: S311 - a reproducible split, not a secret
        rank = {r["id"]: rng.random() for r in sorted(rows, key=lambda r: r["id"])}
        dev, test = split(
            rows, key=lambda r: (r["category"], r["lang"]), order=lambda r, pos: rank[r["id"]]
        )
        write(g / "hotel_dev.jsonl", dev)
        write(g / "hotel_test.jsonl", test)
        print(f"hotel guardrails: {len(rows)} -> dev {len(dev)}, test {len(test)}")

    q = EVAL / "kb" / "isp"
    if (q / "questions.jsonl").exists():
        rows = read(q / "questions.jsonl")
        dev, test = split(rows, key=lambda r: (r["kind"], r["lang"]), order=lambda r, pos: pos)
        write(q / "dev.jsonl", dev)
        write(q / "test.jsonl", test)
        print(f"isp questions: {len(rows)} -> dev {len(dev)}, test {len(test)}")

    q = EVAL / "kb" / "fitness"
    if (q / "questions.jsonl").exists():
        rows = read(q / "questions.jsonl")
        dev, test = split(rows, key=lambda r: (r["kind"], r["lang"]), order=lambda r, pos: pos)
        write(q / "dev.jsonl", dev)
        write(q / "test.jsonl", test)
        print(f"fitness questions: {len(rows)} -> dev {len(dev)}, test {len(test)}")


if __name__ == "__main__":
    main()
