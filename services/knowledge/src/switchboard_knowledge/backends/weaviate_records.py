"""Our records as Weaviate object properties and back (chunks, documents, scored chunks).

Pure data mapping, shared by the backend's writes, reads and ranking, and unit-tested without a
server. Import from :mod:`.weaviate`, the public face.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .base import ChunkRecord, DocumentRecord, ScoredChunk


def chunk_properties(chunk: ChunkRecord) -> dict[str, Any]:
    return {
        "chunk_id": chunk.chunk_id,
        "document_id": chunk.document_id,
        "source": chunk.source,
        "heading": chunk.heading,
        "text": chunk.text,
        "position": chunk.position,
    }


def document_properties(document: DocumentRecord) -> dict[str, Any]:
    updated = document.updated_at
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    return {
        "document_id": document.document_id,
        "source": document.source,
        "content_type": document.content_type,
        "content_hash": document.content_hash,
        "chunk_count": document.chunks,
        "byte_count": document.bytes,
        "updated_at": updated,
    }


def str_property(props: Mapping[str, Any], key: str) -> str:
    value = props.get(key)
    return "" if value is None else str(value)


def int_property(props: Mapping[str, Any], key: str) -> int:
    value = props.get(key)
    return 0 if value is None else int(value)


def _datetime(props: Mapping[str, Any], key: str) -> datetime:
    value = props.get(key)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        return datetime.fromtimestamp(0, UTC)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def document_from_properties(props: Mapping[str, Any]) -> DocumentRecord:
    return DocumentRecord(
        document_id=str_property(props, "document_id"),
        source=str_property(props, "source"),
        content_type=str_property(props, "content_type"),
        content_hash=str_property(props, "content_hash"),
        chunks=int_property(props, "chunk_count"),
        bytes=int_property(props, "byte_count"),
        updated_at=_datetime(props, "updated_at"),
    )


def scored_chunk(props: Mapping[str, Any], score: float) -> ScoredChunk:
    return ScoredChunk(
        chunk_id=str_property(props, "chunk_id"),
        document_id=str_property(props, "document_id"),
        source=str_property(props, "source"),
        heading=str_property(props, "heading"),
        text=str_property(props, "text"),
        score=score,
    )
