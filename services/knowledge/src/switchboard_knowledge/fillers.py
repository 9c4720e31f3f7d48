"""Spoken fillers out of a caller's question before keyword search.

A transcribed question carries words that say nothing about its subject ("um, so, like, I was
wondering"). The embedder mostly shrugs them off; BM25 does not: "like" or "so" match chunks
that merely use them. :func:`strip_fillers` removes them for the keyword side only (the vector
side sees the caller's words as spoken). Only words that are fillers in any position are
listed; a word that can carry meaning ("right", "well", "okay") goes only as the opening word.
"""

from __future__ import annotations

import re

#: Dropped wherever they stand.
_ALWAYS = (
    r"u+m+",
    r"u+h+",
    r"e+r+m*",
    r"a+h+",
    r"h+m+",
    r"mm+",
    r"you know",
    r"i mean",
    r"kind of",
    r"sort of",
    r"like",
    r"basically",
    r"actually",
)
#: Dropped only when they open the question (or a clause after a comma).
_OPENING = (
    r"hi",
    r"hello",
    r"hey",
    r"yeah",
    r"yes",
    r"okay",
    r"ok",
    r"so",
    r"right",
    r"well",
    r"and",
    r"oh",
    r"please",
    r"sorry",
    r"i was wondering",
    r"i wanted to ask",
    r"i've got a question",
    r"quick question",
    r"can you tell me",
    r"could you tell me",
)

_ALWAYS_RE = re.compile(rf"\b(?:{'|'.join(_ALWAYS)})\b[,.]?", re.IGNORECASE)
_OPENING_RE = re.compile(rf"(^|[,.?!;]\s*)(?:(?:{'|'.join(_OPENING)})\b[,.]?\s*)+", re.IGNORECASE)


def strip_fillers(text: str) -> str:
    """``text`` without spoken fillers; the text itself if nothing would be left."""
    kept = _ALWAYS_RE.sub(" ", text)
    previous = None
    while previous != kept:
        previous = kept
        kept = _OPENING_RE.sub(lambda m: m.group(1), kept.strip())
    kept = re.sub(r"\s*,(\s*,)+", ",", kept)
    kept = " ".join(kept.split()).strip(" ,")
    return kept or text
