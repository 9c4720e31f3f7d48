"""Stable identities for documents: a content hash and a subject-safe id from the source."""

from __future__ import annotations

import hashlib
import re

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
#: Keeps ``<slug>-<hash>`` (and ``-<position>`` chunk ids) inside a 64-character subject token.
SLUG_CHARS = 40
HASH_CHARS = 10


def content_hash(data: bytes) -> str:
    """sha256 hex of the raw bytes: the same upload twice is recognised and skipped."""
    return hashlib.sha256(data).hexdigest()


def document_id_for(source: str) -> str:
    """``<readable slug>-<short sha256 of the source>``: stable for one source, distinct for
    sources that slug alike ("a b" / "a-b"), and a valid NATS subject token."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:HASH_CHARS]
    slug = _NOT_SLUG.sub("-", _SCHEME.sub("", source.strip().lower())).strip("-")
    slug = slug[:SLUG_CHARS].rstrip("-") or "doc"
    return f"{slug}-{digest}"
