"""DOCX via python-docx: paragraphs and tables in body order; the "Title" and "Heading N"
styles (or an outline level set on the paragraph) give the heading path; list paragraphs are
kept together, an item per line; table rows read like HTML's ("Header: value; ...")."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from .builder import SectionBuilder
from .model import DocumentError, Section

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def _style_name(paragraph: Any, names: dict[str, str]) -> str:
    """The paragraph's style name, from its style id (python-docx's ``paragraph.style`` scans
    every style for the default on each call: seconds for a long document)."""
    style_id = paragraph._p.style
    return names.get(style_id, "") if style_id else ""


def _heading_level(name: str) -> int | None:
    if name.lower() == "title":
        return 1
    match = _HEADING_STYLE.match(name)
    if match:
        return int(match.group(1)) + 1  # below the title
    return None


def _is_list(paragraph: Any, name: str) -> bool:
    properties = paragraph._p.pPr
    return "list" in name.lower() or (properties is not None and properties.numPr is not None)


def _table_lines(table: Any) -> list[str]:
    rows = [[" ".join(cell.text.split()) for cell in row.cells] for row in table.rows]
    rows = [[c for i, c in enumerate(r) if i == 0 or c != r[i - 1]] for r in rows]  # merged
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    if not body:
        return [" | ".join(c for c in header if c)]
    lines = []
    for row in body:
        if len(row) == len(header):
            lines.append(
                "; ".join(f"{h}: {c}" if h else c for h, c in zip(header, row, strict=True) if c)
            )
        else:
            lines.append(" | ".join(c for c in row if c))
    return [line for line in lines if line]


def parse_docx(data: bytes) -> list[Section]:
    from docx import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError(f"the DOCX cannot be read: {exc}") from exc
    names = {style.style_id: style.name or "" for style in document.styles}
    builder = SectionBuilder()
    items: list[str] = []

    def end_list() -> None:
        if items:
            builder.add_paragraph("\n".join(items))
            items.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            end_list()
            builder.add_paragraph("\n".join(_table_lines(block)))
            continue
        if not isinstance(block, Paragraph):
            continue
        text = " ".join(block.text.split())
        if not text:
            continue
        style = _style_name(block, names)
        level = _heading_level(style)
        if level is not None:
            end_list()
            builder.add_heading(level, text)
        elif _is_list(block, style):
            items.append(f"- {text}")
        else:
            end_list()
            builder.add_paragraph(text)
    end_list()
    return builder.sections()
