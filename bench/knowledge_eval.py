"""``make eval``: retrieval quality of the knowledge service, per upload format and split.

The documents in ``eval/knowledge/documents`` (a dental clinic's FAQ, an outdoor shop's
policies page, an espresso machine's manual) are rendered in every upload format
(:mod:`bench.eval_formats`) and ingested through the service's real pipeline: extraction,
chunking, the local embedder and the embedded backend, one business per format.
``eval/knowledge/questions.tsv`` holds caller-phrased questions in four groups: ``direct``,
``filler`` (spoken fillers), ``hard`` (paraphrased far from the document's words) and ``none``
(no answer in the documents). A hit answers when its heading or text holds the question's
evidence phrase.

Splits: per document, every third question (the 1st, 4th, 7th...) is ``dev``, the rest
``test``. Tune on dev only; test is reported apart and never tuned on. The relevance threshold
itself is calibrated on neither (tests/fixtures/knowledge/calibration).

Reported: recall@1/3/5 and MRR per group, the share whose evidence is in what the agent hands
the model (the hits cut to its token budget, as ``query_knowledge_base`` does), the AUROC of
the top score for unanswerable questions, the share of unanswerable questions told "no
answer" and of answerable ones wrongly told so; all per format. Results also go to
``eval-output/knowledge.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard_agent.tools.knowledge import TOKEN_BUDGET, trim_to_budget
from switchboard_common.knowledge import KnowledgeQuery
from switchboard_knowledge.backends.embedded import EmbeddedBackend
from switchboard_knowledge.backends.fusion import DEFAULT_ALPHA
from switchboard_knowledge.embeddings.local import LOCAL_DIMENSIONS, LocalEmbedder, WordPieceCounter
from switchboard_knowledge.fillers import strip_fillers
from switchboard_knowledge.relevance import calibrated_threshold
from switchboard_knowledge.service import KnowledgeService

from .eval_formats import FORMATS, render

ROOT = Path(__file__).resolve().parents[1] / "eval" / "knowledge"
GROUPS = ("direct", "filler", "hard", "none")
TOP_K = 5
#: The embedded backend's default weight of the vector side.
ALPHA = DEFAULT_ALPHA


@dataclass(frozen=True)
class Question:
    doc: str
    group: str
    evidence: str
    text: str
    split: str


@dataclass
class Outcome:
    question: Question
    rank: int | None  # 1-based rank of the first answering hit, None if not in the top k
    top_score: float
    #: Whether the evidence is in what the agent hands the model: the hits cut to its budget.
    delivered: bool = False


@dataclass
class _AnyBusiness:
    """A directory that knows every business (the evaluation needs no profiles)."""

    seen: set[str] = field(default_factory=set)

    def get(self, business_id: str) -> Any:
        return object()

    def by_number(self, number: str) -> Any:
        return None

    def all(self) -> list[Any]:
        return []


def load_questions(path: Path = ROOT / "questions.tsv") -> list[Question]:
    questions: list[Question] = []
    per_doc: dict[str, int] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        doc, group, evidence, text = line.split("\t")
        if group not in GROUPS or (group == "none") != (not evidence):
            raise ValueError(f"bad question line: {line!r}")
        index = per_doc.get(doc, 0)
        per_doc[doc] = index + 1
        split = "dev" if index % 3 == 0 else "test"
        questions.append(Question(doc, group, evidence, text, split))
    return questions


#: Typographic quotes as PDFs print them; evidence phrases are typed with plain ones.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normal(text: str) -> str:
    """Text as evidence phrases are looked for in it: quotes, spaces and case evened out."""
    return " ".join(text.replace("\xa0", " ").translate(_QUOTES).lower().split())


async def ask(service: KnowledgeService, business_id: str, question: Question) -> Outcome:
    """The question's outcome: the rank of the first hit that holds its evidence phrase (None
    when no hit of the top k does, or it has none) and the best hit's score."""
    query = KnowledgeQuery(business_id=business_id, text=question.text, top_k=TOP_K)
    hits = (await service.query(query)).hits
    wanted = normal(question.evidence)
    rank = None
    if question.evidence:
        rank = next(
            (n for n, hit in enumerate(hits, 1) if wanted in normal(f"{hit.heading} {hit.text}")),
            None,
        )
    results = trim_to_budget(hits, TOKEN_BUDGET)
    delivered = bool(question.evidence) and any(
        wanted in normal(f"{r['section']} {r['text']}") for r in results
    )
    return Outcome(question, rank, hits[0].score if hits else 0.0, delivered)


def _title(markdown: str) -> str:
    first = markdown.splitlines()[0]
    return first.lstrip("# ").strip()


@contextlib.asynccontextmanager
async def pipeline(
    data_dir: Path,
    alpha: float = ALPHA,
    keyword_text: Callable[[str], str] | None = strip_fillers,
) -> AsyncIterator[KnowledgeService]:
    """The service's real pipeline (extraction, chunking, local embedder, embedded backend)
    over a store in ``data_dir``, for any business; closed afterwards."""
    embedder = LocalEmbedder()
    backend = EmbeddedBackend(data_dir, LOCAL_DIMENSIONS, alpha=alpha)
    await backend.start()
    try:
        yield KnowledgeService(
            backend,
            embedder,
            _AnyBusiness(),
            token_counter=WordPieceCounter(),
            keyword_text=keyword_text,
        )
    finally:
        await backend.close()
        await embedder.aclose()


async def run_format(
    kind: str,
    documents: dict[str, str],
    questions: list[Question],
    data_dir: Path,
    alpha: float = ALPHA,
    keyword_text: Callable[[str], str] | None = strip_fillers,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    async with pipeline(data_dir / kind, alpha, keyword_text) as service:
        for name, markdown in documents.items():
            data = render(markdown, kind, _title(markdown))
            reply = await service.ingest("eval", name, FORMATS[kind], data)
            if reply.truncated_chunks:
                raise RuntimeError(f"{name} ({kind}): {reply.truncated_chunks} chunks truncated")
        for question in questions:
            outcomes.append(await ask(service, "eval", question))
    return outcomes


def auroc(answerable: list[float], unanswerable: list[float]) -> float:
    """Chance that an answerable question's top score beats an unanswerable one's."""
    if not answerable or not unanswerable:
        return float("nan")
    wins = sum(1.0 if a > u else 0.5 if a == u else 0.0 for a in answerable for u in unanswerable)
    return wins / (len(answerable) * len(unanswerable))


def summarise(outcomes: list[Outcome], threshold: float | None) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    answerable = [o for o in outcomes if o.question.group != "none"]
    unanswerable = [o for o in outcomes if o.question.group == "none"]
    for name, group in [
        ("all", answerable),
        *[(g, [o for o in answerable if o.question.group == g]) for g in GROUPS[:3]],
    ]:
        if not group:
            continue
        summary[name] = {
            "n": len(group),
            **{
                f"recall@{k}": sum(o.rank is not None and o.rank <= k for o in group) / len(group)
                for k in (1, 3, 5)
            },
            "mrr": sum(1 / o.rank for o in group if o.rank) / len(group),
            "delivered": sum(o.delivered for o in group) / len(group),
        }
    summary["unanswerable"] = {"n": len(unanswerable)}
    summary["auroc"] = auroc([o.top_score for o in answerable], [o.top_score for o in unanswerable])
    if threshold is not None:
        summary["told_no_answer"] = sum(o.top_score < threshold for o in unanswerable) / max(
            len(unanswerable), 1
        )
        summary["wrongly_no_answer"] = sum(o.top_score < threshold for o in answerable) / max(
            len(answerable), 1
        )
    return summary


def table(results: dict[str, dict[str, Any]], split: str) -> str:
    lines = [
        f"**{split}** | r@1 | r@3 | r@5 | MRR | in the agent's results | hard r@3 | filler r@3 | "
        "AUROC | no-answer: unanswerable told / answerable wrongly",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, summary in results.items():
        everything = summary["all"]
        lines.append(
            f"| {kind} | {everything['recall@1']:.2f} | {everything['recall@3']:.2f} | "
            f"{everything['recall@5']:.2f} | {everything['mrr']:.2f} | "
            f"{everything['delivered']:.2f} | {summary['hard']['recall@3']:.2f} | "
            f"{summary['filler']['recall@3']:.2f} | "
            f"{summary['auroc']:.2f} | {summary.get('told_no_answer', float('nan')):.2f} / "
            f"{summary.get('wrongly_no_answer', float('nan')):.2f} |"
        )
    return "\n".join(lines)


def group_table(results: dict[str, dict[str, Any]], split: str) -> str:
    lines = [
        f"**{split}, per group** | group | n | r@1 | r@3 | r@5 | MRR |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, summary in results.items():
        for group in GROUPS[:3]:
            row = summary[group]
            lines.append(
                f"| {kind} | {group} | {row['n']} | {row['recall@1']:.2f} | "
                f"{row['recall@3']:.2f} | {row['recall@5']:.2f} | {row['mrr']:.2f} |"
            )
    return "\n".join(lines)


async def evaluate(
    formats: list[str],
    alpha: float = ALPHA,
    threshold: float | None = None,
    dump: dict[str, list[Outcome]] | None = None,
    keyword_text: Callable[[str], str] | None = strip_fillers,
) -> dict[str, dict[str, dict[str, Any]]]:
    documents = {path.stem: path.read_text() for path in sorted((ROOT / "documents").glob("*.md"))}
    questions = load_questions()
    for q in questions:
        if q.evidence and normal(q.evidence) not in normal(documents[q.doc]):
            raise ValueError(f"evidence not in {q.doc}: {q.evidence!r}")
    if threshold is None:
        threshold = calibrated_threshold(LocalEmbedder().name, EmbeddedBackend.name)
    results: dict[str, dict[str, dict[str, Any]]] = {"dev": {}, "test": {}}
    with tempfile.TemporaryDirectory() as data_dir:
        for kind in formats:
            outcomes = await run_format(
                kind, documents, questions, Path(data_dir), alpha, keyword_text
            )
            if dump is not None:
                dump[kind] = outcomes
            for split in results:
                chosen = [o for o in outcomes if o.question.split == split]
                results[split][kind] = summarise(chosen, threshold)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--formats", nargs="*", default=list(FORMATS))
    parser.add_argument("--out", type=Path, default=Path("eval-output"))
    parser.add_argument("--alpha", type=float, default=ALPHA, help="vector weight (1: no BM25)")
    parser.add_argument("--threshold", type=float, default=None, help="default: calibrated")
    args = parser.parse_args()
    results = asyncio.run(evaluate(args.formats, args.alpha, args.threshold))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "knowledge.json").write_text(json.dumps(results, indent=2))
    for split in ("dev", "test"):
        print(table(results[split], split))
        print()
        print(group_table(results[split], split))
        print()


if __name__ == "__main__":
    main()
