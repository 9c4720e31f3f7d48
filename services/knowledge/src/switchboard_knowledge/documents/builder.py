"""Collects headings and paragraphs, in reading order, into :class:`Section` s."""

from __future__ import annotations

import re

from .model import Section

_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def clean(text: str) -> str:
    """Collapse runs of spaces within lines, drop blank lines' whitespace, trim."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


class SectionBuilder:
    """A section's heading is the path of enclosing headings ("Menu > Desserts"), so a chunk
    from deep in a document still says what it is about."""

    def __init__(self) -> None:
        self._path: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self._sections: list[Section] = []

    @property
    def heading(self) -> str:
        return " > ".join(text for _, text in self._path)

    def add_heading(self, level: int, text: str) -> None:
        self._flush()
        text = " ".join(text.split())
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        if text:
            self._path.append((level, text))

    def add_paragraph(self, text: str) -> None:
        text = clean(text)
        if text:
            self._paragraphs.append(text)

    def _flush(self) -> None:
        if self._paragraphs:
            self._sections.append(Section(self.heading, "\n\n".join(self._paragraphs)))
            self._paragraphs = []

    def sections(self) -> list[Section]:
        self._flush()
        return list(self._sections)
