"""The shared splitter of long answers (channels/text_parts.py)."""

from __future__ import annotations

import pytest

from channels.text_parts import split_message, utf16_len
from tests.long_answers import check_parts, long_answer


@pytest.mark.parametrize("limit", [1600, 4096])
def test_a_long_answer_is_cut_where_a_reader_pauses(limit: int) -> None:
    answer = long_answer(limit)
    check_parts(split_message(answer.text, limit), answer, limit)


def test_a_link_is_moved_whole_to_the_next_part() -> None:
    link = "https://shop.example.com/t/" + "a1B2" * 250  # 1027 characters, no whitespace
    text = ("see " * 175).strip() + " " + link + " thanks"
    parts = split_message(text, 1600)
    assert parts == [("see " * 175).strip(), link + " thanks"]


def test_sentence_ends_are_not_taken_inside_codes_or_links() -> None:
    text = "Order A-12.5 shipped. See https://x.example/a.b?c=d. Code v1.2.3! Done"
    assert split_message(text, 30) == [
        "Order A-12.5 shipped.",
        "See https://x.example/a.b?c=d.",
        "Code v1.2.3! Done",
    ]


def test_an_abbreviation_keeps_the_number_it_labels() -> None:
    text = "Thanks for waiting. Your parcel is order No. 4410-77 and ships today. Bye now."
    parts = split_message(text, 50)
    assert any("No. 4410-77" in p for p in parts), parts
    assert all(len(p) <= 50 for p in parts)


def test_lines_come_before_sentences_and_short_texts_stay_whole() -> None:
    assert split_message("  short  ", 10) == ["short"]
    assert split_message(" \n ", 10) == []
    assert split_message("1. first item\n2. second item", 20) == ["1. first item", "2. second item"]


def test_only_a_run_longer_than_the_limit_is_cut_and_never_inside_a_pair() -> None:
    emoji = "😀" * 1000  # 2000 UTF-16 units, no whitespace
    parts = split_message(emoji, 1600)
    assert [utf16_len(p) for p in parts] == [1600, 400] and "".join(parts) == emoji
    odd = "a" + "😀" * 10
    assert all(utf16_len(p) <= 5 for p in split_message(odd, 5))
    assert "".join(split_message(odd, 5)) == odd
