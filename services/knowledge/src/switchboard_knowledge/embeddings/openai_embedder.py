"""Embeddings from OpenAI's API (``text-embedding-3-small`` by default), batched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import openai
from openai import AsyncOpenAI

from .base import EmbeddingUnavailable, Vectors, batches, empty_vectors, l2_normalise

OPENAI_DEFAULT_MODEL = "text-embedding-3-small"
#: Native sizes. The text-embedding-3 models can return fewer (``dimensions=``).
OPENAI_MODEL_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
OPENAI_DEFAULT_DIMENSIONS = OPENAI_MODEL_DIMENSIONS[OPENAI_DEFAULT_MODEL]
#: Inputs per request (the API takes up to 2048 inputs and 300k tokens per request).
OPENAI_BATCH = 256
OPENAI_TIMEOUT_S = 10.0


class OpenAIEmbedder:
    """``AsyncOpenAI.embeddings.create`` behind the :class:`Embedder` contract.

    Any API error, connection error or timeout becomes :class:`EmbeddingUnavailable`. The
    SDK retries connection errors, 408/409/429 and 5xx ``max_retries`` times with backoff.
    Pass ``client`` to reuse one (e.g. in tests: ``AsyncOpenAI(base_url=...)``).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str = OPENAI_DEFAULT_MODEL,
        dimensions: int | None = None,
        batch_size: int = OPENAI_BATCH,
        timeout: float = OPENAI_TIMEOUT_S,
        max_retries: int = 2,
        client: AsyncOpenAI | None = None,
    ) -> None:
        native = OPENAI_MODEL_DIMENSIONS.get(model)
        if dimensions is None:
            if native is None:
                raise ValueError(f"give the dimensions of unknown model {model!r}")
            dimensions = native
        if dimensions < 1:
            raise ValueError("dimensions must be positive")
        self.model = model
        self.dimensions = dimensions
        #: Shortened text-embedding-3 vectors differ from the full ones: the size is in the name.
        self.name = f"openai/{model}@{dimensions}"
        # Only the text-embedding-3 models accept ``dimensions``; ada-002 refuses it.
        self._send_dimensions = dimensions != native or model.startswith("text-embedding-3")
        self._batch_size = batch_size
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client or AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return empty_vectors(self.dimensions)
        parts = [await self._embed_batch(batch) for batch in batches(list(texts), self._batch_size)]
        return np.concatenate(parts)

    async def _embed_batch(self, texts: Sequence[str]) -> Vectors:
        # The API refuses empty strings; a blank embeds like one.
        inputs = [t if t.strip() else " " for t in texts]
        extra: dict[str, Any] = {"dimensions": self.dimensions} if self._send_dimensions else {}
        try:
            response = await self._client.embeddings.create(
                model=self.model, input=inputs, timeout=self._timeout, **extra
            )
        except openai.APIStatusError as exc:
            raise EmbeddingUnavailable(f"OpenAI embeddings failed: {exc.message}") from exc
        except (openai.OpenAIError, TimeoutError) as exc:
            raise EmbeddingUnavailable(f"OpenAI embeddings failed: {exc!r}") from exc
        data = sorted(response.data, key=lambda d: d.index)
        if len(data) != len(inputs):
            raise EmbeddingUnavailable(
                f"OpenAI returned {len(data)} embeddings for {len(inputs)} inputs"
            )
        try:
            vectors = np.asarray([d.embedding for d in data], dtype=np.float32)
        except ValueError as exc:  # ragged rows
            raise EmbeddingUnavailable(f"OpenAI returned malformed embeddings: {exc}") from exc
        if vectors.shape != (len(inputs), self.dimensions):
            raise EmbeddingUnavailable(
                f"OpenAI returned shape {vectors.shape}, expected "
                f"({len(inputs)}, {self.dimensions})"
            )
        return l2_normalise(vectors)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()
