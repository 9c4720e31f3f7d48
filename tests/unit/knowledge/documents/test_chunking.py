"""Chunking: budgets, headings, paragraphs, overlap and oversized text."""

from __future__ import annotations

import itertools

import pytest

from switchboard_knowledge.documents import Section, TextChunk, chunk_sections, count_tokens


def sentences(n: int, start: int = 0) -> str:
    return " ".join(f"Sentence number {i} is here." for i in range(start, start + n))


def test_count_tokens_counts_words_and_punctuation() -> None:
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("") == 0


def test_small_sections_one_chunk_each_never_merged_across_headings() -> None:
    chunks = chunk_sections([Section("A", "one.\n\ntwo."), Section("B", "three.")], 50, 10)
    assert chunks == [TextChunk("A", "one.\n\ntwo.", 0), TextChunk("B", "three.", 1)]
    assert chunks[0].embedding_text == "A: one.\n\ntwo."
    assert TextChunk("", "plain", 0).embedding_text == "plain"


def test_paragraphs_are_packed_whole_up_to_the_budget() -> None:
    paragraphs = [sentences(3, i * 3) for i in range(6)]  # 18 tokens each
    chunks = chunk_sections([Section("H", "\n\n".join(paragraphs))], 40, 0)
    assert [c.text.split("\n\n") for c in chunks] == [
        paragraphs[0:2],
        paragraphs[2:4],
        paragraphs[4:6],
    ]
    assert all(count_tokens(c.text) <= 40 for c in chunks)
    assert [c.position for c in chunks] == [0, 1, 2]


def test_overlap_repeats_the_previous_chunks_end_within_a_section() -> None:
    chunks = chunk_sections([Section("H", sentences(30)), Section("I", sentences(30))], 50, 12)
    firsts = [c for c in chunks if c.heading == "H"]
    assert len(firsts) > 2
    for before, after in itertools.pairwise(firsts):
        # ``after`` opens with whole trailing sentences of ``before``: 12 tokens = 2 sentences.
        tail = " ".join(before.text.split(" ")[-10:])
        assert after.text.startswith(tail + " ")
    # No overlap across the heading: section I starts afresh.
    first_of_i = next(c for c in chunks if c.heading == "I")
    assert first_of_i.text.startswith("Sentence number 0 is here.")
    assert all(count_tokens(c.text) <= 50 for c in chunks)


def test_no_overlap_when_zero() -> None:
    chunks = chunk_sections([Section("", sentences(20))], 30, 0)
    joined = " ".join(c.text for c in chunks)
    assert joined == sentences(20)


def test_oversized_paragraph_is_split_by_sentences_then_words() -> None:
    text = sentences(10) + " " + " ".join(f"word{i}" for i in range(120))
    chunks = chunk_sections([Section("H", text)], 40, 5)
    assert all(count_tokens(c.text) <= 40 for c in chunks)
    words = " ".join(c.text for c in chunks).split()
    for i in range(120):
        assert f"word{i}" in words  # nothing lost
    assert chunks[0].text.startswith("Sentence number 0 is here.")
    assert chunks[0].text.endswith(".")  # the cut falls at a sentence end


def test_every_word_lands_in_some_chunk() -> None:
    text = "\n\n".join(sentences(i + 1, i * 10) for i in range(12))
    chunks = chunk_sections([Section("H", text)], 25, 8)
    seen = set(" ".join(c.text for c in chunks).split())
    assert set(text.split()) <= seen


def test_empty_sections_give_no_chunks() -> None:
    assert chunk_sections([Section("H", "  \n\n ")]) == []


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_budgets(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_sections([Section("", "x")], max_tokens, overlap)
