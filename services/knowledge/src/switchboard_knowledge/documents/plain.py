"""Plain text: headings found from numbering ("2.1 Refunds"), underlines (=== or ---) and
short capitalised lines standing alone; hard-wrapped lines joined back into paragraphs; a
table of contents left out."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Container, Iterable

from .builder import SectionBuilder
from .model import Section

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_NUMBERED = re.compile(
    r"^(?:section\s+|chapter\s+|part\s+)?(\d{1,2}(?:\.\d{1,2}){0,3})[.):]?\s+(\S.*)$", re.I
)
_UNDERLINE = re.compile(r"^\s*(=+|-+|~+)\s*$")
_LIST_ITEM = re.compile(r"^\s*([•●▪◦‣∙·*\u2013-]|\d{1,2}[.)]|[a-zA-Z][.)])\s+")
_MAX_HEADING_WORDS = 12
_MAX_WRAPPED_HEADING_WORDS = 40


def heading_number_level(text: str) -> int | None:
    """The depth of a numbered heading ("3" → 1, "3.2" → 2), or None when ``text`` is not
    one: it must be short, start with a capital after the number and end without a full stop."""
    match = _NUMBERED.match(text.strip())
    if match is None:
        return None
    title = match.group(2)
    if len(text.split()) > _MAX_HEADING_WORDS or not title[:1].isupper():
        return None
    if title.endswith((".", ",", ";")):
        return None
    return match.group(1).count(".") + 1


_COMPOUND = re.compile(r"\b([^\W\d_]+)-([^\W\d_]+)\b")


def hyphenated_words(lines: Iterable[str]) -> frozenset[str]:
    """The document's own hyphenated compounds ("debian-based"), lowercased, as printed
    inside its lines: where a line break falls after one of their hyphens, the hyphen is the
    word's, not the typesetter's."""
    return frozenset(
        f"{a}-{b}".lower() for line in lines for a, b in _COMPOUND.findall(line.rstrip(" -"))
    )


def join_lines(lines: list[str], compounds: Container[str] = frozenset()) -> str:
    """Hard-wrapped lines as one paragraph: a hyphen split across lines is healed (unless the
    document writes that compound with its hyphen elsewhere: ``compounds``, from
    :func:`hyphenated_words`), and a ``"\\n"`` element (a list item's start) keeps its line
    break. Pieces are gathered and joined once: an uploaded paragraph can have many thousands
    of lines, and growing one string line by line would copy it every time."""
    pieces: list[str] = []
    for line in lines:
        if line == "\n":
            while pieces and not pieces[-1].strip():
                pieces.pop()
            if pieces:
                pieces[-1] = pieces[-1].rstrip()
            pieces.append("\n")
            continue
        line = line.strip()
        if not line:
            continue
        last = pieces[-1] if pieces else "\n"
        if last == "\n":
            pieces.append(line)
        elif last.endswith("-") and last[-2:-1].isalpha() and line[:1].islower():
            head = re.search(r"[^\W\d_]+-$", last)  # ``last`` is one line, not the paragraph
            tail = re.match(r"[^\W\d_]+", line)
            kept = head and tail and (head.group() + tail.group()).lower() in compounds
            if not kept:
                pieces[-1] = last[:-1]
            pieces.append(line)
        else:
            pieces.append(" ")
            pieces.append(line)
    return "".join(pieces)


def _wrap_width(blocks: list[list[str]]) -> int:
    """The width the text was hard-wrapped at: the length that 95 % of its lines fit in (a
    long URL or command line is allowed to stick out)."""
    lengths = sorted(len(line.rstrip()) for block in blocks for line in block)
    return lengths[int(0.95 * (len(lengths) - 1))] if lengths else 0


def _wrapped_heading(lines: list[str], width: int) -> int | None:
    """The level of a numbered heading that the text's hard wrap broke over two or three lines
    ("3.1. Which plan is better\nfor me?"), standing alone as its block; None when ``lines`` is
    not one. Each line but the last must be near the wrap width (it was cut because it was
    full), no later line may start an item of its own, and the title must read as one: a
    question, or a section of a section ("3.1") not ending like a sentence. (A lone numbered
    step that wraps, "1. Turn the valve ... before\nyou start.", is not one.)"""
    if not 2 <= len(lines) <= 3 or width == 0:
        return None
    match = _NUMBERED.match(lines[0].strip())
    if match is None or not match.group(2)[:1].isupper():
        return None
    if any(_LIST_ITEM.match(line) or _NUMBERED.match(line.strip()) for line in lines[1:]):
        return None
    if any(len(line.rstrip()) < 0.8 * width for line in lines[:-1]):
        return None
    title = join_lines(lines)
    if len(title.split()) > _MAX_WRAPPED_HEADING_WORDS:
        return None
    nested = "." in match.group(1)
    if not (title.endswith("?") or (nested and not title.endswith((".", ",", ";", ":")))):
        return None
    return match.group(1).count(".") + 1


def _is_caps_heading(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return (
        len(letters) >= 3
        and all(c.isupper() for c in letters)
        and len(line.split()) <= 8
        and not line.rstrip().endswith((".", ","))
    )


def _spaced(line: str) -> str:
    """A line as compared with others: any run of spaces (no-break ones too) as one."""
    return " ".join(line.split())


def _is_contents(lines: list[str], later: Counter[str]) -> bool:
    """A table of contents: a block of numbered titles, some of them sections of sections
    ("3.1"), with little else (the wrapped rest of a long title), most of which come again
    later in the document (``later``: its lines after this block) as its headings. Its entries
    read like the questions a FAQ answers, and would outrank the answers. (Numbered steps or
    terse numbered clauses are not one: they are not repeated.)"""
    if len(lines) == 1 and re.fullmatch(r"\s*(table\s+of\s+)?contents:?\s*", lines[0], re.I):
        return True  # its title
    entries = [_spaced(line) for line in lines if heading_number_level(line.strip()) is not None]
    nested = any(re.match(r"\d{1,2}\.\d", entry) for entry in entries)
    repeated = sum(1 for entry in entries if later[entry] > 0)
    return (
        nested
        and len(entries) >= 5
        and len(entries) >= 0.6 * len(lines)
        and repeated >= 0.6 * len(entries)
    )


def parse_plain(text: str) -> list[Section]:
    builder = SectionBuilder()
    blocks = [
        [line for line in block.split("\n") if line.strip()]
        for block in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n").replace("\r", "\n"))
    ]
    later = Counter(_spaced(line) for block in blocks for line in block)
    width = _wrap_width(blocks)
    compounds = hyphenated_words(line for block in blocks for line in block)
    for lines in blocks:
        later.subtract(_spaced(line) for line in lines)
        if _is_contents(lines, later):
            continue
        wrapped = _wrapped_heading(lines, width)
        if wrapped is not None:
            builder.add_heading(wrapped, join_lines(lines, compounds))
            continue
        while lines:
            if len(lines) >= 2 and _UNDERLINE.match(lines[1]) and len(lines[0].split()) <= 15:
                level = 1 if lines[1].strip()[0] == "=" else 2
                builder.add_heading(level, lines[0].strip())
                lines = lines[2:]
                continue
            first = lines[0].strip()
            numbered = heading_number_level(first)
            # Not a heading: the first item of a list, or an item wrapped onto a second line.
            follows = lines[1].strip() if len(lines) > 1 else ""
            in_list = _LIST_ITEM.match(follows) is not None or follows[:1].islower()
            if numbered is not None and not in_list:
                builder.add_heading(numbered, first)
                lines = lines[1:]
                continue
            if len(lines) == 1 and _is_caps_heading(first):
                builder.add_heading(1, first)
                lines = []
                continue
            break
        if lines:
            parts: list[str] = []
            for line in lines:
                if _LIST_ITEM.match(line) and parts:
                    parts.append("\n")
                parts.append(line)
            builder.add_paragraph(join_lines(parts, compounds))
    return builder.sections()
