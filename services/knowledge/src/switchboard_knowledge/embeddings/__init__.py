"""Embedding providers: a local, offline one (the default) and OpenAI's.

``make_embedder(settings)`` builds the configured one, behind a content-hash cache
(:class:`CachedEmbedder`) unless ``KNOWLEDGE_EMBEDDING_CACHE=false``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Embedder, EmbeddingUnavailable, Vectors, l2_normalise
from .cache import CachedEmbedder
from .local import LOCAL_DIMENSIONS, LOCAL_MODEL, LocalEmbedder
from .openai_embedder import (
    OPENAI_DEFAULT_DIMENSIONS,
    OPENAI_DEFAULT_MODEL,
    OPENAI_MODEL_DIMENSIONS,
    OpenAIEmbedder,
)

if TYPE_CHECKING:
    from ..settings import KnowledgeSettings

__all__ = [
    "CACHE_FILE",
    "EMBEDDER_KINDS",
    "LOCAL_DIMENSIONS",
    "LOCAL_MODEL",
    "OPENAI_DEFAULT_DIMENSIONS",
    "OPENAI_DEFAULT_MODEL",
    "OPENAI_MODEL_DIMENSIONS",
    "CachedEmbedder",
    "Embedder",
    "EmbeddingUnavailable",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "Vectors",
    "l2_normalise",
    "make_embedder",
]

EMBEDDER_KINDS = ("local", "openai")
#: The cache's file name inside ``settings.data_dir``.
CACHE_FILE = "embedding-cache.sqlite3"


def make_embedder(settings: KnowledgeSettings) -> Embedder:
    """The embedder that ``settings.embedder`` names: ``"local"`` (default) or ``"openai"``.

    Reads ``embedder``, ``model_dir``, ``openai_api_key``, ``openai_base_url``,
    ``embedding_cache`` and ``data_dir``; and, when the settings have them,
    ``openai_embedding_model`` and ``openai_embedding_dimensions``. The model is not loaded
    here (first use loads it).
    """
    kind = getattr(settings, "embedder", "local")
    inner: Embedder
    if kind == "local":
        inner = LocalEmbedder(model_dir=getattr(settings, "model_dir", None))
    elif kind == "openai":
        key = settings.openai_api_key
        if key is None or not key.get_secret_value():
            raise ValueError("the openai embedder needs OPENAI_API_KEY")
        inner = OpenAIEmbedder(
            api_key=key.get_secret_value(),
            base_url=settings.openai_base_url,
            model=getattr(settings, "openai_embedding_model", None) or OPENAI_DEFAULT_MODEL,
            dimensions=getattr(settings, "openai_embedding_dimensions", None),
        )
    else:
        raise ValueError(f"unknown embedder {kind!r}; expected one of {EMBEDDER_KINDS}")
    if not settings.embedding_cache:
        return inner
    return CachedEmbedder(inner, settings.data_dir / CACHE_FILE)
