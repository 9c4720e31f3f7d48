"""``python -m switchboard_knowledge.calibrate DIR``: best-hit scores of a calibration set and
the threshold :func:`~.relevance.choose_threshold` picks from them.

``DIR/questions.json`` names a document in ``DIR`` and lists answerable questions (with the
heading their answer is under) and unanswerable ones. The document is ingested through the
real pipeline (extract, chunk, local embedder) into the embedded backend in a temporary
directory, or with ``--backend weaviate`` into a Weaviate server: collections of its own
(``CalibrationChunk`` and ``CalibrationDocument`` by default; production's are not touched),
the document deleted again at the end. The API key, if any, comes from
``KNOWLEDGE_WEAVIATE_API_KEY``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mimetypes
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard_common.knowledge import KnowledgeQuery

from .backends.base import KnowledgeBackend
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
    backend: KnowledgeBackend | None = None,
) -> Calibration:
    """Best-hit scores of the calibration questions, with the service configured as given
    (the vector weight ``alpha`` and the keyword side's query text change the scale).

    ``backend``: calibrate this one (not yet started; started and closed here, with its own
    ``alpha``) instead of an embedded backend with ``alpha``."""
    spec = json.loads((directory / "questions.json").read_text())
    document = directory / spec["document"]
    content_type = mimetypes.guess_type(document.name)[0] or "text/markdown"
    embedder = LocalEmbedder()
    result = Calibration()
    with tempfile.TemporaryDirectory() as data_dir:
        store = backend or EmbeddedBackend(Path(data_dir), LOCAL_DIMENSIONS, alpha=alpha)
        await store.start()
        try:
            service = KnowledgeService(
                store,
                embedder,
                _OneBusiness(),
                token_counter=WordPieceCounter(),
                keyword_text=keyword_text,
            )
            service.relevance_threshold = None  # raw scores: every hit comes back
            data = document.read_bytes()
            ingested = await service.ingest(BUSINESS, document.name, content_type, data)
            try:
                for question, heading in spec["answerable"]:
                    reply = await service.query(KnowledgeQuery(business_id=BUSINESS, text=question))
                    result.answerable.append(reply.hits[0].score)
                    top = reply.hits[0].heading + "\n" + reply.hits[0].text
                    result.top1_correct += heading in top
                for question in spec["unanswerable"]:
                    reply = await service.query(KnowledgeQuery(business_id=BUSINESS, text=question))
                    result.unanswerable.append(reply.hits[0].score)
            finally:
                await store.delete_document(BUSINESS, ingested.document.document_id)
        finally:
            await store.close()
            await embedder.aclose()
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--backend", choices=["embedded", "weaviate"], default="embedded")
    parser.add_argument("--weaviate-host", default="127.0.0.1")
    parser.add_argument("--weaviate-http-port", type=int, default=8080)
    parser.add_argument("--weaviate-grpc-port", type=int, default=50051)
    parser.add_argument("--weaviate-secure", action="store_true", help="TLS on both channels")
    parser.add_argument(
        "--weaviate-collections",
        default="Calibration",
        metavar="PREFIX",
        help="collections PREFIXChunk and PREFIXDocument (default: %(default)s)",
    )
    return parser.parse_args(argv)


def backend_from_args(args: argparse.Namespace) -> KnowledgeBackend | None:
    """The backend ``args`` ask for; None: the default, a temporary embedded one."""
    if args.backend != "weaviate":
        return None
    from .backends.weaviate import WeaviateBackend

    return WeaviateBackend(
        dimensions=LOCAL_DIMENSIONS,
        http_host=args.weaviate_host,
        http_port=args.weaviate_http_port,
        grpc_port=args.weaviate_grpc_port,
        secure=args.weaviate_secure,
        api_key=os.environ.get("KNOWLEDGE_WEAVIATE_API_KEY") or None,
        collection=f"{args.weaviate_collections}Chunk",
        document_collection=f"{args.weaviate_collections}Document",
    )


def main() -> None:
    args = parse_args()
    result = asyncio.run(calibrate(args.directory, backend=backend_from_args(args)))
    print(f"backend {args.backend}")
    print("answerable  ", sorted(round(s, 3) for s in result.answerable))
    print("unanswerable", sorted(round(s, 3) for s in result.unanswerable))
    print(f"top-1 correct {result.top1_correct}/{len(result.answerable)}")
    print(f"threshold {result.threshold}")


if __name__ == "__main__":
    main()
