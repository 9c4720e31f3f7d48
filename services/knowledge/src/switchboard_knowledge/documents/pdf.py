"""PDF via pdfminer.six (chosen by measurement: docs/knowledge-extraction.md).

pdfminer's layout analysis gives each text line with its position and fonts, from which:

* words are spaced by geometry (``word_margin`` tuned so tightly justified text is not glued);
* running headers, footers and page numbers are the lines in the top or bottom band of the
  page that repeat on most pages (digits ignored) or are a bare page number: they are dropped;
* headings come from the outline when the PDF has one, else from a font clearly larger than the
  body text (bold at body size counts as the smallest heading level) or from section numbering;
* a paragraph cut by a page break is joined back together;
* pages of a table of contents (dot leaders to page numbers, in order) are dropped.
"""

from __future__ import annotations

import io
import itertools
import logging
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from .builder import SectionBuilder
from .model import DocumentError, Section
from .plain import heading_number_level, hyphenated_words, join_lines

#: Gap between glyphs, as a share of the glyph size, from which a space is inserted. pdfminer's
#: default (0.1) glues words of tightly justified text; 0.07 spaced every test document right.
WORD_MARGIN = 0.07
#: Top and bottom share of the page where running headers and footers live.
MARGIN_BAND = 0.09
_PAGE_NUMBER = re.compile(
    r"^(page\s*)?[-\u2013\u2014\s]*\d+(\s*(/|of)\s*\d+)?[-\u2013\u2014\s]*$", re.I
)
_BULLET = re.compile(r"^([•●▪◦‣∙·\-*\u2013]|\d{1,2}[.)]|[a-z][.)])\s+")
#: A heading's numbering ("3.1.", "Chapter 3.", "A."), left out when titles are compared.
_NUMBERING = re.compile(r"^((chapter|part|section|appendix)\s+)?(\d+(\.\d+)*\.?|[a-z]\.)\s+", re.I)
#: A table of contents entry's end: dot leaders, then a page number.
_LEADER_TO_PAGE = re.compile(r"(?:\.\s*){4,}(\d{1,4})$")
#: Leader lines on a page from which it is a table of contents (a menu's price list with
#: leaders is not: its numbers are prices, not pages in order).
TOC_MIN_ENTRIES = 5

for _name in ("pdfminer", "pdfminer.pdfpage", "pdfminer.pdfinterp", "pdfminer.psparser"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@dataclass(slots=True)
class _Line:
    text: str
    size: float
    bold: bool
    page: int
    top: float  # share of the page height from the top
    y_top: float  # points from the page's top
    y_bottom: float


def _lines(data: bytes) -> tuple[list[_Line], int]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTChar, LTTextBox, LTTextLine

    lines: list[_Line] = []
    pages = 0
    params = LAParams(word_margin=WORD_MARGIN)
    for page_number, page in enumerate(extract_pages(io.BytesIO(data), laparams=params)):
        pages += 1
        height = float(page.height) or 1.0
        # pdfminer's own reading order (boxes_flow): columns are read one after the other.
        boxes = [b for b in page if isinstance(b, LTTextBox)]
        for box in boxes:
            for line in box:
                if not isinstance(line, LTTextLine):
                    continue
                text = " ".join(line.get_text().split())
                if not text:
                    continue
                chars = [c for c in line if isinstance(c, LTChar) and c.get_text().strip()]
                size = max((round(c.size, 1) for c in chars), default=0.0)
                bold = bool(chars) and all("bold" in c.fontname.lower() for c in chars)
                y_top, y_bottom = height - float(line.y1), height - float(line.y0)
                lines.append(_Line(text, size, bold, page_number, y_top / height, y_top, y_bottom))
    return lines, pages


def _running(
    lines: list[_Line], pages: int, titles: Collection[str] = (), contents: Collection[int] = ()
) -> set[int]:
    """Indexes of running headers, footers and page numbers: in the top or bottom band, a bare
    page number, a line repeated on most pages, or the current chapter's or section's title
    echoed in capitals or cut short with an ellipsis (``CHAPTER 3. CHOOSING A DEBIAN …``),
    which changes with the chapter and so repeats on only a few pages."""
    in_band = [
        i for i, line in enumerate(lines) if line.top < MARGIN_BAND or line.top > 1 - MARGIN_BAND
    ]
    shapes = Counter(_shape(lines[i].text) for i in in_band)
    repeated = {shape for shape, count in shapes.items() if count >= max(2, pages / 2)}
    # Titles as the body prints them (not in capitals): a line in capitals that repeats one
    # is its running header; a title in capitals and nowhere else is the heading itself.
    printed = [
        _title_core(line.text)
        for line in lines
        if not line.text.isupper() and line.page not in contents  # (the contents list them all)
    ]
    titles = {_title_core(title) for title in titles}
    return {
        i
        for i in in_band
        if _PAGE_NUMBER.match(lines[i].text)
        or _shape(lines[i].text) in repeated
        or (
            _echoes_title(lines[i].text, titles)
            and (
                "\u2026" in lines[i].text
                or shapes[_shape(lines[i].text)] > 1
                or any(core.startswith(_title_core(lines[i].text)) for core in printed)
            )
        )
    }


def _shape(text: str) -> str:
    return re.sub(r"\d+", "#", text.lower())


def _title_core(text: str) -> str:
    """A title without its numbering, as :func:`_key` compares it."""
    return _key(_NUMBERING.sub("", text.strip(" .\u2026")))


def _echoes_title(text: str, titles: Collection[str]) -> bool:
    """Whether ``text`` is a heading's title repeated as a running header: in capitals or
    cut short with an ellipsis, numbering aside, and the start of one of the outline's titles
    (or two of them, chapter and section, on one line)."""
    if not titles or not ("\u2026" in text or text.isupper()):
        return False
    parts = [_title_core(part) for part in text.split("\u2026")]
    parts = [part for part in parts if part]
    return bool(parts) and all(
        len(part) >= 8 and any(title.startswith(part) for title in titles) for part in parts
    )


def _outline_levels(data: bytes) -> dict[str, int]:
    from pdfminer.pdfdocument import PDFDocument, PDFNoOutlines
    from pdfminer.pdfparser import PDFParser

    try:
        document = PDFDocument(PDFParser(io.BytesIO(data)))
        return {_key(title): level for level, title, *_ in document.get_outlines() if title}
    except (PDFNoOutlines, Exception):  # no outline, or one pdfminer cannot read
        return {}


#: Typographic quotes as pages print them, plain as outlines often store them.
_PLAIN_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _key(text: str) -> str:
    """A title as compared between the outline and the page's lines."""
    return " ".join(str(text).translate(_PLAIN_QUOTES).lower().split())


class _Headings:
    """Decides which lines are headings, and their level."""

    def __init__(self, body: list[_Line], outline: dict[str, int]) -> None:
        sizes = Counter[float]()
        for line in body:
            sizes[line.size] += len(line.text)
        self._body_size = sizes.most_common(1)[0][0] if sizes else 0.0
        larger = sorted({s for s in sizes if s >= self._body_size * 1.15}, reverse=True)
        self._size_level = {size: n + 1 for n, size in enumerate(larger)}
        self._outline = outline

    def level(self, line: _Line) -> int | None:
        words = len(line.text.split())
        if words > 16 or (line.text.endswith((".", ",", ";")) and not line.text[:1].isdigit()):
            return None
        if self._outline:
            return self._outline.get(_key(line.text))
        if line.size in self._size_level:
            return self._size_level[line.size]
        numbered = heading_number_level(line.text)
        if numbered is not None and line.bold:
            return len(self._size_level) + numbered
        if line.bold and line.size >= self._body_size and words <= 10:
            return len(self._size_level) + 1
        return None


def _toc_pages(lines: list[_Line], pages: int) -> set[int]:
    """Pages of a table of contents: several lines end in dot leaders and a page number, and
    those numbers are pages of this document in order. Its entries are titles, not answers,
    and read like questions (a FAQ's), so they would outrank the answers they point to."""
    numbers: dict[int, list[int]] = {}
    for line in lines:
        found = _LEADER_TO_PAGE.search(line.text)
        if found is not None:
            numbers.setdefault(line.page, []).append(int(found.group(1)))
    return {
        page
        for page, found in numbers.items()
        if len(found) >= TOC_MIN_ENTRIES
        and all(0 < n <= pages for n in found)
        and all(a <= b for a, b in itertools.pairwise(found))
    }


def _line_gap(body: list[_Line]) -> float:
    """The usual space between two lines of one paragraph (the median gap on a page)."""
    gaps = sorted(
        b.y_top - a.y_bottom
        for a, b in itertools.pairwise(body)
        if a.page == b.page and a.size == b.size and b.y_top >= a.y_bottom - 1
    )
    return gaps[len(gaps) // 2] if gaps else 0.0


def parse_pdf(data: bytes) -> list[Section]:
    if not data.lstrip().startswith(b"%PDF-"):
        raise DocumentError("not a PDF file (no %PDF- header)")
    try:
        lines, pages = _lines(data)
    except Exception as exc:  # pdfminer raises many types for damaged or encrypted files
        raise DocumentError(f"the PDF cannot be read: {exc}") from exc
    outline = _outline_levels(data)
    contents = _toc_pages(lines, pages)
    running = _running(lines, pages, outline.keys(), contents)
    body = [line for i, line in enumerate(lines) if i not in running and line.page not in contents]
    if len(outline.keys() & {_key(line.text) for line in body}) < len(outline) / 2:
        outline = {}  # an outline whose titles are not on the pages: fonts tell better
    headings = _Headings(body, outline)
    usual_gap = _line_gap(body)
    compounds = hyphenated_words(line.text for line in body)
    builder = SectionBuilder()
    paragraph: list[str] = []
    previous: _Line | None = None
    heading: tuple[int, list[_Line]] | None = None  # a heading, maybe wrapped over lines

    def flush() -> None:
        nonlocal heading
        if heading is not None:
            builder.add_heading(heading[0], join_lines([h.text for h in heading[1]], compounds))
            heading = None
        if paragraph:
            builder.add_paragraph(join_lines(paragraph, compounds))
            paragraph.clear()

    for line in body:
        level = headings.level(line)
        if level is not None:
            last = heading[1][-1] if heading is not None else None
            wrapped = (
                heading is not None
                and last is not None
                and heading[0] == level
                and last.page == line.page
                and (
                    0 <= line.y_top - last.y_bottom <= line.size * 0.8
                    or abs(line.y_top - last.y_top) < 1.0  # one line read as two
                )
            )
            if wrapped and heading is not None:
                heading[1].append(line)
            else:
                flush()
                heading = (level, [line])
            previous = None
            continue
        if heading is not None:
            flush()
        if previous is not None and paragraph:
            if line.page != previous.page:
                # A paragraph cut by a page break goes on: no sentence end, lowercase after.
                ends = paragraph[-1].endswith((".", "!", "?", ":"))
                new_paragraph = ends or not line.text[:1].islower()
            else:
                gap = line.y_top - previous.y_bottom
                new_paragraph = gap > usual_gap * 1.5 + 1.0 or gap < -1.0
            if new_paragraph:
                flush()
        if _BULLET.match(line.text) and paragraph:
            paragraph.append("\n")  # a list item starts its own line
        paragraph.append(line.text)
        previous = line
    flush()
    sections = builder.sections()
    if not sections:
        raise DocumentError("the PDF has no extractable text (a scan?)")
    return sections
