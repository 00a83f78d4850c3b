"""Fusion of two retrievers' document rankings, and the agreement that decides abstention."""

from __future__ import annotations

import pytest

from rag.fusion import fuse, rank_documents


def test_agreement_is_one_when_both_retrievers_put_a_document_first() -> None:
    fused = fuse([["a", "b", "c"], ["a", "c", "b"]], [1.0, 1.0])
    assert fused[0].doc_id == "a" and fused[0].confidence == 1.0
    assert fused[0].ranks == (0, 0)


def test_disagreement_lowers_confidence_below_the_default_threshold() -> None:
    # Each model is sure of a different document: neither answer should be trusted.
    fused = fuse([["a", "b", "c", "d"], ["d", "c", "b", "a"]], [1.0, 1.0])
    assert max(item.confidence for item in fused) < 0.7


def test_first_and_second_place_is_confident_enough() -> None:
    fused = fuse([["a", "b"], ["b", "a"]], [1.0, 1.0])
    assert [item.confidence for item in fused] == [0.75, 0.75]


def test_a_document_only_one_retriever_found_still_counts_for_that_one() -> None:
    fused = fuse([["a"], ["b"]], [1.0, 1.0])
    assert {item.doc_id for item in fused} == {"a", "b"}
    assert all(item.confidence == 0.5 for item in fused)


def test_weights_tilt_the_fusion() -> None:
    assert fuse([["a", "b"], ["b", "a"]], [1.0, 3.0])[0].doc_id == "b"
    with pytest.raises(ValueError, match="one weight"):
        fuse([["a"]], [1.0, 1.0])


def test_ranking_is_stable_on_ties() -> None:
    assert rank_documents({"b": 0.5, "a": 0.5, "c": 0.9}) == ["c", "a", "b"]
