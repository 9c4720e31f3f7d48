"""make_embedder: the configured provider, behind the cache unless it is switched off."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from switchboard_knowledge.embeddings import (
    CACHE_FILE,
    LOCAL_DIMENSIONS,
    OPENAI_DEFAULT_DIMENSIONS,
    CachedEmbedder,
    LocalEmbedder,
    OpenAIEmbedder,
    make_embedder,
)
from switchboard_knowledge.settings import KnowledgeSettings


def settings(tmp_path: Path, **kwargs: object) -> KnowledgeSettings:
    return KnowledgeSettings(data_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_local_is_the_default_and_cached_on_disk(tmp_path: Path) -> None:
    embedder = make_embedder(settings(tmp_path))
    assert isinstance(embedder, CachedEmbedder)
    assert isinstance(embedder.inner, LocalEmbedder)
    assert embedder.path == tmp_path / CACHE_FILE
    assert embedder.dimensions == LOCAL_DIMENSIONS == 384


def test_cache_can_be_switched_off(tmp_path: Path) -> None:
    embedder = make_embedder(settings(tmp_path, embedding_cache=False))
    assert isinstance(embedder, LocalEmbedder)


def test_openai(tmp_path: Path) -> None:
    embedder = make_embedder(
        settings(
            tmp_path, embedder="openai", openai_api_key=SecretStr("sk-test"), embedding_cache=False
        )
    )
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.dimensions == OPENAI_DEFAULT_DIMENSIONS == 1536


def test_openai_needs_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        make_embedder(settings(tmp_path, embedder="openai"))
