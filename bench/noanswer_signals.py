"""Which score tells "no answer" best? ``PYTHONPATH=. python -m bench.noanswer_signals``.

The knowledge service says "no answer" when the best hit's fused score (0.9 x cosine + 0.1 x
saturated BM25) is below a calibrated threshold. This compares it with four other signals,
none with a parameter of its own, all computed from what the service has:

1. fused top1: today's score, at the calibrated threshold and at one re-chosen on calibration;
2. cosine top1: the best cosine between the query and a returned chunk;
3. fused top1 minus the mean fused score of the next 10 hits;
4. best sentence: the best cosine between the query and one sentence of the top chunk (by
   cosine), each sentence embedded alone;
5. max(cosine top1, best sentence).

Each: AUROC (answerable above unanswerable) on the evaluation's **dev** split (mean over the
five upload formats, the three documents in one business as ``make eval`` does) and on the
calibration set (tests/fixtures/knowledge/calibration); the threshold
:func:`relevance.choose_threshold` picks on calibration; at it, the dev shares of unanswerable
questions told "no answer" and of answerable ones wrongly so. Also the cost of the sentence
signals: ingest CPU to embed every chunk's sentences relative to embedding the chunks, and per
query the sentence vectors of the top chunk stored (dot products) or embedded then.

The test split is not even queried unless ``--final`` is given; then it is reported apart,
for signals 1 and 5 only, at the thresholds chosen without it. Choose nothing on test.

Data go through the service's real pipeline (extract, chunk, the local int8 embedder, the
embedded backend with alpha 0.9 and fillers out of the keyword query) with up to 50 hits a
query and no threshold. Results also go to ``eval-output/noanswer-signals[-final].json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from switchboard_common.knowledge import KnowledgeQuery
from switchboard_knowledge.backends.embedded import EmbeddedBackend
from switchboard_knowledge.embeddings.local import (
    LocalEmbedder,
    Runtime,
)
from switchboard_knowledge.relevance import calibrated_threshold, choose_threshold

from .eval_formats import FORMATS, render
from .knowledge_eval import ROOT, _title, auroc, load_questions, pipeline

CALIBRATION = Path(__file__).resolve().parents[1] / "tests/fixtures/knowledge/calibration"
OUT = Path("eval-output")
TOP_K = 50  # the most a query may ask for
NEXT = 10  # signal 3: top1 minus the mean of the next NEXT fused scores
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
Vec = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Hit:
    heading: str
    text: str
    score: float  # fused, as the service reports it

    @property
    def embedding_text(self) -> str:  # as documents.model.Chunk embeds it
        return f"{self.heading}: {self.text}" if self.heading else self.text


@dataclass(frozen=True)
class Case:
    where: str  # "cal" or the upload format
    split: str  # "cal", "dev" or "test"
    text: str
    answerable: bool
    hits: list[Hit]  # best first


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 2]


# --------------------------------------------------------------------------- collection


async def _cases(
    kind: str, data_dir: Path, documents: dict[str, tuple[str, bytes]], asked: list[Case]
) -> list[Case]:
    """Ingest ``documents`` (name -> content type, bytes) into one business, then ask each of
    ``asked`` (hits empty) through the service; returns them with their hits."""
    async with pipeline(data_dir / kind) as service:
        service.relevance_threshold = None
        for name, (content_type, data) in documents.items():
            await service.ingest("b", name, content_type, data)
        out = []
        for case in asked:
            reply = await service.query(
                KnowledgeQuery(business_id="b", text=case.text, top_k=TOP_K)
            )
            hits = [Hit(h.heading, h.text, h.score) for h in reply.hits]
            out.append(Case(case.where, case.split, case.text, case.answerable, hits))
        return out


async def collect(splits: set[str]) -> list[Case]:
    spec = json.loads((CALIBRATION / "questions.json").read_text())
    asked = [Case("cal", "cal", q, True, []) for q, _heading in spec["answerable"]]
    asked += [Case("cal", "cal", q, False, []) for q in spec["unanswerable"]]
    cal_doc = {spec["document"]: ("text/markdown", (CALIBRATION / spec["document"]).read_bytes())}
    markdown = {p.stem: p.read_text() for p in sorted((ROOT / "documents").glob("*.md"))}
    questions = [q for q in load_questions() if q.split in splits]
    with tempfile.TemporaryDirectory() as tmp:
        cases = await _cases("cal", Path(tmp), cal_doc, asked)
        for kind in FORMATS:
            docs = {n: (FORMATS[kind], render(m, kind, _title(m))) for n, m in markdown.items()}
            asked = [Case(kind, q.split, q.text, q.group != "none", []) for q in questions]
            cases += await _cases(kind, Path(tmp), docs, asked)
    return cases


# --------------------------------------------------------------------------- signals


class Embeddings:
    """Each text embedded alone by the service's runtime (as ingest and query embed it), once."""

    def __init__(self) -> None:
        self.runtime: Runtime = LocalEmbedder().load()
        self._cache: dict[str, Vec] = {}

    def __call__(self, text: str) -> Vec:
        if text not in self._cache:
            self._cache[text] = self.runtime.encode(text)[0]
        return self._cache[text]


def top_by_cosine(case: Case, embed: Embeddings) -> tuple[float, Hit]:
    q = embed(case.text)
    cosines = [float(embed(h.embedding_text) @ q) for h in case.hits]
    best = int(np.argmax(cosines))
    return cosines[best], case.hits[best]


def features(case: Case, embed: Embeddings) -> dict[str, float]:
    q = embed(case.text)
    cos, top = top_by_cosine(case, embed)
    sentence = max((float(embed(s) @ q) for s in sentences(top.text)), default=-1.0)
    fused = sorted((h.score for h in case.hits), reverse=True)
    rest = fused[1 : NEXT + 1]
    return {
        "fused": fused[0],
        "cosine": cos,
        "gap": fused[0] - (statistics.mean(rest) if rest else 0.0),
        "sentence": sentence,
        "max": max(cos, sentence),
    }


#: row label -> (feature, threshold rule: None = chosen on calibration, else fixed)
FUSED_TODAY = "1. fused top1 (calibrated threshold)"
FUSED_RECHOSEN = "1. fused top1 (threshold re-chosen)"
BEST = "5. max(cosine top1, best sentence)"
SIGNALS: dict[str, str] = {
    FUSED_TODAY: "fused",
    FUSED_RECHOSEN: "fused",
    "2. cosine top1": "cosine",
    f"3. fused top1 - mean next {NEXT}": "gap",
    "4. best sentence of top1": "sentence",
    BEST: "max",
}
FINAL = (FUSED_TODAY, FUSED_RECHOSEN, BEST)


def _shares(values: list[tuple[bool, float]], threshold: float) -> tuple[float, float, float]:
    """AUROC, share of unanswerable below ``threshold``, share of answerable below it."""
    a = [v for ok, v in values if ok]
    u = [v for ok, v in values if not ok]
    return (
        auroc(a, u),
        sum(v < threshold for v in u) / len(u),
        sum(v < threshold for v in a) / len(a),
    )


def evaluate(label: str, feats: list[tuple[Case, dict[str, float]]], split: str) -> dict[str, Any]:
    key = SIGNALS[label]
    cal = [(c.answerable, f[key]) for c, f in feats if c.split == "cal"]
    fixed = calibrated_threshold(LocalEmbedder().name, EmbeddedBackend.name)
    if label == FUSED_TODAY and fixed is not None:
        threshold = fixed
    else:
        threshold = choose_threshold([v for ok, v in cal if ok], [v for ok, v in cal if not ok])
    per_format = [
        _shares(
            [(c.answerable, f[key]) for c, f in feats if c.split == split and c.where == k],
            threshold,
        )
        for k in FORMATS
    ]
    return {
        "signal": label,
        "split": split,
        "auroc": statistics.mean(r[0] for r in per_format),
        "auroc_range": (min(r[0] for r in per_format), max(r[0] for r in per_format)),
        "cal_auroc": _shares(cal, threshold)[0],
        "threshold": threshold,
        "told": statistics.mean(r[1] for r in per_format),
        "wrongly": statistics.mean(r[2] for r in per_format),
    }


# --------------------------------------------------------------------------- cost


def _cpu_ms(fn: Callable[[], object]) -> float:
    started = time.process_time()
    fn()
    return 1000 * (time.process_time() - started)


def cost(cases: list[Case], embed: Embeddings) -> dict[str, Any]:
    """CPU on one thread (the runtime runs each inference on one), texts embedded afresh."""
    encode = embed.runtime.encode
    chunks = sorted({h.embedding_text: h for c in cases for h in c.hits}.values(), key=str)
    parts = [s for h in chunks for s in sentences(h.text)]
    encode("warm up")
    chunk_runs, sentence_runs = [], []
    for _ in range(3):  # the least of three, as other work shares the machine
        chunk_runs.append(_cpu_ms(lambda: [encode(h.embedding_text) for h in chunks]) / 1000)
        sentence_runs.append(_cpu_ms(lambda: [encode(s) for s in parts]) / 1000)
    chunk_s, sentence_s = min(chunk_runs), min(sentence_runs)
    dev = [c for c in cases if c.split == "dev"]
    query_ms, stored_ms, computed_ms, counts = [], [], [], []
    for case in dev:
        texts = sentences(top_by_cosine(case, embed)[1].text)
        counts.append(len(texts))
        query_ms.append(_cpu_ms(partial(encode, case.text)))
        q = embed(case.text)
        matrix = np.stack([embed(s) for s in texts])  # as if stored at ingest
        started = time.perf_counter()
        for _ in range(1000):
            float((matrix @ q).max())
        stored_ms.append(time.perf_counter() - started)  # 1000 runs: seconds = ms a run
        computed_ms.append(_cpu_ms(partial(list, map(encode, texts))))  # map runs in list
    return {
        "chunks": len(chunks),
        "chunk_cpu_s": chunk_s,
        "sentences": len(parts),
        "sentence_cpu_s": sentence_s,
        "ingest_ratio": sentence_s / chunk_s,
        "top_chunk_sentences_median": statistics.median(counts),
        "query_embed_ms_median": statistics.median(query_ms),
        "stored_ms_median": statistics.median(stored_ms),
        "computed_ms_median": statistics.median(computed_ms),
        "computed_ms_p90": float(np.quantile(computed_ms, 0.9)),
    }


# --------------------------------------------------------------------------- report


def table(rows: list[dict[str, Any]], split: str, costs: dict[str, str]) -> str:
    lines = [
        f"| signal | {split} AUROC (range over formats) | cal AUROC | threshold (cal) | "
        f"{split} told / wrongly | cost |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["auroc_range"]
        lines.append(
            f"| {r['signal']} | {r['auroc']:.3f} ({lo:.2f}-{hi:.2f}) | {r['cal_auroc']:.3f} | "
            f"{r['threshold']:.3f} | {r['told']:.2f} / {r['wrongly']:.2f} | "
            f"{costs.get(SIGNALS[r['signal']], 'none: from the search')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--final", action="store_true", help="also query and report the test split (once)"
    )
    args = parser.parse_args()
    splits = ["dev", "test"] if args.final else ["dev"]
    started = time.time()
    cases = asyncio.run(collect(set(splits)))
    embed = Embeddings()
    feats = [(c, features(c, embed)) for c in cases]
    spent = cost(cases, embed)
    extra = (
        f"ingest +{100 * spent['ingest_ratio']:.0f}% CPU, "
        f"{spent['sentences'] / spent['chunks']:.1f} vectors a chunk more; query "
        f"+{spent['stored_ms_median']:.3f} ms stored / "
        f"+{spent['computed_ms_median']:.0f} ms computed"
    )
    costs = {"sentence": extra, "max": extra}
    dev = [evaluate(label, feats, "dev") for label in SIGNALS]
    print(table(dev, "dev", costs))
    print(
        f"\ncost (CPU, one thread): {spent['chunks']} distinct chunks embed in "
        f"{spent['chunk_cpu_s']:.2f} s, their {spent['sentences']} sentences in "
        f"{spent['sentence_cpu_s']:.2f} s (x{spent['ingest_ratio']:.2f} of the chunks). Per dev "
        f"query (median): the query's own embedding {spent['query_embed_ms_median']:.1f} ms; the "
        f"top chunk's {spent['top_chunk_sentences_median']:.0f} sentences stored, dot products "
        f"{spent['stored_ms_median']:.4f} ms; embedded at query time "
        f"{spent['computed_ms_median']:.1f} ms (p90 {spent['computed_ms_p90']:.1f} ms)."
    )
    result: dict[str, Any] = {"dev": dev, "cost": spent}
    if args.final:
        test = [evaluate(label, feats, "test") for label in FINAL]
        print("\n**test split** (reported once; thresholds from calibration, nothing chosen here)")
        print(table(test, "test", costs))
        result["test"] = test
    for split in ("cal", *splits):
        part = [c for c in cases if c.split == split and c.where in ("cal", "markdown")]
        answerable = sum(c.answerable for c in part)
        print(f"{split}: {answerable} answerable, {len(part) - answerable} unanswerable questions")
    print(f"({len(cases)} cases, {time.time() - started:.0f} s)")
    OUT.mkdir(exist_ok=True)
    name = "noanswer-signals-final.json" if args.final else "noanswer-signals.json"
    (OUT / name).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
