"""The knowledge service's HTTP API, as a real process: documents per business, behind a token."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import docx
import httpx
import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from switchboard_common.business import DEMO_BUSINESS
from switchboard_common.knowledge import DOCX_CONTENT_TYPE
from switchboard_sim.stack import LocalStack

pytestmark = pytest.mark.timeout(120)

BIZ = DEMO_BUSINESS.business_id
MARKDOWN = (
    b"# Desserts\n\nOur lemon tiramisu is made every morning.\n\n# Wine\n\nWe pour Chianti.\n"
)
HTML = b"<html><body><nav>menu</nav><h1>Terrace</h1><p>The terrace opens in May.</p></body></html>"


def _pdf(text: str) -> bytes:
    """A one-page PDF whose page says ``text``."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=300, height=200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with LocalStack() as stack:
        await stack.start_nats()
        # Uploads over 2 KiB become jobs, so the job path is exercised with small files.
        child = await stack.start_knowledge(KNOWLEDGE_SYNC_INGEST_MAX_BYTES="2048")
        headers = {"Authorization": f"Bearer {stack.auth_token}"}
        async with httpx.AsyncClient(base_url=child.announced, headers=headers, timeout=60) as c:
            yield c


async def _upload(api: httpx.AsyncClient, name: str, data: bytes, **form: str) -> httpx.Response:
    return await api.post(f"/businesses/{BIZ}/documents", files={"file": (name, data)}, data=form)


async def test_a_docx_upload_keeps_its_headings(api: httpx.AsyncClient) -> None:
    document = docx.Document()
    document.add_heading("Catering", level=1)
    document.add_paragraph("We cater weddings for up to 120 guests.")
    out = io.BytesIO()
    document.save(out)
    uploaded = await _upload(api, "catering.docx", out.getvalue())
    assert uploaded.status_code == 202, uploaded.text  # a DOCX is over this stack's sync limit
    while True:
        job = (await api.get(f"/jobs/{uploaded.json()['job_id']}")).json()
        if job["state"] != "running":
            break
        await asyncio.sleep(0.1)  # the client's polling interval
    assert job["state"] == "done", job
    info = job["result"]
    assert info["document"]["content_type"] == DOCX_CONTENT_TYPE
    assert info["truncated_chunks"] == 0
    doc_id = info["document"]["document_id"]
    chunks = (await api.get(f"/businesses/{BIZ}/documents/{doc_id}")).json()["chunks"]
    assert [(c["heading"], c["text"]) for c in chunks] == [
        ("Catering", "We cater weddings for up to 120 guests.")
    ]


async def test_the_token_is_required(api: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": ""}):
        response = await api.get(f"/businesses/{BIZ}/documents", headers=headers)
        assert response.status_code == 401


async def test_upload_list_fetch_stats_delete(api: httpx.AsyncClient) -> None:
    uploaded = await _upload(api, "desserts.md", MARKDOWN)
    assert uploaded.status_code == 200, uploaded.text
    doc = uploaded.json()["document"]
    assert doc["content_type"] == "text/markdown" and doc["chunks"] == 2

    html = (await _upload(api, "terrace.html", HTML)).json()["document"]
    pdf = (await _upload(api, "flyer.pdf", _pdf("Live music every Friday night"))).json()

    listed = (await api.get(f"/businesses/{BIZ}/documents")).json()
    ids = {d["document_id"] for d in listed}
    assert {doc["document_id"], html["document_id"], pdf["document"]["document_id"]} <= ids

    fetched = (await api.get(f"/businesses/{BIZ}/documents/{html['document_id']}")).json()
    assert [c["text"] for c in fetched["chunks"]] == ["The terrace opens in May."]
    assert "menu" not in fetched["chunks"][0]["text"]  # navigation is not content
    pdf_doc = pdf["document"]["document_id"]
    pdf_chunks = (await api.get(f"/businesses/{BIZ}/documents/{pdf_doc}")).json()["chunks"]
    assert "Live music every Friday night" in pdf_chunks[0]["text"]

    stats = (await api.get(f"/businesses/{BIZ}/stats")).json()
    assert stats["documents"] >= 3 and stats["chunks"] >= 4

    assert (await api.delete(f"/businesses/{BIZ}/documents/{html['document_id']}")).json() == {
        "deleted": True
    }
    missing = await api.get(f"/businesses/{BIZ}/documents/{html['document_id']}")
    assert missing.status_code == 404
    assert (
        await api.delete(f"/businesses/{BIZ}/documents/{html['document_id']}")
    ).status_code == 404


async def test_reuploading_replaces_and_identical_bytes_change_nothing(
    api: httpx.AsyncClient,
) -> None:
    first = (await _upload(api, "wine.md", b"# Wine\n\nWe pour Chianti.\n")).json()
    same = (await _upload(api, "wine.md", b"# Wine\n\nWe pour Chianti.\n")).json()
    assert (
        same["unchanged"] and same["document"]["content_hash"] == first["document"]["content_hash"]
    )
    new = (await _upload(api, "wine.md", b"# Wine\n\nWe pour Barolo.\n")).json()
    assert not new["unchanged"] and new["replaced_chunks"] == first["document"]["chunks"]
    doc_id = new["document"]["document_id"]
    chunks = (await api.get(f"/businesses/{BIZ}/documents/{doc_id}")).json()["chunks"]
    assert [c["text"] for c in chunks] == ["We pour Barolo."]


async def test_a_large_upload_is_a_job_with_progress(api: httpx.AsyncClient) -> None:
    big = "\n\n".join(
        f"## Dish {n}\n\nDish number {n} is slow-cooked for {n} hours with herbs."
        for n in range(80)
    ).encode()
    started = await _upload(api, "big-menu.md", big)
    assert started.status_code == 202
    job_id = started.json()["job_id"]
    assert started.json()["state"] == "running"
    # The job API is a polling API: poll it as a client would, at most 60 s.
    for _ in range(600):
        job = (await api.get(f"/jobs/{job_id}")).json()
        if job["state"] != "running":
            break
        await asyncio.sleep(0.1)  # the client's polling interval
    assert job["state"] == "done", job
    assert job["progress"]["chunks_embedded"] == job["progress"]["chunks_total"] >= 80
    assert job["result"]["document"]["chunks"] == job["progress"]["chunks_total"]
    assert (await api.get("/jobs/not-a-job")).status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("notes.odt", b"PK\x03\x04", 415),
        ("broken.docx", b"PK\x03\x04", 400),
        ("broken.pdf", b"%PDF-1.4 not really", 400),
        ("empty.md", b"   \n", 400),
    ],
)
async def test_bad_uploads_get_clear_errors(
    api: httpx.AsyncClient, name: str, data: bytes, status: int
) -> None:
    response = await _upload(api, name, data)
    assert response.status_code == status
    assert response.json()["detail"]


async def test_an_unknown_business_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/businesses/nobody/documents")
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]
