"""The Weaviate side of the knowledge store, as pure data: collection layout, tenant names,
object ids, filters and the start-up schema check. Nothing here talks to a server, so all of
it is unit-tested without one.

Layout (both collections use native multi-tenancy; one tenant per business):

* ``KnowledgeChunk`` — one object per chunk, with our own vector (no vectorizer module).
  Properties: ``chunk_id``, ``document_id``, ``source``, ``revision`` (``field`` tokenization,
  filterable, not in BM25), ``heading`` and ``text`` (``word`` tokenization, BM25-searchable),
  ``position``. ``revision`` tags the chunks of one ``replace_document`` call, so the previous
  version's leftovers are "this document, another revision" (a plain ``NotEqual`` filter).
* ``KnowledgeDocument`` — one object per document, no vector used. Properties: ``document_id``,
  ``source``, ``content_type``, ``content_hash``, ``chunk_count``, ``byte_count``, ``updated_at``.

Object ids are ``uuid5`` of the business and the chunk / document id, so a retried write
overwrites instead of duplicating.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from weaviate.classes.config import DataType, Property, Tokenization
from weaviate.classes.query import Filter, FilterReturn

from .base import BackendUnavailable

DEFAULT_CHUNK_COLLECTION = "KnowledgeChunk"
DEFAULT_DOCUMENT_COLLECTION = "KnowledgeDocument"
#: The named vector holding our embeddings (self-provided, cosine).
VECTOR_NAME = "default"

#: Weaviate collection names: a capital letter first, then letters, digits, underscores.
_COLLECTION_RE = re.compile(r"^[A-Z][A-Za-z0-9_]{0,254}$")
#: Business ids kept verbatim as tenant names: lower-case subject tokens (Weaviate allows
#: ``[A-Za-z0-9_-]{1,64}``; upper case is hashed so that ids differing only in case never share
#: a tenant, even where the server's storage is case-insensitive).
_VERBATIM_TENANT_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
#: Namespace for our object ids (fixed forever: changing it orphans stored objects).
_ID_NAMESPACE = uuid.UUID("6d1f4f0e-3c1b-5a52-9a0e-2b7c6f1d8e41")


class WeaviateSchemaError(BackendUnavailable):
    """The existing Weaviate schema cannot be used (e.g. multi-tenancy disabled)."""


@dataclass(frozen=True, slots=True)
class PropertySpec:
    name: str
    data_type: DataType
    searchable: bool = False  # in the BM25 (searchable) index

    def to_property(self) -> Property:
        if self.data_type is DataType.TEXT:
            return Property(
                name=self.name,
                data_type=self.data_type,
                tokenization=Tokenization.WORD if self.searchable else Tokenization.FIELD,
                index_filterable=True,
                index_searchable=self.searchable,
            )
        return Property(name=self.name, data_type=self.data_type, index_filterable=True)


CHUNK_PROPERTIES: tuple[PropertySpec, ...] = (
    PropertySpec("chunk_id", DataType.TEXT),
    PropertySpec("document_id", DataType.TEXT),
    PropertySpec("source", DataType.TEXT),
    PropertySpec("heading", DataType.TEXT, searchable=True),
    PropertySpec("text", DataType.TEXT, searchable=True),
    PropertySpec("position", DataType.INT),
    PropertySpec("revision", DataType.TEXT),  # which replace_document wrote it
)

DOCUMENT_PROPERTIES: tuple[PropertySpec, ...] = (
    PropertySpec("document_id", DataType.TEXT),
    PropertySpec("source", DataType.TEXT),
    PropertySpec("content_type", DataType.TEXT),
    PropertySpec("content_hash", DataType.TEXT),
    PropertySpec("chunk_count", DataType.INT),
    PropertySpec("byte_count", DataType.INT),
    PropertySpec("updated_at", DataType.DATE),
)

#: What BM25 searches: heading and text, as the embedded backend's FTS5 index does.
BM25_PROPERTIES = ["heading", "text"]


def check_collection_name(name: str) -> str:
    if not _COLLECTION_RE.fullmatch(name):
        raise ValueError(
            f"invalid Weaviate collection name {name!r}: a capital letter, then letters, "
            "digits or underscores"
        )
    return name


def tenant_name(business_id: str) -> str:
    """The Weaviate tenant holding ``business_id``'s data (an injective mapping).

    Lower-case subject tokens (the normal business ids) are used as they are, so tenants stay
    readable; anything else becomes ``X`` + 48 hex digits of its SHA-256 — the capital ``X``
    keeps it apart from every verbatim name.
    """
    if not business_id:
        raise ValueError("empty business id")
    if _VERBATIM_TENANT_RE.fullmatch(business_id):
        return business_id
    return "X" + hashlib.sha256(business_id.encode("utf-8")).hexdigest()[:48]


def chunk_uuid(business_id: str, chunk_id: str) -> uuid.UUID:
    return uuid.uuid5(_ID_NAMESPACE, f"chunk\x00{business_id}\x00{chunk_id}")


def document_uuid(business_id: str, document_id: str) -> uuid.UUID:
    return uuid.uuid5(_ID_NAMESPACE, f"document\x00{business_id}\x00{document_id}")


def document_filter(document_id: str) -> FilterReturn:
    return Filter.by_property("document_id").equal(document_id)


def documents_filter(document_ids: Sequence[str]) -> FilterReturn:
    return Filter.by_property("document_id").contains_any(list(document_ids))


def stale_chunks_filter(document_id: str, revision: str) -> FilterReturn:
    """The document's chunks not written by the replacement tagged ``revision``."""
    return Filter.all_of(
        [document_filter(document_id), Filter.by_property("revision").not_equal(revision)]
    )


def plan_migration(
    collection: str,
    multi_tenancy_enabled: bool,
    existing: Mapping[str, str],
    wanted: Sequence[PropertySpec],
    vector_names: Set[str],
) -> list[PropertySpec]:
    """The properties to add to an existing collection; refuses what cannot be migrated.

    ``existing`` maps property names to Weaviate data type names (``"text"``, ``"int"``...);
    ``vector_names`` are the collection's named vectors.
    """
    if not multi_tenancy_enabled:
        raise WeaviateSchemaError(
            f"Weaviate collection {collection!r} exists without multi-tenancy; the knowledge "
            "service needs one tenant per business and will not mix businesses in one index. "
            "Drop or rename the collection (or configure another name) and restart."
        )
    if VECTOR_NAME not in vector_names:
        raise WeaviateSchemaError(
            f"Weaviate collection {collection!r} has no named vector {VECTOR_NAME!r} "
            f"(it has {sorted(vector_names) or 'none'}); it was not created by this service"
        )
    lowered = {name.lower(): data_type for name, data_type in existing.items()}
    missing: list[PropertySpec] = []
    for spec in wanted:
        found = lowered.get(spec.name.lower())
        if found is None:
            missing.append(spec)
        elif found != spec.data_type.value:
            raise WeaviateSchemaError(
                f"Weaviate collection {collection!r}: property {spec.name!r} is {found!r}, "
                f"expected {spec.data_type.value!r}; refusing to use it"
            )
    return missing
