"""'No answer' is an answer: the calibrated threshold, on the calibration set it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard_knowledge.backends.embedded import EmbeddedBackend
from switchboard_knowledge.calibrate import calibrate
from switchboard_knowledge.embeddings.local import LOCAL_MODEL
from switchboard_knowledge.relevance import calibrated_threshold, choose_threshold

CALIBRATION = Path(__file__).parents[2] / "fixtures" / "knowledge" / "calibration"


def test_choose_threshold_separates_and_prefers_answers() -> None:
    threshold = choose_threshold([0.5, 0.6, 0.7], [0.1, 0.2, 0.3])
    assert 0.3 < threshold < 0.5
    # Overlap: the best balanced accuracy, not a threshold that turns every answer away.
    overlapping = choose_threshold([0.25, 0.5, 0.6, 0.7], [0.1, 0.2, 0.3])
    assert 0.2 < overlapping < 0.5


def test_only_calibrated_pairs_have_a_threshold() -> None:
    assert calibrated_threshold(f"local/{LOCAL_MODEL}@abc", EmbeddedBackend.name) is not None
    assert calibrated_threshold(f"local/{LOCAL_MODEL}@abc", "weaviate") is None
    assert calibrated_threshold("openai/text-embedding-3-small", "embedded") is None


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
    assert result.top1_correct / len(result.answerable) >= 0.8
