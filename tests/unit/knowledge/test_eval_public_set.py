"""The public evaluation set (the Debian FAQ as its authors publish it, in HTML, PDF and
plain text) is well formed, and each published format extracts to the same words, without
its table of contents or running headers: real documents, not ones rendered by our code."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bench.eval_formats import FORMATS
from bench.knowledge_eval import normal
from bench.knowledge_eval_public import FAQ, UPLOADS, load_questions
from switchboard_knowledge.documents import extract_sections


def _extracted(kind: str) -> str:
    return " ".join(
        f"{s.heading} {s.text}"
        for name in UPLOADS[kind]
        for s in extract_sections(FORMATS[kind], (FAQ / name).read_bytes())
    )


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def test_questions_are_well_formed_and_their_evidence_is_in_the_faq() -> None:
    questions = load_questions()
    groups = Counter(q.group for q in questions)
    assert groups["none"] >= 10 and groups["hard"] >= 10 and len(questions) >= 50
    published = normal((FAQ / "debian-faq.en.txt").read_text())
    for q in questions:
        assert (q.group == "none") == (not q.evidence), q
        assert normal(q.evidence) in published, q


@pytest.mark.parametrize(("kind", "most_missing"), [("html", 0.03), ("pdf", 0.01)])
def test_each_published_format_keeps_the_words_of_the_text_version(
    kind: str, most_missing: float
) -> None:
    """(HTML keeps its addresses in links, where the text version prints them.)"""
    reference = _words(_extracted("text"))
    missing = reference - _words(_extracted(kind))
    assert len(missing) <= most_missing * len(reference), sorted(missing)


@pytest.mark.parametrize("kind", list(UPLOADS))
def test_no_table_of_contents_or_running_headers_are_indexed(kind: str) -> None:
    text = _extracted(kind)
    assert ". . . ." not in text  # the PDF's contents, dot leaders to page numbers
    assert "CHAPTER 3. CHOOSING" not in text  # the PDF's running header
    # The contents list every question once more; the answers' sections hold them once.
    assert text.count("Where is Google Earth?") == 1
