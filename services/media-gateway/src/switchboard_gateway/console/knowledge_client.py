"""The knowledge service as the console uses it: documents through its HTTP API, the "try a
question" box through the bus (``sb.knowledge.query``, as the agent's tool asks)."""

from __future__ import annotations

from typing import Any

import httpx
from nats.aio.client import Client

from switchboard_common import subjects
from switchboard_common.knowledge import (
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    KnowledgeHit,
    KnowledgeQuery,
    KnowledgeQueryReply,
)

QUERY_TIMEOUT_S = 5.0


class KnowledgeUnavailable(RuntimeError):
    """The knowledge service could not answer; the message says why, in plain words."""


class KnowledgeClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = 30.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise KnowledgeUnavailable(f"the knowledge service cannot be reached ({exc})") from exc
        if response.status_code >= 500 or response.status_code == 401:
            raise KnowledgeUnavailable(
                f"the knowledge service answered {response.status_code}: {response.text[:200]}"
            )
        return response

    async def documents(self, business_id: str) -> list[dict[str, Any]]:
        response = await self._call("GET", f"/businesses/{business_id}/documents")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        docs: list[dict[str, Any]] = response.json()
        return docs

    async def upload(
        self, business_id: str, filename: str, data: bytes, content_type: str
    ) -> httpx.Response:
        """The knowledge API's own answer: 201 with the document, 202 with a job, or 4xx."""
        return await self._call(
            "POST",
            f"/businesses/{business_id}/documents",
            files={"file": (filename, data, content_type)},
        )

    async def job(self, job_id: str) -> httpx.Response:
        return await self._call("GET", f"/jobs/{job_id}")

    async def delete(self, business_id: str, document_id: str) -> bool:
        response = await self._call("DELETE", f"/businesses/{business_id}/documents/{document_id}")
        return response.status_code < 300

    async def ready(self) -> bool:
        try:
            response = await self._http.get("/readyz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


async def ask(nc: Client, business_id: str, text: str, top_k: int = 5) -> list[KnowledgeHit]:
    """The passages a caller's question would get, best first (empty: no answer)."""
    request = KnowledgeQuery(business_id=business_id, text=text, top_k=top_k)
    try:
        msg = await nc.request(
            subjects.KNOWLEDGE_QUERY, request.to_bytes(), timeout=QUERY_TIMEOUT_S
        )
    except Exception as exc:
        raise KnowledgeUnavailable(f"the knowledge service did not answer ({exc!r})") from exc
    code = msg.headers.get(ERROR_CODE_HEADER) if msg.headers else None
    if code is not None:
        assert msg.headers is not None
        if code == "404":
            return []  # nothing was ever uploaded for this business
        raise KnowledgeUnavailable(f"knowledge answered {code}: {msg.headers.get(ERROR_HEADER)}")
    return list(KnowledgeQueryReply.model_validate_json(msg.data).hits)
