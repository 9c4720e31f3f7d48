"""Chunks follow the document's units and fit the embedder's window, counted by its own
tokenizer."""

from __future__ import annotations

import pytest

from switchboard_knowledge.documents import Section, chunk_sections, extract_sections
from switchboard_knowledge.embeddings.local import LOCAL_MAX_TOKENS, WordPieceCounter


@pytest.fixture(scope="module")
def counter() -> WordPieceCounter:
    return WordPieceCounter()


def test_each_faq_question_is_one_chunk_with_its_answer() -> None:
    text = b"""Frequently asked questions
==========================

Do you deliver on Sundays?

No. Deliveries run Monday to Saturday.

Can I pay by card?

Yes, all major cards.
We also take cash.

Q: Is parking free?
A: Yes, for two hours.
"""
    chunks = chunk_sections(extract_sections("text/plain", text))
    assert [c.text for c in chunks] == [
        "Do you deliver on Sundays?\n\nNo. Deliveries run Monday to Saturday.",
        "Can I pay by card?\n\nYes, all major cards. We also take cash.",
        "Q: Is parking free? A: Yes, for two hours.",
    ]
    assert {c.heading for c in chunks} == {"Frequently asked questions"}


def test_long_sections_split_at_sentences_within_the_window(counter: WordPieceCounter) -> None:
    sentences = [
        f"Clause {n}: the warranty covers the pump housing, seals and motor windings "
        f"for {n} months after delivery, excluding wear parts."
        for n in range(1, 80)
    ]
    heading = "Owner's manual > Warranty and service > Terms"
    sections = [Section(heading, " ".join(sentences))]
    chunks = chunk_sections(sections, LOCAL_MAX_TOKENS, 30, counter)
    assert len(chunks) > 5
    assert all(counter(c.embedding_text) <= LOCAL_MAX_TOKENS for c in chunks)
    assert all(c.heading == heading for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)  # cut at sentence ends
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_counter_counts_like_the_model(counter: WordPieceCounter) -> None:
    assert counter("") == 2  # [CLS] and [SEP]
    assert counter("hello world") == 4
    assert counter.window == LOCAL_MAX_TOKENS
