"""The "no answer" threshold Weaviate uses, checked on Weaviate (where Docker runs).

relevance.CARRIED_OVER gives local/weaviate the embedded backend's threshold, on the ground
that both score with backends.fusion and only the BM25 side differs. This calibrates Weaviate
itself through the real pipeline, on the same set and with the same bounds as the embedded
pair (tests/unit/knowledge/test_relevance.py). If it fails, register the threshold it prints
in relevance.CALIBRATED for (local, weaviate).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from switchboard_knowledge.backends.weaviate import WeaviateBackend
from switchboard_knowledge.calibrate import calibrate
from switchboard_knowledge.embeddings.local import LOCAL_DIMENSIONS, LOCAL_MODEL
from switchboard_knowledge.relevance import threshold_for

from .conftest import WEAVIATE_TEST_TIMEOUT_S

CALIBRATION = Path(__file__).parents[2] / "fixtures" / "knowledge" / "calibration"

pytestmark = [pytest.mark.weaviate, pytest.mark.timeout(WEAVIATE_TEST_TIMEOUT_S)]


async def test_the_threshold_weaviate_uses_holds_on_weaviate(weaviate_server: Any) -> None:
    suffix = uuid.uuid4().hex[:12]
    backend = WeaviateBackend(
        dimensions=LOCAL_DIMENSIONS,
        http_host=weaviate_server.host,
        http_port=weaviate_server.http_port,
        grpc_host=weaviate_server.host,
        grpc_port=weaviate_server.grpc_port,
        collection=f"CalibrationChunk{suffix}",
        document_collection=f"CalibrationDocument{suffix}",
        timeout_s=30.0,
    )
    result = await calibrate(CALIBRATION, backend=backend)
    used = threshold_for(f"local/{LOCAL_MODEL}@x", WeaviateBackend.name).value
    assert used is not None
    turned_away = sum(s < used for s in result.unanswerable) / len(result.unanswerable)
    wrongly = sum(s < used for s in result.answerable) / len(result.answerable)
    figures = (
        f"Weaviate calibrates to {result.threshold}; at {used}: {turned_away:.2f} of unanswerable "
        f"questions turned away, {wrongly:.2f} of answerable ones wrongly"
    )
    assert turned_away >= 0.8, figures
    assert wrongly <= 0.22, figures
    assert result.top1_correct / len(result.answerable) >= 0.8, figures
    assert used == pytest.approx(result.threshold, abs=0.02), figures
