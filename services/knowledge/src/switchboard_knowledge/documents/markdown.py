"""Markdown via markdown-it-py: headings start sections; paragraphs, list items, quotes,
tables and code blocks become paragraphs of plain text (markup stripped, link text kept)."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .builder import SectionBuilder
from .model import Section

_PARSER = MarkdownIt("commonmark").enable("table")


def inline_text(token: Token) -> str:
    """An inline token's readable text: emphasis and link markup dropped, images by alt."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content if child.type != "html_inline" else "")
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts).strip()


def parse_markdown(text: str) -> list[Section]:
    tokens = _PARSER.parse(text)
    builder = SectionBuilder()
    lines: list[str] = []  # the current list or table, kept together as one paragraph
    depth = 0  # nesting of lists/tables/quotes whose text is gathered into ``lines``
    row: list[str] = []
    marker: str | None = None  # a list item's bullet, waiting for the item's first text
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            builder.add_heading(int(token.tag[1:]), inline_text(tokens[i + 1]))
            i += 3
            continue
        if kind in ("bullet_list_open", "ordered_list_open", "table_open"):
            depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close", "table_close"):
            depth -= 1
            if not depth:
                builder.add_paragraph("\n".join(lines))
                lines = []
        elif kind == "list_item_open":
            marker = f"{token.info}{token.markup}" if token.info else "-"
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            lines.append(" | ".join(row))
        elif kind == "inline":
            content = inline_text(token)
            if tokens[i - 1].type in ("th_open", "td_open"):
                row.append(content)
            elif depth and marker is not None:
                lines.append(f"{marker} {content}")
                marker = None
            elif depth:
                lines.append(content)
            else:
                builder.add_paragraph(content)
        elif kind in ("fence", "code_block"):
            (lines.append if depth else builder.add_paragraph)(token.content.strip())
        i += 1
    if lines:
        builder.add_paragraph("\n".join(lines))
    return builder.sections()
