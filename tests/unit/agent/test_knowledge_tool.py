"""What the model gets from the knowledge base: best hits first, within a token budget."""

from __future__ import annotations

from switchboard_agent.tools.knowledge import CHARS_PER_TOKEN, trim_to_budget
from switchboard_common.knowledge import KnowledgeHit


def _hit(n: int, length: int) -> KnowledgeHit:
    return KnowledgeHit(
        chunk_id=f"c{n}",
        document_id="d",
        source="faq.md",
        heading=f"H{n}",
        text=" ".join(["word"] * (length // 5)),
        score=1.0 - n / 10,
    )


def test_hits_that_fit_are_kept_whole_in_rank_order() -> None:
    hits = [_hit(0, 100), _hit(1, 100)]
    kept = trim_to_budget(hits, budget_tokens=100)
    assert [k["section"] for k in kept] == ["H0", "H1"]
    assert kept[0]["text"] == hits[0].text


def test_the_budget_cuts_the_first_hit_that_does_not_fit_and_drops_the_rest() -> None:
    hits = [_hit(0, 300), _hit(1, 300), _hit(2, 300)]
    kept = trim_to_budget(hits, budget_tokens=100)  # 400 characters
    assert len(kept) == 2
    assert kept[1]["text"].endswith("…")
    assert sum(len(k["text"]) for k in kept) <= 100 * CHARS_PER_TOKEN + 2


def test_no_hits_no_results() -> None:
    assert trim_to_budget([], 100) == []
