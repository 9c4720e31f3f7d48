"""Documents into retrievable text: extraction per content type, then heading-aware chunks."""

from .chunking import chunk_sections, count_tokens
from .extract import extract_sections
from .ids import content_hash, document_id_for
from .model import DocumentError, Section, TextChunk

__all__ = [
    "DocumentError",
    "Section",
    "TextChunk",
    "chunk_sections",
    "content_hash",
    "count_tokens",
    "document_id_for",
    "extract_sections",
]
