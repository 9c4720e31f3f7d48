"""'No answer' is an answer: the calibrated threshold, on the calibration set it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard_knowledge.backends.embedded import EmbeddedBackend
from switchboard_knowledge.backends.weaviate import WeaviateBackend
from switchboard_knowledge.calibrate import backend_from_args, calibrate, parse_args
from switchboard_knowledge.embeddings.local import LOCAL_DIMENSIONS, LOCAL_MODEL
from switchboard_knowledge.relevance import (
    CALIBRATED,
    CARRIED_OVER,
    calibrated_threshold,
    choose_threshold,
    threshold_for,
)

CALIBRATION = Path(__file__).parents[2] / "fixtures" / "knowledge" / "calibration"


def test_choose_threshold_separates_and_prefers_answers() -> None:
    threshold = choose_threshold([0.5, 0.6, 0.7], [0.1, 0.2, 0.3])
    assert 0.3 < threshold < 0.5
    # Overlap: the best balanced accuracy, not a threshold that turns every answer away.
    overlapping = choose_threshold([0.25, 0.5, 0.6, 0.7], [0.1, 0.2, 0.3])
    assert 0.2 < overlapping < 0.5


def test_only_calibrated_pairs_have_a_calibrated_threshold() -> None:
    assert calibrated_threshold(f"local/{LOCAL_MODEL}@abc", EmbeddedBackend.name) is not None
    assert calibrated_threshold(f"local/{LOCAL_MODEL}@abc", WeaviateBackend.name) is None
    assert calibrated_threshold("openai/text-embedding-3-small", "embedded") is None


def test_what_a_service_applies_and_why() -> None:
    local = f"local/{LOCAL_MODEL}@abc"
    embedded = threshold_for(local, EmbeddedBackend.name)
    assert embedded.value == calibrated_threshold(local, EmbeddedBackend.name)
    assert embedded.basis.startswith("calibrated for")
    # Weaviate scores on the embedded scale (backends.fusion) and takes its threshold over.
    weaviate = threshold_for(local, WeaviateBackend.name)
    assert weaviate.value == embedded.value
    assert "carried over" in weaviate.basis
    assert "calibrate --backend weaviate" in weaviate.basis
    # Configured beats both; an unknown pair makes no judgement and says so.
    assert threshold_for(local, WeaviateBackend.name, 0.4).value == 0.4
    assert "KNOWLEDGE_RELEVANCE_THRESHOLD" in threshold_for(local, "weaviate", 0.4).basis
    openai = threshold_for("openai/text-embedding-3-small", WeaviateBackend.name)
    assert openai.value is None
    assert "no query is told 'no answer'" in openai.basis


def test_a_threshold_is_carried_over_only_from_a_calibrated_pair() -> None:
    assert set(CARRIED_OVER.values()) <= set(CALIBRATED)
    assert not set(CARRIED_OVER) & set(CALIBRATED)


def test_the_calibration_tool_can_calibrate_weaviate() -> None:
    assert backend_from_args(parse_args(["dir"])) is None  # a temporary embedded backend
    args = parse_args(
        ["dir", "--backend", "weaviate", "--weaviate-host", "kb.test", "--weaviate-grpc-port", "7"]
    )
    backend = backend_from_args(args)
    assert isinstance(backend, WeaviateBackend)
    assert backend.dimensions == LOCAL_DIMENSIONS
    assert backend.where == "http://kb.test:8080 (gRPC port 7)"
    # Collections of its own: production's are never written to.
    assert (backend.collection, backend.document_collection) == (
        "CalibrationChunk",
        "CalibrationDocument",
    )


async def test_shipped_threshold_is_the_one_calibration_picks() -> None:
    result = await calibrate(CALIBRATION)
    shipped = calibrated_threshold(f"local/{LOCAL_MODEL}@x", EmbeddedBackend.name)
    assert shipped == pytest.approx(result.threshold, abs=0.01)
    assert shipped is not None
    turned_away = sum(s < shipped for s in result.unanswerable) / len(result.unanswerable)
    wrongly = sum(s < shipped for s in result.answerable) / len(result.answerable)
    # 9 of 10 turned away, 3 of 14 answerable wrongly (alpha 0.9; docs/knowledge-quality.md).
    assert turned_away >= 0.8
    assert wrongly <= 0.22
    # 11 of 14 first (12 when the model ran in float: one paraphrase now second).
    assert result.top1_correct >= 11


async def test_calibrating_a_given_backend_leaves_nothing_in_it(tmp_path: Path) -> None:
    """The path --backend weaviate takes, with an embedded backend standing in for Weaviate."""
    result = await calibrate(CALIBRATION, backend=EmbeddedBackend(tmp_path, LOCAL_DIMENSIONS))
    assert result.threshold == (await calibrate(CALIBRATION)).threshold
    reopened = EmbeddedBackend(tmp_path, LOCAL_DIMENSIONS)
    await reopened.start()
    try:
        assert await reopened.count_chunks("calibration") == 0
        assert await reopened.list_documents("calibration") == []
    finally:
        await reopened.close()
