"""The shapes extraction and chunking hand to the knowledge service."""

from __future__ import annotations

from dataclasses import dataclass


class DocumentError(ValueError):
    """The content cannot be turned into text (bad encoding, corrupt PDF, nothing in it)."""


@dataclass(frozen=True, slots=True)
class Section:
    """Text under one heading ("" before the first); paragraphs separated by blank lines."""

    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class TextChunk:
    """One retrievable piece of a section. ``position`` numbers chunks across the document."""

    heading: str
    text: str
    position: int

    @property
    def embedding_text(self) -> str:
        """What gets embedded: the heading gives a short chunk its context ("Hours: Mon-Fri..."),
        while ``text`` stays clean for the agent to read out."""
        return f"{self.heading}: {self.text}" if self.heading else self.text
