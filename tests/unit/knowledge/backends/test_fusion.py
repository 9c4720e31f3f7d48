"""The one relevance score both backends report (backends.fusion): absolute, never stretched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard_knowledge.backends.fusion import (
    BM25_HALF,
    DEFAULT_ALPHA,
    candidate_count,
    fuse,
    saturate,
)

cosines = st.floats(min_value=-1.0, max_value=1.0)
bm25s = st.floats(min_value=0.0, max_value=1e6)
alphas = st.floats(min_value=0.0, max_value=1.0)


def test_the_formula() -> None:
    fused = fuse({1: 0.9, 2: 0.5}, {2: BM25_HALF}, alpha=0.75)
    # 1 has no lexical match (0 there); 2's BM25 is half a match.
    assert fused == pytest.approx({1: 0.75 * 0.9, 2: 0.75 * 0.5 + 0.25 * 0.5})


def test_a_lexical_only_candidate_counts_its_cosine_as_given_or_zero() -> None:
    fused = fuse({1: 0.4}, {2: 3 * BM25_HALF}, alpha=0.9)
    assert fused == pytest.approx({1: 0.36, 2: 0.1 * 0.75})
    fused = fuse({1: 0.4, 2: 0.2}, {2: 3 * BM25_HALF}, alpha=0.9)
    assert fused[2] == pytest.approx(0.9 * 0.2 + 0.1 * 0.75)


def test_no_lexical_match_anywhere_is_the_plain_cosine() -> None:
    assert fuse({1: 0.2, 2: 0.1}, {}, alpha=DEFAULT_ALPHA) == pytest.approx({1: 0.2, 2: 0.1})
    assert fuse({1: -0.3, 2: 1.0000001}, {}, alpha=0.5) == {1: 0.0, 2: 1.0}
    assert fuse({}, {}, alpha=0.5) == {}


def test_a_weak_best_hit_stays_weak() -> None:
    """Min-max fusion would put the best of these at 1.0; an absolute score leaves it low."""
    weak = fuse({"a": 0.12, "b": 0.08, "c": 0.05}, {"a": 0.4}, alpha=DEFAULT_ALPHA)
    assert max(weak.values()) == pytest.approx(0.9 * 0.12 + 0.1 * saturate(0.4))
    assert max(weak.values()) < 0.12


@given(
    shared=st.tuples(cosines, bm25s),
    others=st.dictionaries(st.integers(1, 50), st.tuples(cosines, bm25s), max_size=20),
    alpha=alphas,
)
def test_a_chunks_score_does_not_depend_on_the_other_candidates(
    shared: tuple[float, float], others: dict[int, tuple[float, float]], alpha: float
) -> None:
    """The property min-max normalisation lacked, as long as some chunk matches the words."""
    cosine, bm25 = shared
    alone = fuse({0: cosine}, {0: bm25}, alpha)[0]
    crowd = fuse(
        {0: cosine} | {k: c for k, (c, _) in others.items()},
        {0: bm25} | {k: b for k, (_, b) in others.items()},
        alpha,
    )
    assert crowd[0] == alone
    assert all(0.0 <= s <= 1.0 for s in crowd.values())


@given(low=bm25s, high=bm25s)
def test_saturation_is_monotonic_and_below_one(low: float, high: float) -> None:
    low, high = sorted((low, high))
    assert 0.0 <= saturate(low) <= saturate(high) < 1.0
    assert saturate(BM25_HALF) == 0.5
    assert saturate(-4.0) == 0.0  # FTS5's sign flipped wrong would not score


def test_alpha_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        fuse({1: 0.5}, {}, alpha=1.5)


def test_candidate_count() -> None:
    assert candidate_count(1) == 20
    assert candidate_count(5) == 20
    assert candidate_count(15) == 30
