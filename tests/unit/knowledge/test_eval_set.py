"""The evaluation set is well formed, and every upload format of its documents extracts to
the same sections (what ``make eval`` relies on to compare formats)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from bench.eval_formats import FORMATS, render
from bench.knowledge_eval import ROOT, auroc, load_questions
from switchboard_knowledge.documents import extract_sections

DOCUMENTS = sorted((ROOT / "documents").glob("*.md"))


def test_questions_meet_the_issue_s_minimums_and_splits_are_apart() -> None:
    questions = load_questions()
    groups = Counter(q.group for q in questions)
    assert len(questions) >= 80
    assert groups["hard"] >= 15 and groups["none"] >= 10
    splits = Counter(q.split for q in questions)
    assert splits["dev"] and splits["test"] > splits["dev"]
    assert {q.doc for q in questions} == {p.stem for p in DOCUMENTS}


def test_every_evidence_phrase_is_in_its_document() -> None:
    texts = {p.stem: " ".join(p.read_text().lower().split()) for p in DOCUMENTS}
    for q in load_questions():
        if q.group == "none":
            assert not q.evidence, q
        else:
            assert q.evidence.lower() in texts[q.doc], q


def test_auroc() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5], [0.5]) == 0.5


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.stem)
def test_formats_keep_the_words_of_the_document(path: Path) -> None:
    markdown = path.read_text()
    reference = extract_sections("text/markdown", markdown.encode())
    words = _words(" ".join(s.text for s in reference))
    for kind, content_type in FORMATS.items():
        sections = extract_sections(content_type, render(markdown, kind, "Title"))
        missing = words - _words(" ".join(f"{s.heading} {s.text}" for s in sections))
        assert len(missing) <= 0.02 * len(words), (kind, sorted(missing))
        assert len(sections) >= len(reference) - 3, kind


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))
