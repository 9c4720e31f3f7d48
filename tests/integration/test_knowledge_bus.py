"""The knowledge service over NATS, as a real process: a discoverable nats.micro service whose
errors are protocol answers, whose tenants never see each other, and which answers queries
concurrently."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from switchboard_common import subjects
from switchboard_common.business import DEMO_BUSINESS, BusinessProfile
from switchboard_common.knowledge import (
    ERROR_CODE_HEADER,
    DeleteReply,
    DeleteRequest,
    IngestReply,
    IngestRequest,
    KnowledgeErrorCode,
    KnowledgeQuery,
    KnowledgeQueryReply,
    ListReply,
    ListRequest,
)
from switchboard_common.messages import BusMessage
from switchboard_sim.stack import LocalStack

pytestmark = pytest.mark.timeout(120)

CALIBRATION = Path(__file__).parents[1] / "fixtures" / "knowledge" / "calibration"

OTHER = BusinessProfile(
    business_id="other-bistro", name="Other Bistro", phone_numbers=["+15550199"]
)
SHARED_TEXT = "# Opening hours\n\nWe are open every day from nine in the morning until five.\n"


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("embedded", id="embedded"),
        pytest.param("weaviate", id="weaviate", marks=[pytest.mark.timeout(600)]),
    ],
)
async def knowledge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Client]:
    """The service as a process on each backend (Weaviate where Docker can run it)."""
    businesses = tmp_path_factory.mktemp("config") / "businesses.json"
    businesses.write_text(
        json.dumps([DEMO_BUSINESS.model_dump(mode="json"), OTHER.model_dump(mode="json")])
    )
    env = {"SWITCHBOARD_BUSINESSES_FILE": str(businesses)}
    if request.param == "weaviate":
        server = request.getfixturevalue("weaviate_server")
        env |= {
            "KNOWLEDGE_BACKEND": "weaviate",
            "KNOWLEDGE_WEAVIATE_HTTP_HOST": server.host,
            "KNOWLEDGE_WEAVIATE_HTTP_PORT": str(server.http_port),
            "KNOWLEDGE_WEAVIATE_GRPC_PORT": str(server.grpc_port),
        }
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_knowledge(**env)
        nc = await nats.connect(stack.nats_url)
        try:
            yield nc
        finally:
            await nc.close()


async def _ask(nc: Client, subject: str, message: BusMessage) -> Msg:
    return await nc.request(subject, message.to_bytes(), timeout=30)


def _error_code(msg: Msg) -> str | None:
    return (msg.headers or {}).get(ERROR_CODE_HEADER)


async def _ingest(nc: Client, business_id: str, source: str, text: str) -> IngestReply:
    msg = await _ask(
        nc,
        subjects.KNOWLEDGE_INGEST,
        IngestRequest(
            business_id=business_id, source=source, content_type="text/markdown", text=text
        ),
    )
    assert _error_code(msg) is None, msg.headers
    return IngestReply.model_validate_json(msg.data)


async def _query(nc: Client, business_id: str, text: str, top_k: int = 5) -> KnowledgeQueryReply:
    msg = await _ask(
        nc,
        subjects.KNOWLEDGE_QUERY,
        KnowledgeQuery(business_id=business_id, text=text, top_k=top_k),
    )
    assert _error_code(msg) is None, msg.headers
    return KnowledgeQueryReply.model_validate_json(msg.data)


async def test_it_is_a_discoverable_nats_service(knowledge: Client) -> None:
    ping = await knowledge.request("$SRV.PING.knowledge", b"", timeout=5)
    assert json.loads(ping.data)["name"] == "knowledge"
    info = json.loads((await knowledge.request("$SRV.INFO.knowledge", b"", timeout=5)).data)
    assert {e["subject"] for e in info["endpoints"]} == {
        subjects.KNOWLEDGE_QUERY,
        subjects.KNOWLEDGE_INGEST,
        subjects.KNOWLEDGE_DELETE,
        subjects.KNOWLEDGE_LIST,
    }


async def test_ingest_query_replace_and_delete(knowledge: Client) -> None:
    biz = DEMO_BUSINESS.business_id
    first = await _ingest(knowledge, biz, "faq.md", "# Parking\n\nPark in the blue garage.\n")
    assert first.document.chunks >= 1 and not first.unchanged
    again = await _ingest(knowledge, biz, "faq.md", "# Parking\n\nPark in the blue garage.\n")
    assert again.unchanged and again.replaced_chunks == 0

    hits = (await _query(knowledge, biz, "where can I park my car?")).hits
    assert hits and "blue garage" in hits[0].text

    new = await _ingest(knowledge, biz, "faq.md", "# Parking\n\nThe red car park is free.\n")
    assert new.replaced_chunks == first.document.chunks
    texts = [h.text for h in (await _query(knowledge, biz, "where can I park?")).hits]
    assert any("red car park" in t for t in texts)
    assert not any("blue garage" in t for t in texts), "a stale chunk survived the replace"

    listed = ListReply.model_validate_json(
        (await _ask(knowledge, subjects.KNOWLEDGE_LIST, ListRequest(business_id=biz))).data
    )
    assert new.document.document_id in {d.document_id for d in listed.documents}
    deleted = DeleteReply.model_validate_json(
        (
            await _ask(
                knowledge,
                subjects.KNOWLEDGE_DELETE,
                DeleteRequest(business_id=biz, document_id=new.document.document_id),
            )
        ).data
    )
    assert deleted.deleted
    after = [h.text for h in (await _query(knowledge, biz, "where can I park?")).hits]
    assert not any("car park" in t for t in after)


async def test_no_answer_is_an_answer_and_hits_say_where_they_come_from(
    knowledge: Client,
) -> None:
    biz = DEMO_BUSINESS.business_id
    guide = (CALIBRATION / "brightwater-plumbing.md").read_text()
    ingested = await _ingest(knowledge, biz, "Brightwater customer guide", guide)
    assert ingested.truncated_chunks == 0
    try:
        found = await _query(knowledge, biz, "do you guys take credit cards")
        assert not found.no_answer
        assert found.hits[0].source == "Brightwater customer guide"
        assert "How do I pay?" in found.hits[0].text
        assert "Frequently asked questions" in found.hits[0].heading
        missing = await _query(knowledge, biz, "do you sell kitchen cabinets")
        if missing.relevance_threshold is None:  # an uncalibrated backend makes no judgement
            assert missing.hits and not missing.no_answer
        else:
            assert missing.no_answer and missing.hits == []
            assert all(h.score >= missing.relevance_threshold for h in found.hits)
    finally:
        await _ask(
            knowledge,
            subjects.KNOWLEDGE_DELETE,
            DeleteRequest(business_id=biz, document_id=ingested.document.document_id),
        )


async def test_tenants_never_see_each_other(knowledge: Client) -> None:
    """Identical text in two businesses: each query returns only its own business's chunks."""
    a = await _ingest(knowledge, DEMO_BUSINESS.business_id, "hours.md", SHARED_TEXT)
    b = await _ingest(knowledge, OTHER.business_id, "hours.md", SHARED_TEXT)
    assert a.document.document_id == b.document.document_id  # same source, same id
    for business_id in (DEMO_BUSINESS.business_id, OTHER.business_id):
        hits = (await _query(knowledge, business_id, "when are you open?")).hits
        assert hits
        # Chunk ids are per business; the listing proves which business owns what was returned.
        listing = ListReply.model_validate_json(
            (
                await _ask(knowledge, subjects.KNOWLEDGE_LIST, ListRequest(business_id=business_id))
            ).data
        )
        own = {d.document_id for d in listing.documents}
        assert {h.document_id for h in hits} <= own
    await _ask(
        knowledge,
        subjects.KNOWLEDGE_DELETE,
        DeleteRequest(business_id=OTHER.business_id, document_id=b.document.document_id),
    )
    assert (await _query(knowledge, DEMO_BUSINESS.business_id, "when are you open?")).hits
    assert not (await _query(knowledge, OTHER.business_id, "when are you open?")).hits


@pytest.mark.parametrize(
    ("subject", "payload", "code"),
    [
        (subjects.KNOWLEDGE_QUERY, b"not json", KnowledgeErrorCode.BAD_REQUEST),
        (subjects.KNOWLEDGE_QUERY, b'{"business_id": "x"}', KnowledgeErrorCode.BAD_REQUEST),
        (
            subjects.KNOWLEDGE_QUERY,
            KnowledgeQuery(business_id="nobody", text="hi").to_bytes(),
            KnowledgeErrorCode.UNKNOWN_BUSINESS,
        ),
        (
            subjects.KNOWLEDGE_INGEST,
            IngestRequest(
                business_id=DEMO_BUSINESS.business_id,
                source="broken.pdf",
                content_type="application/pdf",
                data_b64="bm90IGEgcGRm",
            ).to_bytes(),
            KnowledgeErrorCode.BAD_REQUEST,
        ),
        *(
            (
                subjects.KNOWLEDGE_INGEST,
                IngestRequest(
                    business_id=DEMO_BUSINESS.business_id,
                    source="notes.txt",
                    content_type="text/plain",
                    data_b64=data_b64,
                ).to_bytes(),
                KnowledgeErrorCode.BAD_REQUEST,
            )
            for data_b64 in ("not base64!", "caf\u00e9")  # a non-ASCII str is not base64 either
        ),
    ],
)
async def test_errors_are_protocol_answers(
    knowledge: Client, subject: str, payload: bytes, code: KnowledgeErrorCode
) -> None:
    msg = await knowledge.request(subject, payload, timeout=10)
    assert _error_code(msg) == code.value


async def test_queries_are_answered_concurrently(knowledge: Client) -> None:
    await _ingest(knowledge, DEMO_BUSINESS.business_id, "menu.md", "# Menu\n\nFresh pasta daily.\n")
    replies = await asyncio.gather(
        *(_query(knowledge, DEMO_BUSINESS.business_id, f"pasta {i}") for i in range(40))
    )
    assert all(r.hits for r in replies)
