"""Heading-aware chunking: sections → chunks of at most ``max_tokens`` (approximate) tokens.

* A chunk never spans two sections, so its heading is always true of all its text.
* Whole paragraphs are packed greedily up to the budget; a paragraph over the budget is split
  at sentence ends, and a sentence over the budget at word boundaries.
* A FAQ's question (a short paragraph ending in "?", or starting "Q:") starts a new chunk and
  takes its answer with it: a question and its answer are one unit, never split apart while
  they fit, and never packed with another question's answer.
* The heading is embedded with the text, so it counts against the budget too.
* Consecutive chunks of one section overlap: a chunk starts with the trailing sentences (or,
  failing that, words) of the previous one, up to ``overlap_tokens``, so an answer straddling
  a boundary is whole in at least one chunk. The overlap counts against the budget.

Tokens are counted by the ``count`` function given (the embedder's own tokenizer, see
``WordPieceCounter``), by default approximated by :func:`count_tokens`: every run of word
characters and every punctuation mark counts one. That tracks BPE tokenisers on English prose
closely (rare, long words are under-counted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .model import Section, TextChunk

_TOKEN = re.compile(r"\w+|[^\w\s]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
#: After ., ! or ? (optionally closed by a quote or bracket), or at a line break (list items).
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")


_QUESTION_START = re.compile(r"^(q|question)\s*[:.)-]\s*", re.I)
#: Longest paragraph taken for a FAQ question, in tokens.
QUESTION_TOKENS = 60

Counter = Callable[[str], int]


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def is_question(paragraph: str) -> bool:
    first_line = paragraph.strip().split("\n", 1)[0]
    if _QUESTION_START.match(first_line):
        return True
    return (
        "\n" not in paragraph.strip()
        and first_line.endswith("?")
        and (count_tokens(first_line) <= QUESTION_TOKENS)
    )


@dataclass(frozen=True, slots=True)
class _Piece:
    """A unit the packer never splits: a paragraph, or a part of an oversized one."""

    text: str
    tokens: int
    starts_paragraph: bool
    starts_unit: bool = False


def _split_words(sentence: str, budget: int, count: Counter) -> list[str]:
    parts: list[str] = []
    words: list[str] = []
    used = 0
    for word in sentence.split():
        cost = max(count(word), 1)
        if words and used + cost > budget:
            parts.append(" ".join(words))
            words, used = [], 0
        words.append(word)  # a single word over budget stays whole: no better cut exists
        used += cost
    if words:
        parts.append(" ".join(words))
    return parts


def _sentences(paragraph: str, budget: int, count: Counter) -> list[str]:
    """Sentences, each within ``budget`` (long ones cut at words)."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        sentence = sentence.strip()
        if not sentence:
            continue
        if count(sentence) <= budget:
            out.append(sentence)
        else:
            out += _split_words(sentence, budget, count)
    return out


def _pieces(section_text: str, max_tokens: int, budget: int, count: Counter) -> list[_Piece]:
    """Paragraphs within ``max_tokens`` whole; longer ones cut into pieces within ``budget``
    (which leaves room for the overlap that will precede them)."""
    pieces: list[_Piece] = []
    for paragraph in _PARAGRAPH_BREAK.split(section_text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        tokens = count(paragraph)
        unit = is_question(paragraph)
        if tokens <= max_tokens:
            pieces.append(_Piece(paragraph, tokens, True, unit))
            continue
        first = True  # pack the paragraph's sentences into pieces of up to ``budget``
        current: list[str] = []
        used = 0
        for sentence in _sentences(paragraph, budget, count):
            cost = count(sentence)
            if current and used + cost > budget:
                pieces.append(_Piece(" ".join(current), used, first, first and unit))
                first, current, used = False, [], 0
            current.append(sentence)
            used += cost
        if current:
            pieces.append(_Piece(" ".join(current), used, first, first and unit))
    return pieces


def _tail(text: str, budget: int, count: Counter) -> str:
    """The end of ``text`` worth repeating: whole trailing sentences within ``budget``,
    else its last words."""
    if budget <= 0:
        return ""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    kept: list[str] = []
    used = 0
    for sentence in reversed(sentences):
        cost = count(sentence)
        if used + cost > budget:
            break
        kept.insert(0, sentence)
        used += cost
    if kept and len(kept) < len(sentences):
        return " ".join(kept)
    words = text.split()
    taken: list[str] = []
    used = 0
    for word in reversed(words[1:]):  # never the whole text: that would be a duplicate chunk
        cost = max(count(word), 1)
        if used + cost > budget:
            break
        taken.insert(0, word)
        used += cost
    return " ".join(taken)


def _join(parts: Iterable[tuple[str, bool]]) -> str:
    text = ""
    for part, new_paragraph in parts:
        text = part if not text else f"{text}{chr(10) * 2 if new_paragraph else ' '}{part}"
    return text


def _section_chunks(text: str, max_tokens: int, overlap_tokens: int, count: Counter) -> list[str]:
    chunks: list[str] = []
    parts: list[tuple[str, bool]] = []  # the chunk being packed
    used = 0
    has_new = False  # the chunk holds more than the previous chunk's overlap
    split_budget = max(max_tokens - overlap_tokens, 1)
    for piece in _pieces(text, max_tokens, split_budget, count):
        if has_new and piece.starts_unit:
            chunks.append(_join(parts))  # a new question: its own chunk, no overlap
            parts, used, has_new = [], 0, False
        elif has_new and used + piece.tokens > max_tokens:
            chunks.append(_join(parts))
            overlap = _tail(chunks[-1], min(overlap_tokens, max_tokens - piece.tokens), count)
            parts = [(overlap, False)] if overlap else []
            used, has_new = count(overlap), False
        parts.append((piece.text, piece.starts_paragraph))
        used += piece.tokens
        has_new = True
    if has_new:
        chunks.append(_join(parts))
    return chunks


def chunk_sections(
    sections: Iterable[Section],
    max_tokens: int = 200,
    overlap_tokens: int = 40,
    count: Counter = count_tokens,
) -> list[TextChunk]:
    """Chunks of every section in order, numbered from 0 across the whole document; each
    chunk's :attr:`TextChunk.embedding_text` (heading included) within ``max_tokens``."""
    if max_tokens <= 0:
        raise ValueError("max_tokens must be positive")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError("overlap_tokens must be within [0, max_tokens)")
    chunks: list[TextChunk] = []
    for section in sections:
        heading_cost = count(f"{section.heading}: ") - count("") if section.heading else 0
        budget = max(max_tokens - heading_cost, 16)
        overlap = min(overlap_tokens, budget // 4)
        for text in _section_chunks(section.text, budget, overlap, count):
            chunks.append(TextChunk(section.heading, text, len(chunks)))
    return chunks
