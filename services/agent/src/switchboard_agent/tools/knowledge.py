"""``query_knowledge_base``: answers come from the caller's business's own content."""

from __future__ import annotations

import time
from typing import Any

from switchboard_common import subjects, tracing
from switchboard_common.knowledge import (
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    KnowledgeHit,
    KnowledgeQuery,
    KnowledgeQueryReply,
)

from .. import metrics
from .registry import JsonObject, ToolContext

#: The knowledge service must answer within this; the model is told if it does not.
DEADLINE_S = 2.0
#: Results handed to the model are cut to about this many tokens (≈ 4 characters each).
TOKEN_BUDGET = 600
CHARS_PER_TOKEN = 4
TOP_K = 5


class KnowledgeUnavailable(RuntimeError):
    pass


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
    query = str(args.get("query", "")).strip()
    if not query:
        raise ValueError("a query is needed")
    if ctx.nc is None:
        raise KnowledgeUnavailable("the knowledge service is not connected")
    request = KnowledgeQuery(business_id=ctx.business.business_id, text=query, top_k=TOP_K)
    started = time.perf_counter()
    try:
        msg = await ctx.nc.request(
            subjects.KNOWLEDGE_QUERY,
            request.to_bytes(),
            timeout=DEADLINE_S,
            headers=tracing.inject_headers(),
        )
    except TimeoutError as exc:
        _observe(started, "timeout")
        raise KnowledgeUnavailable("the knowledge base did not answer in time") from exc
    except Exception as exc:  # no responders, bus down
        _observe(started, "error")
        raise KnowledgeUnavailable(f"the knowledge base is unavailable ({exc})") from exc
    refused = bool(msg.headers and ERROR_CODE_HEADER in msg.headers)
    _observe(started, "error" if refused else "ok")
    if msg.headers and ERROR_CODE_HEADER in msg.headers:
        raise KnowledgeUnavailable(
            f"the knowledge base refused: {msg.headers.get(ERROR_HEADER, '')} "
            f"({msg.headers[ERROR_CODE_HEADER]})"
        )
    reply = KnowledgeQueryReply.model_validate_json(msg.data)
    results = trim_to_budget(reply.hits, TOKEN_BUDGET)
    if not results:
        return {"results": [], "note": "Nothing in the knowledge base matches; say so."}
    return {"results": results}


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
