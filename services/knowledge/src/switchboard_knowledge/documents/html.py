"""HTML via selectolax: h1-h6 start sections; p, li, table rows, pre, dt/dd, blockquote and
figcaption text become paragraphs; script, style, nav and other chrome are dropped."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .builder import SectionBuilder
from .model import Section

HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCKS = frozenset({"p", "li", "pre", "dt", "dd", "blockquote", "figcaption", "caption"})
DROPPED = frozenset({
    "script", "style", "nav", "noscript", "template", "svg", "head", "iframe", "form",
    "button", "select", "textarea",
})  # fmt: skip


def node_text(node: LexborNode) -> str:
    return " ".join(node.text(separator=" ").split())


def row_text(row: LexborNode) -> str:
    cells = [node_text(c) for c in row.iter() if c.tag in ("td", "th")]
    return " | ".join(c for c in cells if c)


def parse_html(text: str) -> list[Section]:
    tree = LexborHTMLParser(text)
    root = tree.body or tree.root
    builder = SectionBuilder()
    if root is None:
        return []
    # Iterative walk in document order: a block's text is taken whole, its children skipped.
    stack: list[LexborNode] = [root]
    found_block = False
    while stack:
        node = stack.pop()
        tag = node.tag or ""
        if tag in DROPPED or tag.startswith(("#", "-")):
            continue
        if tag in HEADINGS:
            builder.add_heading(HEADINGS[tag], node_text(node))
        elif tag in BLOCKS:
            builder.add_paragraph(node_text(node))
            found_block = True
        elif tag == "tr":
            builder.add_paragraph(row_text(node))
            found_block = True
        else:
            stack.extend(reversed(list(node.iter(include_text=False))))
    if found_block:
        return builder.sections()
    # Text straight in divs (no p/li/…): better all of it as one paragraph than nothing.
    for dropped in root.css(",".join(sorted(DROPPED))):
        dropped.decompose()
    fallback = SectionBuilder()
    fallback.add_paragraph(root.text(separator="\n"))
    return fallback.sections()
