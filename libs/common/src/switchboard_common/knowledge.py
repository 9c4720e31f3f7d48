"""The knowledge service's bus API: a ``nats.micro`` service named ``knowledge``.

Endpoints (request-reply, JSON): ``sb.knowledge.query``, ``.ingest``, ``.delete``, ``.list``.
Errors are protocol answers, never silent timeouts: the reply carries the ``Nats-Service-Error``
and ``Nats-Service-Error-Code`` headers with one of :class:`KnowledgeErrorCode`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .ids import BusinessId
from .messages import BusMessage, utc_now

SERVICE_NAME = "knowledge"
SERVICE_VERSION = "0.2.0"
#: Queue group the endpoints share, so replicas split the load.
QUEUE_GROUP = "knowledge"

ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"

#: Largest text accepted over the bus; bigger documents go through the HTTP API.
MAX_BUS_DOCUMENT_BYTES = 512 * 1024

DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ContentType = Literal[
    "text/plain",
    "text/markdown",
    "text/html",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
]
DocumentId = str


class KnowledgeErrorCode(StrEnum):
    BAD_REQUEST = "400"
    UNKNOWN_BUSINESS = "404"
    NOT_FOUND = "410"
    BACKEND_UNAVAILABLE = "503"
    INTERNAL = "500"


class KnowledgeHit(BaseModel):
    """One ranked passage: a section's chunks that matched, in document order (the knowledge
    service merges them, so no two hits share a section), named by its best chunk's
    ``chunk_id``. ``source`` is the document's name or title and ``heading`` its section path
    ("Menu > Desserts"). ``score`` (the best chunk's) is higher-is-better and absolute
    (comparable across queries), on the same scale on every backend."""

    model_config = ConfigDict(frozen=True)

    chunk_id: str
    document_id: DocumentId
    source: str
    heading: str = ""
    text: str
    score: float


class KnowledgeQuery(BusMessage):
    type: Literal["knowledge.query"] = "knowledge.query"
    business_id: BusinessId
    text: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(5, ge=1, le=50)
    document_ids: list[DocumentId] | None = Field(
        None, description="Only search these documents (a filter)."
    )


class KnowledgeQueryReply(BusMessage):
    """The hits that pass the relevance threshold, best first. ``no_answer`` is true when none
    does: the business's documents do not cover the question (an answer in itself)."""

    type: Literal["knowledge.query.reply"] = "knowledge.query.reply"
    hits: list[KnowledgeHit]
    no_answer: bool = Field(
        False,
        description="Nothing in the business's documents is relevant enough to answer "
        "(since 0.2.0; hits is then empty).",
    )
    relevance_threshold: float | None = Field(
        None,
        description="The score a hit needed to pass (calibrated per embedder and backend); "
        "null when no threshold applies and every hit is returned.",
    )
    embed_ms: float = Field(description="Time spent embedding the query.")
    search_ms: float = Field(description="Time spent in the vector backend.")


class DocumentInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    document_id: DocumentId
    source: str
    content_type: ContentType
    content_hash: str
    chunks: int
    bytes: int
    updated_at: datetime = Field(default_factory=utc_now)


class IngestRequest(BusMessage):
    """Add or replace one document (re-sending the same content is a no-op)."""

    type: Literal["knowledge.ingest"] = "knowledge.ingest"
    business_id: BusinessId
    source: str = Field(min_length=1, max_length=512, description="A name: file name, URL…")
    document_id: DocumentId | None = Field(
        None, description="Stable id; defaults to one derived from the source."
    )
    content_type: ContentType = "text/plain"
    text: str | None = Field(None, description="The content, for text types.")
    data_b64: str | None = Field(None, description="The content, base64, for binary types.")

    @model_validator(mode="after")
    def _one_content(self) -> IngestRequest:
        if (self.text is None) == (self.data_b64 is None):
            raise ValueError("give exactly one of text and data_b64")
        return self


class IngestReply(BusMessage):
    type: Literal["knowledge.ingest.reply"] = "knowledge.ingest.reply"
    document: DocumentInfo
    unchanged: bool = Field(description="Same content hash as stored: nothing was re-indexed.")
    replaced_chunks: int = Field(description="Chunks of the previous version removed.")
    truncated_chunks: int = Field(
        0,
        description="Chunks longer than the embedder's window, whose tail was not embedded "
        "(0 when chunks are sized with the embedder's tokenizer, as they are by default).",
    )


class DeleteRequest(BusMessage):
    type: Literal["knowledge.delete"] = "knowledge.delete"
    business_id: BusinessId
    document_id: DocumentId


class DeleteReply(BusMessage):
    type: Literal["knowledge.delete.reply"] = "knowledge.delete.reply"
    deleted: bool


class ListRequest(BusMessage):
    type: Literal["knowledge.list"] = "knowledge.list"
    business_id: BusinessId


class ListReply(BusMessage):
    type: Literal["knowledge.list.reply"] = "knowledge.list.reply"
    documents: list[DocumentInfo]
