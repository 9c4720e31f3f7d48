"""One document, every upload format: the evaluation's Markdown sources rendered as a business
would publish them, so that extraction is measured per format on the same words.

* HTML: a web page with a site header, navigation, an in-page table of contents and a footer
  around the content (the chrome extraction must drop).
* PDF (fpdf2): bold headings in a larger font, justified body text, a running header and a
  page number on every page.
* Plain text: underlined headings, hard-wrapped at 72 columns.
* DOCX (python-docx): Title and Heading styles, list paragraphs, tables.
"""

from __future__ import annotations

import html
import io
import textwrap
from collections.abc import Iterator

import docx
from fpdf import FPDF
from markdown_it import MarkdownIt

from switchboard_knowledge.documents.extract import DOCX
from switchboard_knowledge.documents.markdown import parse_markdown

FORMATS: dict[str, str] = {
    "markdown": "text/markdown",
    "html": "text/html",
    "pdf": "application/pdf",
    "text": "text/plain",
    "docx": DOCX,
}

Block = tuple[int, str]  # (heading level, text) for headings; (0, paragraph) otherwise


def blocks(markdown: str) -> Iterator[Block]:
    """Headings (with their level) and paragraphs, in order, from the Markdown source."""
    previous: list[str] = []
    for section in parse_markdown(markdown):
        path = section.heading.split(" > ") if section.heading else []
        common = 0
        while common < min(len(path), len(previous)) and path[common] == previous[common]:
            common += 1
        for level in range(common, len(path)):
            yield level + 1, path[level]
        previous = path
        for paragraph in section.text.split("\n\n"):
            yield 0, paragraph


def render(markdown: str, kind: str, title: str) -> bytes:
    if kind == "markdown":
        return markdown.encode()
    if kind == "html":
        return _html(markdown, title)
    if kind == "text":
        return _text(markdown)
    if kind == "pdf":
        return _pdf(markdown, title)
    if kind == "docx":
        return _docx(markdown)
    raise ValueError(f"unknown format {kind!r}")


def _html(markdown: str, title: str) -> bytes:
    body = MarkdownIt("commonmark").enable("table").render(markdown)
    toc = "".join(
        f'<li><a href="#s{n}">{html.escape(text)}</a></li>'
        for n, (level, text) in enumerate(blocks(markdown))
        if level == 2
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ font-family: sans-serif }}</style></head><body>
<header class="site-header"><a href="/">Home</a> <a href="/shop">Shop</a> Call us today</header>
<nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li>
<li><a href="/contact">Contact</a></li></ul></nav>
<main><div class="toc"><p>On this page</p><ul>{toc}</ul></div>
{body}</main>
<footer><p>Copyright 2026. All rights reserved. Terms of use. Privacy.</p></footer>
</body></html>"""
    return page.encode()


def _text(markdown: str) -> bytes:
    out: list[str] = []
    for level, text in blocks(markdown):
        if level:
            underline = "=" if level == 1 else "-"
            out += [text, underline * len(text), ""]
        elif text.startswith(("- ", "1.")) or " | " in text:
            out += [text, ""]  # lists and table rows keep their lines
        else:
            out += [textwrap.fill(text, 72), ""]
    return "\n".join(out).encode()


def _latin(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


class _Pages(FPDF):
    running_title = ""

    def header(self) -> None:
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, _latin(self.running_title), align="R")
        self.ln(10)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 10, f"Page {self.page_no()}", align="C")


def _pdf(markdown: str, title: str) -> bytes:
    pdf = _Pages()
    pdf.running_title = title
    pdf.add_page()
    sizes = {1: 18, 2: 14, 3: 12}
    for level, text in blocks(markdown):
        if level:
            pdf.set_font("Helvetica", "B", sizes.get(level, 12))
            pdf.multi_cell(0, 9, _latin(text), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
            continue
        pdf.set_font("Helvetica", "", 10.5)
        for line in text.split("\n"):
            pdf.multi_cell(0, 5.5, _latin(line), align="J", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    return bytes(pdf.output())


def _docx(markdown: str) -> bytes:
    document = docx.Document()
    for level, text in blocks(markdown):
        if level:
            document.add_heading(text, level=level - 1)
        elif " | " in text:
            rows = [line.split(" | ") for line in text.split("\n")]
            table = document.add_table(rows=len(rows), cols=max(len(r) for r in rows))
            for cells, row in zip(table.rows, rows, strict=True):
                for cell, value in zip(cells.cells, row, strict=False):
                    cell.text = value
        elif text.startswith("- "):
            for line in text.split("\n"):
                document.add_paragraph(line.removeprefix("- "), style="List Bullet")
        else:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
