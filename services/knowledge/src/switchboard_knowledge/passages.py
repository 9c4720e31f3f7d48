"""Hits of one section merged into one passage.

Why: every chunk of a section is embedded with the section's heading, so a question that
matches the heading brings up several chunks of that section at once, and they crowd the few
results the agent hands the model (three of the top five for "how do I report a bug", with
the answer's command in the third). Merged, the section is one result holding all of its
chunks that matched, in document order, and the other places are left to other sections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise

from .backends.base import ScoredChunk

#: How many chunks the backend is asked for per result wanted, so that merging still leaves
#: ``top_k`` distinct sections.
POOL_FACTOR = 3
#: The most chunks asked for in one search.
POOL_MAX = 50
#: Between two chunks of a section that are not next to each other.
GAP = "\n\n…\n\n"
#: The longest passage, in characters: what the agent hands the model of all its results
#: (600 tokens, counted as 4 characters each, from the start). A passage is its section's best
#: chunks that fit, so the best chunk of a long section is never the part cut off.
MAX_PASSAGE_CHARS = 2400


def pool_size(top_k: int) -> int:
    return min(max(top_k * POOL_FACTOR, top_k), POOL_MAX)


def _position(chunk: ScoredChunk) -> int | None:
    """The chunk's place in its document (chunk ids are ``<document id>-<position>``)."""
    tail = chunk.chunk_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _without_overlap(before: str, after: str) -> str:
    """``after`` less the start it repeats from the end of ``before`` (chunks of a section
    overlap by a few sentences, so the reader has context at a chunk's start)."""
    probe = after[:40]
    if not probe:
        return after
    start = before.find(probe)
    while start != -1:
        repeated = len(before) - start
        if after.startswith(before[start:]):
            return after[repeated:].lstrip()
        start = before.find(probe, start + 1)
    return after


def _merge(chunks: list[ScoredChunk]) -> ScoredChunk:
    best = max(chunks, key=lambda c: c.score)
    ordered = sorted(chunks, key=lambda c: _position(c) or 0)
    text = ordered[0].text
    for previous, chunk in pairwise(ordered):
        before, after = _position(previous), _position(chunk)
        if before is not None and after == before + 1:
            rest = _without_overlap(previous.text, chunk.text)
            text = f"{text}\n\n{rest}" if rest else text
        else:
            text = f"{text}{GAP}{chunk.text}"
    return replace(best, text=text)


def merge_sections(chunks: Sequence[ScoredChunk], top_k: int) -> list[ScoredChunk]:
    """The ``top_k`` best sections among ``chunks`` (best first), each one passage: its
    best matching chunks that fit in :data:`MAX_PASSAGE_CHARS` together, in document order,
    scored as its best chunk and named by its id. Chunks whose id carries no position are left
    as they are."""
    groups: dict[tuple[str, str], list[ScoredChunk]] = {}
    order: list[tuple[str, str]] = []
    for chunk in sorted(chunks, key=lambda c: c.score, reverse=True):
        key = (chunk.document_id, chunk.heading)
        if _position(chunk) is None:
            key = (chunk.document_id, f"\0{chunk.chunk_id}")
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(chunk)
    return [_merge(_fitting(groups[key])) for key in order[:top_k]]


def _fitting(best_first: list[ScoredChunk]) -> list[ScoredChunk]:
    """The best chunk, and each next best that still fits the passage's length (counting the
    longest separator between chunks)."""
    kept = best_first[:1]
    used = len(kept[0].text)
    for chunk in best_first[1:]:
        if used + len(GAP) + len(chunk.text) <= MAX_PASSAGE_CHARS:
            kept.append(chunk)
            used += len(GAP) + len(chunk.text)
    return kept
