"""The contract of an embedding provider."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt


class EmbeddingUnavailable(RuntimeError):
    """The provider cannot embed right now (e.g. the OpenAI API is unreachable)."""


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    #: Identifies the model; part of the cache key, so changing models never reuses vectors.
    name: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Shape (len(texts), dimensions). Raises :class:`EmbeddingUnavailable`."""

    async def aclose(self) -> None:
        """Release what the embedder holds (threads, connections, files)."""


Vectors = npt.NDArray[np.float32]


async def warm_up(embedder: Embedder) -> None:
    """Load what ``embedder`` loads lazily (a local model) now, through any wrapper such as
    the cache; a remote embedder has nothing to load."""
    inner: object = embedder
    while inner is not None:
        method = getattr(inner, "warm_up", None)
        if method is not None:
            await method()
            return
        inner = getattr(inner, "inner", None)


def empty_vectors(dimensions: int) -> Vectors:
    """The answer to an empty input: shape (0, dimensions)."""
    return np.zeros((0, dimensions), dtype=np.float32)


def l2_normalise(vectors: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit length, as float32 (an all-zero row stays zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    normalised: Vectors = (array / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
    return normalised


def batches(items: Sequence[str], size: int) -> list[Sequence[str]]:
    """``items`` cut into consecutive slices of at most ``size``."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [items[i : i + size] for i in range(0, len(items), size)]
