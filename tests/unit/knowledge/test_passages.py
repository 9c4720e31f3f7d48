"""A section's matching chunks come back as one passage."""

from __future__ import annotations

from switchboard_knowledge.backends.base import ScoredChunk
from switchboard_knowledge.documents import chunk_sections
from switchboard_knowledge.documents.model import Section
from switchboard_knowledge.passages import GAP, MAX_PASSAGE_CHARS, merge_sections, pool_size


def chunk(position: int, heading: str, text: str, score: float, doc: str = "faq") -> ScoredChunk:
    return ScoredChunk(f"{doc}-{position}", doc, f"{doc}.html", heading, text, score)


def test_chunks_of_one_section_become_one_passage_in_document_order() -> None:
    hits = [
        chunk(7, "Bugs", "Mail the maintainer.", 0.83),
        chunk(2, "Hold", "Use apt-mark hold.", 0.80),
        chunk(6, "Bugs", "Read the instructions first.", 0.82),
        chunk(3, "Hold", "Or use dpkg.", 0.40),
    ]
    merged = merge_sections(hits, top_k=5)
    assert [(h.heading, h.text, h.score, h.chunk_id) for h in merged] == [
        ("Bugs", "Read the instructions first.\n\nMail the maintainer.", 0.83, "faq-7"),
        ("Hold", "Use apt-mark hold.\n\nOr use dpkg.", 0.80, "faq-2"),
    ]


def test_top_k_counts_sections_not_chunks() -> None:
    hits = [chunk(i, "Bugs", f"part {i}", 0.9 - i / 100) for i in range(4)]
    hits += [chunk(10 + i, f"Other {i}", "x", 0.5 - i / 100) for i in range(3)]
    merged = merge_sections(hits, top_k=3)
    assert [h.heading for h in merged] == ["Bugs", "Other 0", "Other 1"]
    assert pool_size(5) == 15 and pool_size(50) == 50


def test_same_heading_in_two_documents_stays_apart() -> None:
    hits = [
        chunk(0, "Opening hours", "9 to 5", 0.7, "city"),
        chunk(0, "Opening hours", "10 to 4", 0.6, "mall"),
    ]
    assert [h.text for h in merge_sections(hits, 5)] == ["9 to 5", "10 to 4"]


def test_overlap_between_neighbouring_chunks_is_not_repeated() -> None:
    """Real chunks of one long section: each starts with the end of the one before."""
    sentences = [
        f"Step {n} of the descaling takes about {n + 2} minutes to finish." for n in range(40)
    ]
    chunks = chunk_sections([Section("Descaling", " ".join(sentences))], max_tokens=80)[:3]
    assert len(chunks) == 3
    hits = [chunk(n, "Descaling", c.text, 0.5) for n, c in enumerate(chunks)]
    (passage,) = merge_sections(hits, 5)
    covered = [s for s in sentences if any(s in c.text for c in chunks)]
    assert len(covered) > 10
    for sentence in covered:
        assert passage.text.count(sentence) == 1, sentence


def test_chunks_not_next_to_each_other_are_marked_apart() -> None:
    hits = [chunk(1, "Bugs", "First.", 0.6), chunk(4, "Bugs", "Later.", 0.7)]
    assert merge_sections(hits, 5)[0].text == f"First.{GAP}Later."


def test_chunks_without_a_position_are_left_alone() -> None:
    odd = ScoredChunk("imported", "faq", "faq.html", "Bugs", "As stored elsewhere.", 0.9)
    hits = [odd, chunk(1, "Bugs", "First.", 0.6)]
    assert [h.text for h in merge_sections(hits, 5)] == ["As stored elsewhere.", "First."]


def test_a_long_sections_passage_holds_its_best_chunks_that_fit() -> None:
    """Five matching chunks of one section, each a third of the passage's length: the passage
    is the three best, in document order, so the agent's budget never cuts off the best."""
    scores = [0.40, 0.55, 0.45, 0.70, 0.60]
    size = (MAX_PASSAGE_CHARS - 2 * len(GAP)) // 3
    hits = [chunk(n, "Boilers", str(n) * size, score) for n, score in enumerate(scores)]
    (passage,) = merge_sections(hits, 5)
    assert passage.text == f"{'1' * size}{GAP}{'3' * size}\n\n{'4' * size}"
    assert passage.chunk_id == "faq-3"
    assert len(passage.text) <= MAX_PASSAGE_CHARS
