"""The local model re-quantized for int8 arithmetic: converted once, the same bytes every time,
close to the model as shipped, and a clear error where it cannot be written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from switchboard_knowledge.embeddings import EmbeddingUnavailable, LocalEmbedder
from switchboard_knowledge.embeddings.local import default_model_path
from switchboard_knowledge.embeddings.quantized import (
    default_model_dir,
    ensure_quantized,
    feed_forward_outputs,
    quantized_path,
)

CALLER_TEXTS = [
    "um so what time do you open on sundays",
    "Our clinic is open Monday to Friday from 8am to 6pm and Saturday mornings.",
    "Can I get my money back if the blender stops working after a month?",
    "Refunds are issued to the original card within five business days.",
]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_converted_once_into_its_directory_then_reused(tmp_path: Path) -> None:
    model = ensure_quantized(default_model_path(), tmp_path)
    assert model.parent == tmp_path
    assert model == quantized_path(default_model_path(), tmp_path)
    stamp = model.stat().st_mtime_ns
    assert ensure_quantized(default_model_path(), tmp_path) == model
    assert model.stat().st_mtime_ns == stamp  # not converted again
    assert [p.name for p in tmp_path.iterdir()] == [model.name]  # no staging file left


def test_the_conversion_gives_the_same_bytes_each_time(tmp_path: Path) -> None:
    """Replicas that convert on their own run the same model as an image built elsewhere."""
    here = ensure_quantized(default_model_path(), tmp_path)
    shared = ensure_quantized(default_model_path(), default_model_dir())
    assert _sha(here) == _sha(shared)


def test_feed_forward_down_projections_stay_in_float(tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(ensure_quantized(default_model_path(), tmp_path)))
    ops = [node.op_type for node in model.graph.node]
    # 6 layers x (Q, K, V, attention output, feed-forward up) in int8; 6 down-projections kept.
    assert ops.count("MatMulInteger") == 30
    assert "DequantizeLinear" not in ops


def test_vectors_stay_close_to_the_model_run_in_float() -> None:
    quantized = LocalEmbedder().embed_sync(CALLER_TEXTS)
    floated = LocalEmbedder(model_path=default_model_path()).embed_sync(CALLER_TEXTS)
    cosines = (quantized * floated).sum(axis=1)
    assert cosines.min() > 0.99, cosines
    # ... and not merely the same file under another name.
    assert not np.array_equal(quantized, floated)


def test_an_unwritable_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocked = tmp_path / "a-file"
        blocked.write_text("not a directory")  # even root cannot create a directory in a file
    else:
        blocked = tmp_path / "read-only"
        blocked.mkdir(mode=0o500)
    with pytest.raises(EmbeddingUnavailable, match="KNOWLEDGE_MODEL_DIR"):
        ensure_quantized(default_model_path(), blocked / "models")


def test_the_down_projections_are_found_by_their_weight_shape(tmp_path: Path) -> None:
    import onnxruntime as ort

    folded = tmp_path / "folded.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(default_model_path()), sess_options=options)
    assert len(feed_forward_outputs(folded)) == 6
