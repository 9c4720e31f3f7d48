"""What the model gets from the knowledge base: best hits first, within a token budget."""

from __future__ import annotations

import json
from typing import Any, cast

from nats.aio.client import Client

from switchboard_agent.tools import ToolContext, ToolRegistry
from switchboard_agent.tools.builtin import register_builtin_tools
from switchboard_agent.tools.knowledge import CHARS_PER_TOKEN, NO_ANSWER_WORDS, trim_to_budget
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.knowledge import KnowledgeHit, KnowledgeQueryReply


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


class _Reply:
    def __init__(self, reply: KnowledgeQueryReply) -> None:
        self.data = reply.to_bytes()
        self.headers: dict[str, str] | None = None


class _Bus:
    """Answers every request with one knowledge reply."""

    def __init__(self, reply: KnowledgeQueryReply) -> None:
        self.reply = reply

    async def request(self, subject: str, payload: bytes, **_: Any) -> _Reply:
        return _Reply(self.reply)


async def _ask(reply: KnowledgeQueryReply) -> dict[str, Any]:
    registry = register_builtin_tools(ToolRegistry())
    ctx = ToolContext(call_id="CA1", business=DEMO_BUSINESS, nc=cast(Client, _Bus(reply)))
    result = await registry.run("query_knowledge_base", '{"query": "cabinets?"}', ctx)
    assert result.ok
    output: dict[str, Any] = json.loads(result.output)
    return output


async def test_no_answer_is_told_plainly_with_what_to_do() -> None:
    reply = KnowledgeQueryReply(
        hits=[], no_answer=True, relevance_threshold=0.2, embed_ms=1.0, search_ms=1.0
    )
    output = await _ask(reply)
    assert output == {"answer_found": False, "results": [], "note": NO_ANSWER_WORDS}
    assert "do not cover" in NO_ANSWER_WORDS and "message" in NO_ANSWER_WORDS


async def test_answers_carry_their_document_and_section() -> None:
    reply = KnowledgeQueryReply(
        hits=[_hit(0, 50)], relevance_threshold=0.2, embed_ms=1.0, search_ms=1.0
    )
    output = await _ask(reply)
    assert output["answer_found"] is True
    assert output["results"][0]["source"] == "faq.md"
    assert output["results"][0]["section"] == "H0"
