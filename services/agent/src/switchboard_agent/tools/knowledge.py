"""``query_knowledge_base``: answers come from the caller's business's own content."""

from __future__ import annotations

import time
from typing import Any

from switchboard_common import subjects, tracing
from switchboard_common.knowledge import (
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    KnowledgeErrorCode,
    KnowledgeHit,
    KnowledgeQuery,
    KnowledgeQueryReply,
)

from .. import metrics
from .failures import FailureKind, ToolFailure, ToolInputError, classify_bus_error
from .registry import Handler, JsonObject, ToolContext

#: The knowledge service must answer within this by default (``AGENT_KNOWLEDGE_DEADLINE_S``);
#: the model is told if it does not, and a later reply is dropped.
DEADLINE_S = 1.5
#: The circuit breaker's name for the knowledge service.
BACKEND = "knowledge"
#: What the model is told when the knowledge base cannot be searched.
FAILURE_WORDS = (
    "The business's documents could not be searched just now. Tell the caller you cannot look "
    "that up at the moment and offer to take a message."
)
#: What the model is told when nothing in the documents passes the relevance threshold.
NO_ANSWER_WORDS = (
    "The business's documents do not cover this question. Tell the caller plainly that you "
    "do not have that information, and offer to take a message or transfer them. Do not guess."
)
#: Answers that say the request, not the service, is at fault.
_REFUSALS = frozenset({KnowledgeErrorCode.BAD_REQUEST, KnowledgeErrorCode.UNKNOWN_BUSINESS})
#: Results handed to the model are cut to about this many tokens (≈ 4 characters each).
TOKEN_BUDGET = 600
CHARS_PER_TOKEN = 4
TOP_K = 5


def trim_to_budget(hits: list[KnowledgeHit], budget_tokens: int) -> list[dict[str, Any]]:
    """Keep the best hits whole while they fit; cut the first one that does not."""
    left = budget_tokens * CHARS_PER_TOKEN
    kept: list[dict[str, Any]] = []
    for hit in hits:
        if left <= 0:
            break
        text = hit.text if len(hit.text) <= left else hit.text[:left].rsplit(" ", 1)[0] + " …"
        left -= len(text)
        kept.append(
            {
                "source": hit.source,
                "section": hit.heading,
                "text": text,
                "score": round(hit.score, 3),
            }
        )
    return kept


async def query_knowledge_base(ctx: ToolContext, args: JsonObject) -> dict[str, Any]:
    """The handler with the default deadline."""
    return await query(ctx, args, DEADLINE_S)


def knowledge_tool(deadline_s: float = DEADLINE_S) -> Handler:
    """The ``query_knowledge_base`` handler, waiting at most ``deadline_s`` for an answer."""

    async def query_within_deadline(ctx: ToolContext, args: JsonObject) -> dict[str, Any]:
        return await query(ctx, args, deadline_s)

    return query_within_deadline


async def query(ctx: ToolContext, args: JsonObject, deadline_s: float) -> dict[str, Any]:
    text = str(args.get("query", "")).strip()
    if not text:
        raise ToolInputError("a query is needed")
    if ctx.nc is None:
        raise ToolFailure(FailureKind.UNREACHABLE, "the bus is not connected")
    try:
        request = KnowledgeQuery(business_id=ctx.business.business_id, text=text, top_k=TOP_K)
    except ValueError as exc:
        raise ToolInputError("the query is too long; use a few words") from exc
    started = time.perf_counter()
    try:
        # On a timeout the request's reply slot is dropped: a late answer is discarded.
        msg = await ctx.nc.request(
            subjects.KNOWLEDGE_QUERY,
            request.to_bytes(),
            timeout=deadline_s,
            headers=tracing.inject_headers(),
        )
    except Exception as exc:
        kind = classify_bus_error(exc)
        _observe(started, "timeout" if kind is FailureKind.TIMEOUT else "error")
        raise ToolFailure(kind, f"knowledge query: {type(exc).__name__}: {exc}") from exc
    code = msg.headers.get(ERROR_CODE_HEADER) if msg.headers else None
    _observe(started, "ok" if code is None else "error")
    if code is not None:
        assert msg.headers is not None
        kind = FailureKind.REFUSED if code in _REFUSALS else FailureKind.BACKEND_ERROR
        raise ToolFailure(
            kind, f"the knowledge service answered {code}: {msg.headers.get(ERROR_HEADER, '')}"
        )
    reply = KnowledgeQueryReply.model_validate_json(msg.data)
    results = trim_to_budget(reply.hits, TOKEN_BUDGET)
    if reply.no_answer or not results:
        return {"answer_found": False, "results": [], "note": NO_ANSWER_WORDS}
    return {"answer_found": True, "results": results}


def _observe(started: float, outcome: str) -> None:
    metrics.KNOWLEDGE_QUERY_LATENCY.labels(outcome).observe(time.perf_counter() - started)


DEFINITION: JsonObject = {
    "type": "object",
    "properties": {
        "query": {
            "type": "string",
            "description": "What to look up, in the caller's words or a short rephrasing.",
        }
    },
    "required": ["query"],
}
DESCRIPTION = (
    "Search this business's own documents (menu, policies, FAQ, hours, prices…) before "
    "answering any factual question about the business."
)
