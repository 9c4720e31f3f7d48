"""The knowledge service's bus endpoints, fed generated requests as a real process: every
request gets an answer, and a refusal is a protocol error the caller can act on (400, 404,
410, 503), never an internal error and never a silent timeout."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard_common import subjects
from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.knowledge import ERROR_CODE_HEADER, KnowledgeErrorCode
from switchboard_sim.stack import LocalStack

pytestmark = pytest.mark.timeout(300)

#: What a caller can act on; ``500`` (internal) is the one the service must never need.
ACTIONABLE = {
    KnowledgeErrorCode.BAD_REQUEST,
    KnowledgeErrorCode.UNKNOWN_BUSINESS,
    KnowledgeErrorCode.NOT_FOUND,
    KnowledgeErrorCode.BACKEND_UNAVAILABLE,
}
_ANY = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_TEXT = st.text(max_size=40)
#: Each endpoint's message type and, per field, values of the right type (odd ones included).
ENDPOINTS: dict[str, tuple[str, dict[str, st.SearchStrategy[Any]]]] = {
    subjects.KNOWLEDGE_QUERY: (
        "knowledge.query",
        {
            "text": _TEXT,
            "top_k": st.integers(-5, 100),
            "document_ids": st.lists(st.text(max_size=10), max_size=3),
        },
    ),
    subjects.KNOWLEDGE_INGEST: (
        "knowledge.ingest",
        {
            "source": st.text(min_size=1, max_size=40),
            "document_id": st.text(max_size=20),
            "content_type": st.sampled_from(
                ["text/plain", "text/markdown", "text/html", "application/pdf", "image/png"]
            ),
            "text": st.text(max_size=60),
            "data_b64": st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode()) | _TEXT,
        },
    ),
    subjects.KNOWLEDGE_DELETE: ("knowledge.delete", {"document_id": st.text(max_size=20)}),
    subjects.KNOWLEDGE_LIST: ("knowledge.list", {}),
}


@st.composite
def _requests(draw: st.DrawFn) -> tuple[str, bytes]:
    """A subject and a payload: mostly well-typed requests with odd values, some fields left
    out or of the wrong type, and now and then bytes that are not JSON at all."""
    subject = draw(st.sampled_from(sorted(ENDPOINTS)))
    kind, fields = ENDPOINTS[subject]
    if draw(st.integers(0, 19)) == 0:
        return subject, draw(st.binary(max_size=60))
    body: dict[str, Any] = {"v": 1, "type": kind}
    business = st.sampled_from([DEMO_BUSINESS.business_id, "nobody"])
    for name, well_typed in {"business_id": business, **fields}.items():
        roll = draw(st.integers(0, 9))  # 9: left out, 8: any JSON, else the right type
        if roll == 9:
            continue
        body[name] = draw(_ANY if roll == 8 else well_typed)
    if kind == "knowledge.ingest" and draw(st.booleans()):
        body.pop(draw(st.sampled_from(["text", "data_b64"])), None)  # often exactly one
    return subject, orjson.dumps(body)


class _BusInThread:
    """A NATS client on its own loop in a thread, for hypothesis's synchronous examples."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._nc = self._run(nats.connect(url))

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def request(self, subject: str, payload: bytes) -> Any:
        return self._run(self._nc.request(subject, payload, timeout=10))

    def close(self) -> None:
        self._run(self._nc.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
async def nats_url() -> AsyncIterator[str]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_knowledge()
        yield stack.nats_url


@pytest.fixture
def bus(nats_url: str) -> Iterator[_BusInThread]:
    client = _BusInThread(nats_url)
    try:
        yield client
    finally:
        client.close()


def _fuzz(bus: _BusInThread) -> None:
    @settings(max_examples=300)
    @given(_requests())
    def check(request: tuple[str, bytes]) -> None:
        subject, payload = request
        reply = bus.request(subject, payload)  # a timeout here fails the test
        code = (reply.headers or {}).get(ERROR_CODE_HEADER)
        if code is not None:
            assert KnowledgeErrorCode(code) in ACTIONABLE, (subject, payload, reply.headers)

    check()


async def test_every_request_gets_an_actionable_answer(bus: _BusInThread) -> None:
    # In a thread: the stack's log readers keep running on this loop meanwhile.
    await asyncio.to_thread(_fuzz, bus)
