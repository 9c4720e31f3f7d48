"""Heading-aware chunking: sections → chunks of at most ``max_tokens`` (approximate) tokens.

* A chunk never spans two sections, so its heading is always true of all its text.
* Whole paragraphs are packed greedily up to the budget; a paragraph over the budget is split
  at sentence ends, and a sentence over the budget at word boundaries.
* Consecutive chunks of one section overlap: a chunk starts with the trailing sentences (or,
  failing that, words) of the previous one, up to ``overlap_tokens``, so an answer straddling
  a boundary is whole in at least one chunk. The overlap counts against the budget.

Tokens are approximated by :func:`count_tokens`: every run of word characters and every
punctuation mark counts one. That tracks BPE tokenisers on English prose closely (rare, long
words are under-counted), and the default budget of 200 is far below embedding models' limits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .model import Section, TextChunk

_TOKEN = re.compile(r"\w+|[^\w\s]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
#: After ., ! or ? (optionally closed by a quote or bracket), or at a line break (list items).
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


@dataclass(frozen=True, slots=True)
class _Piece:
    """A unit the packer never splits: a paragraph, or a part of an oversized one."""

    text: str
    tokens: int
    starts_paragraph: bool


def _split_words(sentence: str, budget: int) -> list[str]:
    parts: list[str] = []
    words: list[str] = []
    used = 0
    for word in sentence.split():
        cost = max(count_tokens(word), 1)
        if words and used + cost > budget:
            parts.append(" ".join(words))
            words, used = [], 0
        words.append(word)  # a single word over budget stays whole: no better cut exists
        used += cost
    if words:
        parts.append(" ".join(words))
    return parts


def _sentences(paragraph: str, budget: int) -> list[str]:
    """Sentences, each within ``budget`` (long ones cut at words)."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        sentence = sentence.strip()
        if not sentence:
            continue
        if count_tokens(sentence) <= budget:
            out.append(sentence)
        else:
            out += _split_words(sentence, budget)
    return out


def _pieces(section_text: str, max_tokens: int, budget: int) -> list[_Piece]:
    """Paragraphs within ``max_tokens`` whole; longer ones cut into pieces within ``budget``
    (which leaves room for the overlap that will precede them)."""
    pieces: list[_Piece] = []
    for paragraph in _PARAGRAPH_BREAK.split(section_text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        tokens = count_tokens(paragraph)
        if tokens <= max_tokens:
            pieces.append(_Piece(paragraph, tokens, True))
            continue
        first = True  # pack the paragraph's sentences into pieces of up to ``budget``
        current: list[str] = []
        used = 0
        for sentence in _sentences(paragraph, budget):
            cost = count_tokens(sentence)
            if current and used + cost > budget:
                pieces.append(_Piece(" ".join(current), used, first))
                first, current, used = False, [], 0
            current.append(sentence)
            used += cost
        if current:
            pieces.append(_Piece(" ".join(current), used, first))
    return pieces


def _tail(text: str, budget: int) -> str:
    """The end of ``text`` worth repeating: whole trailing sentences within ``budget``,
    else its last words."""
    if budget <= 0:
        return ""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    kept: list[str] = []
    used = 0
    for sentence in reversed(sentences):
        cost = count_tokens(sentence)
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
        cost = max(count_tokens(word), 1)
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


def _section_chunks(text: str, max_tokens: int, overlap_tokens: int) -> list[str]:
    chunks: list[str] = []
    parts: list[tuple[str, bool]] = []  # the chunk being packed
    used = 0
    has_new = False  # the chunk holds more than the previous chunk's overlap
    split_budget = max(max_tokens - overlap_tokens, 1)
    for piece in _pieces(text, max_tokens, split_budget):
        if has_new and used + piece.tokens > max_tokens:
            chunks.append(_join(parts))
            overlap = _tail(chunks[-1], min(overlap_tokens, max_tokens - piece.tokens))
            parts = [(overlap, False)] if overlap else []
            used, has_new = count_tokens(overlap), False
        parts.append((piece.text, piece.starts_paragraph))
        used += piece.tokens
        has_new = True
    if has_new:
        chunks.append(_join(parts))
    return chunks


def chunk_sections(
    sections: Iterable[Section], max_tokens: int = 200, overlap_tokens: int = 40
) -> list[TextChunk]:
    """Chunks of every section in order, numbered from 0 across the whole document."""
    if max_tokens <= 0:
        raise ValueError("max_tokens must be positive")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError("overlap_tokens must be within [0, max_tokens)")
    chunks: list[TextChunk] = []
    for section in sections:
        for text in _section_chunks(section.text, max_tokens, overlap_tokens):
            chunks.append(TextChunk(section.heading, text, len(chunks)))
    return chunks
