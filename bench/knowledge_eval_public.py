"""``make eval``, second part: the same measures on a real public document, as published.

Why: the main evaluation's documents were written for this repository and rendered into each
format by our own code, so they are cleaner than what businesses upload. The Debian FAQ
(``eval/knowledge-public/debian-faq``, from Debian's ``debian-faq`` package 11.1, copied
verbatim under its licence, see COPYRIGHT there) is a real FAQ that its authors publish in
three formats from one source: HTML pages with navigation (one file a chapter, plus the table
of contents page), a PDF and plain text. Each format is uploaded as a business's operator
would upload it (every HTML page as its own document) and asked the same caller-phrased
questions (``questions.tsv`` there: direct, with fillers, hard paraphrases, and some with no
answer in the FAQ).

The questions were written after every retrieval choice was made, and no retrieval setting
is chosen on them, so the set is reported whole, not split. (Three extraction defects were
found on it and fixed: see docs/knowledge-quality.md for the figures before and after.)

    python -m bench.knowledge_eval_public
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from switchboard_knowledge.backends.embedded import EmbeddedBackend
from switchboard_knowledge.embeddings.local import LocalEmbedder
from switchboard_knowledge.relevance import calibrated_threshold

from .eval_formats import FORMATS
from .knowledge_eval import Outcome, Question, ask, group_table, normal, pipeline, summarise, table

ROOT = Path(__file__).resolve().parents[1] / "eval" / "knowledge-public"
FAQ = ROOT / "debian-faq"
#: What an operator uploads in each format: the files the FAQ is published as.
UPLOADS: dict[str, list[str]] = {
    "html": sorted(p.name for p in FAQ.glob("*.en.html")),
    "pdf": ["debian-faq.en.pdf"],
    "text": ["debian-faq.en.txt"],
}


def load_questions(path: Path = ROOT / "questions.tsv") -> list[Question]:
    questions: list[Question] = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        doc, group, evidence, text = line.split("\t")
        if (group == "none") != (not evidence):
            raise ValueError(f"bad question line: {line!r}")
        questions.append(Question(doc, group, evidence, text, "held-out"))
    return questions


async def run_format(kind: str, questions: list[Question], data_dir: Path) -> list[Outcome]:
    outcomes: list[Outcome] = []
    async with pipeline(data_dir / kind) as service:
        for name in UPLOADS[kind]:
            reply = await service.ingest("faq", name, FORMATS[kind], (FAQ / name).read_bytes())
            if reply.truncated_chunks:
                raise RuntimeError(f"{name}: {reply.truncated_chunks} chunks truncated")
        for question in questions:
            outcomes.append(await ask(service, "faq", question))
    return outcomes


async def evaluate(formats: list[str]) -> dict[str, dict[str, Any]]:
    questions = load_questions()
    published = normal((FAQ / "debian-faq.en.txt").read_text())
    for q in questions:
        if q.evidence and normal(q.evidence) not in published:
            raise ValueError(f"evidence not in the FAQ: {q.evidence!r}")
    threshold = calibrated_threshold(LocalEmbedder().name, EmbeddedBackend.name)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        for kind in formats:
            results[kind] = summarise(await run_format(kind, questions, Path(data_dir)), threshold)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--formats", nargs="*", default=list(UPLOADS))
    parser.add_argument("--out", type=Path, default=Path("eval-output"))
    args = parser.parse_args()
    results = asyncio.run(evaluate(args.formats))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "knowledge-public.json").write_text(json.dumps(results, indent=2))
    print("Debian FAQ, as published (held out)")
    print(table(results, "held-out"))
    print()
    print(group_table(results, "held-out"))


if __name__ == "__main__":
    main()
