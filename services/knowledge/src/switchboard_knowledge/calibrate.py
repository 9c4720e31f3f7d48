"""``python -m switchboard_knowledge.calibrate DIR``: best-hit scores of a calibration set and
the threshold :func:`~.relevance.choose_threshold` picks from them.

``DIR/questions.json`` names a document in ``DIR`` and lists answerable questions (with the
heading their answer is under) and unanswerable ones. The document is ingested through the
real pipeline (extract, chunk, local embedder, embedded backend) into a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mimetypes
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard_common.knowledge import KnowledgeQuery

from .backends.embedded import EmbeddedBackend
from .backends.fusion import DEFAULT_ALPHA
from .embeddings.local import LOCAL_DIMENSIONS, LocalEmbedder, WordPieceCounter
from .fillers import strip_fillers
from .relevance import choose_threshold
from .service import KnowledgeService

BUSINESS = "calibration"


class _OneBusiness:
    """A directory that knows one business (calibration needs no profile)."""

    def get(self, business_id: str) -> Any:
        return object() if business_id == BUSINESS else None

    def by_number(self, number: str) -> Any:
        return None

    def all(self) -> list[Any]:
        return []


@dataclass
class Calibration:
    answerable: list[float] = field(default_factory=list)
    unanswerable: list[float] = field(default_factory=list)
    top1_correct: int = 0

    @property
    def threshold(self) -> float:
        return choose_threshold(self.answerable, self.unanswerable)


async def calibrate(
    directory: Path,
    alpha: float = DEFAULT_ALPHA,
    keyword_text: Callable[[str], str] | None = strip_fillers,
) -> Calibration:
    """Best-hit scores of the calibration questions, with the service configured as given
    (the vector weight ``alpha`` and the keyword side's query text change the scale)."""
    spec = json.loads((directory / "questions.json").read_text())
    document = directory / spec["document"]
    content_type = mimetypes.guess_type(document.name)[0] or "text/markdown"
    embedder = LocalEmbedder()
    result = Calibration()
    with tempfile.TemporaryDirectory() as data_dir:
        backend = EmbeddedBackend(Path(data_dir), LOCAL_DIMENSIONS, alpha=alpha)
        await backend.start()
        try:
            service = KnowledgeService(
                backend,
                embedder,
                _OneBusiness(),
                token_counter=WordPieceCounter(),
                keyword_text=keyword_text,
            )
            service.relevance_threshold = None  # raw scores: every hit comes back
            await service.ingest(BUSINESS, document.name, content_type, document.read_bytes())
            for question, heading in spec["answerable"]:
                reply = await service.query(KnowledgeQuery(business_id=BUSINESS, text=question))
                result.answerable.append(reply.hits[0].score)
                top = reply.hits[0].heading + "\n" + reply.hits[0].text
                result.top1_correct += heading in top
            for question in spec["unanswerable"]:
                reply = await service.query(KnowledgeQuery(business_id=BUSINESS, text=question))
                result.unanswerable.append(reply.hits[0].score)
        finally:
            await backend.close()
            await embedder.aclose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    args = parser.parse_args()
    result = asyncio.run(calibrate(args.directory))
    print("answerable  ", sorted(round(s, 3) for s in result.answerable))
    print("unanswerable", sorted(round(s, 3) for s in result.unanswerable))
    print(f"top-1 correct {result.top1_correct}/{len(result.answerable)}")
    print(f"threshold {result.threshold}")


if __name__ == "__main__":
    main()
