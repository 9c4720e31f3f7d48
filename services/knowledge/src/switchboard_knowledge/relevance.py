"""When is a hit an answer? A relevance threshold per embedder and backend, calibrated.

A query whose best hit scores below the threshold gets "no answer" (the documents do not
cover it) rather than unrelated passages. The threshold depends on the score's scale, so on
the embedder and on how the backend fuses scores: calibrated pairs have one, and a pair whose
scores are on a calibrated pair's scale carries that one over until it is calibrated itself
(:data:`CARRIED_OVER`, with the reason). Calibrate with ``python -m
switchboard_knowledge.calibrate DIR [--backend weaviate]`` on data written for it (never on a
held-out evaluation split): it picks the score that best separates answerable questions'
best-hit scores from unanswerable ones' (balanced accuracy).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from .embeddings.local import LOCAL_MODEL

LOCAL = f"local/{LOCAL_MODEL}"

#: (embedder name prefix, backend name) → threshold on the backend's score.
#: local/embedded: calibrated on tests/fixtures/knowledge/calibration with the default alpha
#: (0.9) and fillers out of the keyword query (docs/knowledge-quality.md): 0.243 for the
#: model run with int8 arithmetic (0.233 when it ran in float; the same calibration questions
#: fall either side of both).
CALIBRATED: dict[tuple[str, str], float] = {
    (LOCAL, "embedded"): 0.243,
}

#: Pairs not calibrated themselves that use another pair's threshold until they are, because
#: their scores are on its scale.
#:
#: local/weaviate takes local/embedded's: both backends score with ``backends.fusion.fuse``
#: over the same stored vectors, so the vector side (alpha 0.9 of the score) is the same
#: number up to float rounding (f16 in usearch, f32 in Weaviate). Only the BM25 side differs
#: (Weaviate's BM25F without English stop words, FTS5's BM25 over the rarer query words), and
#: it is saturated into at most 0.1 of the score. Scaling that side by 0.25 to 2 (BM25_HALF 32
#: to 4), 0.233 (the threshold when the model ran in float) turned away the same unanswerable
#: questions and refused no more answerable ones, on the calibration set (9 of 10 turned away,
#: 3 of 14 answerable wrongly) and on the evaluation's dev split (Markdown and HTML: 2 of 4
#: turned away, at most 1 of 24 wrongly);
#: at 4 times, one unanswerable dev question got through (docs/knowledge-quality.md).
#: Not calibrated on Weaviate itself (no Docker where this was written):
#: tests/contract/knowledge/test_weaviate_calibration.py calibrates it where Docker runs and
#: fails if this value does not hold; ``python -m switchboard_knowledge.calibrate --backend
#: weaviate`` gives the figure to register in CALIBRATED.
CARRIED_OVER: dict[tuple[str, str], tuple[str, str]] = {
    (LOCAL, "weaviate"): (LOCAL, "embedded"),
}


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """The threshold a service applies (None: every hit passes) and where it comes from."""

    value: float | None
    basis: str


def calibrated_threshold(embedder_name: str, backend_name: str) -> float | None:
    """The threshold calibrated for this very pair, or None."""
    for (prefix, backend), threshold in CALIBRATED.items():
        if embedder_name.startswith(prefix) and backend == backend_name:
            return threshold
    return None


def threshold_for(
    embedder_name: str, backend_name: str, configured: float | None = None
) -> ThresholdChoice:
    """What a service applies: ``configured`` (KNOWLEDGE_RELEVANCE_THRESHOLD) when set, else
    the pair's calibrated threshold, else one carried over from a pair on the same scale,
    else none, in which case no hit is judged and no query is told "no answer"."""
    if configured is not None:
        return ThresholdChoice(configured, "set by KNOWLEDGE_RELEVANCE_THRESHOLD")
    calibrated = calibrated_threshold(embedder_name, backend_name)
    if calibrated is not None:
        return ThresholdChoice(calibrated, f"calibrated for {embedder_name} on {backend_name}")
    for (prefix, backend), (source_prefix, source_backend) in CARRIED_OVER.items():
        if embedder_name.startswith(prefix) and backend == backend_name:
            value = CALIBRATED[(source_prefix, source_backend)]
            return ThresholdChoice(
                value,
                f"calibrated on {source_backend}, carried over to {backend_name} (same score "
                f"scale) until calibrated there: python -m switchboard_knowledge.calibrate "
                f"--backend {backend_name}",
            )
    return ThresholdChoice(
        None,
        f"none calibrated for {embedder_name} on {backend_name}: every hit passes and no "
        "query is told 'no answer'; set KNOWLEDGE_RELEVANCE_THRESHOLD to judge",
    )


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
