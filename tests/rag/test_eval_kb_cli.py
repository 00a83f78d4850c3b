"""`python -m bot eval kb`: a business checks its own base before going live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "rag" / "kb_sample"

QUESTIONS = [
    {"q": "How much does shipping cost?", "doc": "shipping-times.md", "kind": "same_lang",
     "lang": "en"},
    {"q": "Сколько стоит доставка курьером?", "doc": "kurerskaya-dostavka.md"},
    {"q": "Как вернуть подарок?", "doc": "returns-policy.md", "kind": "cross_lang", "lang": "ru"},
    {"q": "What is the capital of Peru?", "doc": None, "kind": "uncovered", "lang": "en"},
]


def _run(
    tmp_path: Path, *flags: str, lines: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    questions = tmp_path / "questions.jsonl"
    rows = lines if lines is not None else [json.dumps(q, ensure_ascii=False) for q in QUESTIONS]
    questions.write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB", "REDIS", "OPENAI"))}
    env.update(DATA_DIR=str(tmp_path / "data"), APP_ENV="dev")
    return subprocess.run(
        [sys.executable, "-m", "bot", "eval", "kb", str(questions), *flags],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eval_kb")


def test_table_by_kind_and_language_and_exit_codes_by_thresholds(tmp_module: Path) -> None:
    # One run with a reachable and one with an impossible threshold would ingest twice;
    # the thresholds are checked against the same printed figures instead.
    done = _run(tmp_module, "--docs", str(SAMPLE), "--min-hit2", "0.6", "--min-abstain", "1.01")
    out = done.stdout
    assert done.returncode == 1, done.stderr  # abstain 1.01 cannot be met
    assert "below threshold: uncovered abstained" in done.stderr
    assert "hit@2" not in done.stderr  # the reachable threshold is met
    for group in ("same_lang", "cross_lang", "uncovered", "answerable", "lang=en", "lang=ru"):
        assert group in out, out
    assert "threshold KB_MIN_CONFIDENCE = 0.7" in out
    assert "expected document among the first two cited: 1.000" in out
    assert "uncovered answered \"I don't know\": 1.000" in out
    assert not (tmp_module / "data" / "kb").exists()  # --docs used a throwaway base


def test_a_bad_questions_file_is_named_with_its_line(tmp_path: Path) -> None:
    done = _run(tmp_path, lines=['{"q": "fine", "doc": null}', "not json"])
    assert done.returncode == 2 and "questions.jsonl:2" in done.stderr
