"""Retrieval candidates side by side (issue 12, part 3): ``python -m bench.knowledge_candidates``.

Each candidate is a configuration of the local pipeline: the vector weight ``alpha`` of the
absolute fusion (1 = cosine only), whether spoken fillers leave the query before keyword
search, and which score judges "no answer" (the fused score of the best hit, or the best
cosine). For each, the "no answer" threshold is calibrated on the calibration set
(tests/fixtures/knowledge/calibration), never on the evaluation. Choose on the dev split;
the test split is printed apart, as a check, and is not to be tuned on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from switchboard_knowledge.calibrate import Calibration, calibrate
from switchboard_knowledge.fillers import strip_fillers
from switchboard_knowledge.relevance import choose_threshold

from .knowledge_eval import Outcome, evaluate, summarise

CALIBRATION = Path(__file__).resolve().parents[1] / "tests/fixtures/knowledge/calibration"


@dataclass(frozen=True)
class Candidate:
    name: str
    alpha: float
    fillers_out: bool
    judge_by_cosine: bool = False

    @property
    def keyword_text(self) -> Callable[[str], str] | None:
        return strip_fillers if self.fillers_out else None


CANDIDATES = [
    Candidate("cosine only", 1.0, False),
    Candidate("0.75 cos + 0.25 BM25 (before)", 0.75, False),
    Candidate("0.75 cos + 0.25 BM25, fillers out", 0.75, True),
    Candidate("0.5 cos + 0.5 BM25, fillers out", 0.5, True),
    Candidate("0.85 cos + 0.15 BM25, fillers out", 0.85, True),
    Candidate("0.9 cos + 0.1 BM25, fillers kept", 0.9, False),
    Candidate("0.9 cos + 0.1 BM25, fillers out", 0.9, True),
    Candidate("0.95 cos + 0.05 BM25, fillers out", 0.95, True),
    Candidate("0.75 fusion ranks, best cosine judges", 0.75, True, judge_by_cosine=True),
]


async def _outcomes(candidate: Candidate, formats: list[str]) -> dict[str, list[Outcome]]:
    dump: dict[str, list[Outcome]] = {}
    await evaluate(formats, candidate.alpha, 0.0, dump, candidate.keyword_text)
    return dump


async def _calibration(candidate: Candidate) -> Calibration:
    alpha = 1.0 if candidate.judge_by_cosine else candidate.alpha
    return await calibrate(CALIBRATION, alpha, candidate.keyword_text)


async def run(formats: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cosine = await _outcomes(CANDIDATES[0], formats)
    for candidate in CANDIDATES:
        dump = cosine if candidate == CANDIDATES[0] else await _outcomes(candidate, formats)
        if candidate.judge_by_cosine:
            # Rank from the fusion, judge by the best cosine of the same question.
            dump = {
                kind: [
                    replace(o, top_score=c.top_score)
                    for o, c in zip(outcomes, cosine[kind], strict=True)
                ]
                for kind, outcomes in dump.items()
            }
        scores = await _calibration(candidate)
        threshold = choose_threshold(scores.answerable, scores.unanswerable)
        row: dict[str, Any] = {"candidate": candidate.name, "threshold": threshold}
        for split in ("dev", "test"):
            row[split] = {
                kind: summarise([o for o in outcomes if o.question.split == split], threshold)
                for kind, outcomes in dump.items()
            }
        rows.append(row)
    return rows


def _mean(row: dict[str, Any], split: str, *path: str) -> float:
    values = []
    for summary in row[split].values():
        value: Any = summary
        for key in path:
            value = value[key]
        values.append(float(value))
    return sum(values) / len(values)


def render(rows: list[dict[str, Any]]) -> str:
    lines = []
    for split in ("dev", "test"):
        lines += [
            f"**{split}** (mean over formats) | r@1 | r@3 | MRR | hard r@3 | AUROC | "
            "threshold | unanswerable told / answerable wrongly",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| {row['candidate']} | {_mean(row, split, 'all', 'recall@1'):.2f} | "
                f"{_mean(row, split, 'all', 'recall@3'):.2f} | "
                f"{_mean(row, split, 'all', 'mrr'):.2f} | "
                f"{_mean(row, split, 'hard', 'recall@3'):.2f} | "
                f"{_mean(row, split, 'auroc'):.2f} | {row['threshold']:.3f} | "
                f"{_mean(row, split, 'told_no_answer'):.2f} / "
                f"{_mean(row, split, 'wrongly_no_answer'):.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--formats", nargs="*", default=["html", "pdf", "text"])
    parser.add_argument("--out", type=Path, default=Path("eval-output"))
    args = parser.parse_args()
    rows = asyncio.run(run(args.formats))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "knowledge-candidates.json").write_text(json.dumps(rows, indent=2))
    print(render(rows))


if __name__ == "__main__":
    main()
