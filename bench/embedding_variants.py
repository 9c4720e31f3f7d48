"""How the local model is run, measured side by side: ``python -m bench.embedding_variants``.

Issue 12, part 7. The same chunks (the evaluation's documents, chunked as the service chunks
them) embedded in one process by each way of running all-MiniLM-L6-v2:

* **float, as before**: the shipped model as ONNX Runtime optimises it (its int8 weights
  folded back to float32), 8 texts a run over both cores, batches sorted by length;
* **int8, all**: re-quantized for int8 arithmetic, every MatMul with constant weights;
* **int8, down-projections in float (chosen)**: the same, the feed-forward down-projections
  left in float (what :mod:`switchboard_knowledge.embeddings.quantized` builds);

the int8 ones one text a run, one thread a run, a run per core. Each in a process of its own
(memory figures in one process would depend on the order). For each: the session's RSS,
chunks per second and per CPU-second, peak RSS while embedding, a short query's latency on
one thread, and the cosine of its vectors to the float model's (how far quantization moved
them). Retrieval quality is ``make eval``'s job.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from switchboard_knowledge.documents.chunking import chunk_sections
from switchboard_knowledge.documents.extract import markdown_sections
from switchboard_knowledge.embeddings.local import (
    Runtime,
    default_model_path,
    default_tokenizer_path,
    load_runtime,
)
from switchboard_knowledge.embeddings.quantized import convert, ensure_quantized

from .knowledge_memory import corpus

QUERIES = [
    "um so like what time do you open on sundays",
    "can I bring my dog into the shop with me",
    "how do I descale the machine",
    "do you take walk-ins or do I need an appointment",
]


Loader = Callable[[], Runtime]
Embedding = Callable[[Runtime, list[str]], np.ndarray]


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 1e6


@dataclass
class Figures:
    name: str
    session_mb: float
    chunks_per_s: float
    per_cpu_s: float
    peak_over_loaded_mb: float
    query_ms: float


def _float_batches(runtime: Runtime, texts: list[str]) -> np.ndarray:
    """The way before: 8 texts a run (sorted by length, padded), ONNX Runtime's threads."""
    tokenizer = runtime.tokenizer
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.empty((len(texts), 384), dtype=np.float32)
    for start in range(0, len(order), 8):
        rows = order[start : start + 8]
        encodings = tokenizer.encode_batch([texts[i] for i in rows])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = runtime.session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    tokenizer.no_padding()
    return out


def _one_per_run(runtime: Runtime, texts: list[str], workers: int) -> np.ndarray:
    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(runtime.encode, texts)))


def _measure(
    name: str, load: Loader, embed: Embedding, texts: list[str]
) -> tuple[Figures, np.ndarray]:
    before = _rss_mb()
    runtime = load()
    runtime.encode("warm up")
    loaded = _rss_mb()
    timings = []
    for query in QUERIES * 10:
        started = time.perf_counter()
        runtime.encode(query)
        timings.append((time.perf_counter() - started) * 1000)
    peak = loaded
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.wait(0.01):
            peak = max(peak, _rss_mb())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = embed(runtime, texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done.set()
    watcher.join()
    return (
        Figures(
            name,
            loaded - before,
            len(texts) / wall,
            len(texts) / cpu,
            peak - loaded,
            statistics.median(timings),
        ),
        vectors,
    )


def _variants(shipped: Path, all_int8: Path, workers: int) -> list[tuple[str, Loader, Embedding]]:
    return [
        ("float, as before", lambda: _float_runtime(shipped), _float_batches),
        (
            "int8, all",
            lambda: load_runtime(all_int8, default_tokenizer_path()),
            lambda r, t: _one_per_run(r, t, workers),
        ),
        (
            "int8, down-projections in float (chosen)",
            lambda: load_runtime(ensure_quantized(shipped), default_tokenizer_path()),
            lambda r, t: _one_per_run(r, t, workers),
        ),
    ]


def _child(args: argparse.Namespace, texts: list[str]) -> None:
    """One variant in this (fresh) process: its memory figures are its own."""
    name, load, embed = _variants(default_model_path(), args.all_int8, args.workers)[args.variant]
    figures, vectors = _measure(name, load, embed, texts)
    np.save(args.vectors, vectors)
    print(json.dumps(asdict(figures)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=int, default=300, help="KB of Markdown to embed")
    parser.add_argument("--workers", type=int, default=2, help="runs at once (int8)")
    parser.add_argument("--variant", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--all-int8", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--vectors", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # onnxruntime's quantizer advises "pre-processing" on the root logger: not for us.
    logging.basicConfig(level=logging.ERROR)
    texts = [
        chunk.embedding_text
        for document in corpus(args.kb * 1000)
        for chunk in chunk_sections(markdown_sections(document.encode()))
    ]
    if args.variant is not None:
        _child(args, texts)
        return
    print(f"{len(texts)} chunks; {args.workers} runs at once for the int8 models")
    print(
        "| variant | session MB | chunks/s | per CPU-s | peak over loaded MB "
        "| query ms (1 thread) | cosine to float min / mean |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="sb-variants-") as work:
        all_int8 = Path(work, "all-int8.onnx")
        convert(default_model_path(), all_int8, down_projections_in_float=False)
        reference: np.ndarray | None = None
        for index in range(3):
            vectors_file = Path(work, f"{index}.npy")
            command = [
                sys.executable, "-m", "bench.embedding_variants", "--variant", str(index),
                "--all-int8", str(all_int8), "--vectors", str(vectors_file),
                "--kb", str(args.kb), "--workers", str(args.workers),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            figures = Figures(**json.loads(done.stdout.strip().splitlines()[-1]))
            vectors = np.load(vectors_file)
            reference = vectors if reference is None else reference
            cosines = (vectors * reference).sum(axis=1)
            print(
                f"| {figures.name} | {figures.session_mb:.0f} | {figures.chunks_per_s:.1f} "
                f"| {figures.per_cpu_s:.1f} | {figures.peak_over_loaded_mb:.0f} "
                f"| {figures.query_ms:.2f} | {cosines.min():.4f} / {cosines.mean():.4f} |"
            )


def _float_runtime(shipped: Path) -> Runtime:
    """The shipped model as the service loaded it before: ONNX Runtime's threads (0 = one a
    core) and its full optimisation, which folds the int8 weights to float."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(str(shipped), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(default_tokenizer_path()))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.no_padding()
    return Runtime(tokenizer, session, frozenset(i.name for i in session.get_inputs()))


if __name__ == "__main__":
    main()
