"""When is a hit an answer? A relevance threshold per embedder and backend, calibrated.

A query whose best hit scores below the threshold gets "no answer" (the documents do not
cover it) rather than unrelated passages. The threshold depends on the score's scale, so on
the embedder and on how the backend fuses scores; only calibrated pairs have one. Calibrate
with ``python -m switchboard_knowledge.calibrate DIR`` on data written for it (never on a
held-out evaluation split): it picks the score that best separates answerable questions'
best-hit scores from unanswerable ones' (balanced accuracy).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from .embeddings.local import LOCAL_MODEL

#: (embedder name prefix, backend name) → threshold on the backend's score.
#: local/embedded: calibrated on tests/fixtures/knowledge/calibration with the default alpha
#: (0.9) and fillers out of the keyword query (docs/knowledge-quality.md).
CALIBRATED: dict[tuple[str, str], float] = {
    (f"local/{LOCAL_MODEL}", "embedded"): 0.233,
}


def calibrated_threshold(embedder_name: str, backend_name: str) -> float | None:
    """The calibrated threshold for this pair, or None (no judgement: every hit passes)."""
    for (prefix, backend), threshold in CALIBRATED.items():
        if embedder_name.startswith(prefix) and backend == backend_name:
            return threshold
    return None


def choose_threshold(answerable: Sequence[float], unanswerable: Sequence[float]) -> float:
    """The threshold with the best balanced accuracy (Youden's J: share of unanswerable
    questions turned away minus share of answerable ones turned away), midway between
    neighbouring scores; the lower one on a tie, as turning an answer away costs more."""
    if not answerable or not unanswerable:
        raise ValueError("calibration needs answerable and unanswerable questions")
    scores = sorted({*answerable, *unanswerable})
    candidates = [(a + b) / 2 for a, b in itertools.pairwise(scores)] or scores

    def gain(threshold: float) -> float:
        turned_away = sum(s < threshold for s in unanswerable) / len(unanswerable)
        wrongly = sum(s < threshold for s in answerable) / len(answerable)
        return turned_away - wrongly

    best = max(candidates, key=lambda t: (gain(t), -t))
    return round(best, 3)
