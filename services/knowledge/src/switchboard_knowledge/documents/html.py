"""HTML via selectolax: the page's content, without its chrome.

* ``<main>`` (or the only ``<article>``) is the content when the page has one; navigation,
  site header and footer, sidebars, tables of contents, breadcrumbs, cookie banners, forms and
  scripts are dropped wherever they are (by tag, ARIA role, or a telling class or id).
* h1-h6 give the heading path; p, pre, blockquote, dt/dd and captions become paragraphs.
* A list is one paragraph, an item per line ("- item"); a list of in-page links only is a
  table of contents and is dropped.
* A table row reads "Header: value; Header: value" when the table has a header row, else its
  cells joined by " | ".
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .builder import SectionBuilder
from .model import Section

HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCKS = frozenset({"p", "pre", "dt", "dd", "blockquote", "figcaption", "caption", "address"})
LISTS = frozenset({"ul", "ol", "dl"})
DROPPED = frozenset({
    "script", "style", "nav", "noscript", "template", "svg", "head", "iframe", "form",
    "button", "select", "textarea", "header", "footer", "aside", "menu", "dialog",
})  # fmt: skip
DROPPED_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
#: Class or id words of page chrome (matched as whole words of the attribute).
#: Not "menu" or "header" alone: a restaurant's menu is content, and "entry-header" holds an
#: article's title. "navheader" and "navfooter" are DocBook's, which many manuals and FAQs are
#: published with (its prev/next links and the next chapter's title).
_CHROME = re.compile(
    r"(^|\s)(nav|navbar|navigation|navheader|navfooter|main-menu|site-menu|breadcrumbs?|toc|table-of-contents|"
    r"sidebar|site-header|masthead|site-footer|footer|cookie-banner|cookies?|skip-link|"
    r"share|social|pagination)($|\s)",
    re.I,
)


#: Elements whose edges separate words even where the HTML has no space between them. Inline
#: elements (``<em>``, ``<code>``, ``<a>``) are not among them: ``linux-image-<em>NNN</em>.prerm``
#: is one word, and a space at their edges would split commands, paths and addresses.
_WORD_BREAKS = BLOCKS | LISTS | frozenset(HEADINGS) | frozenset({
    "br", "hr", "li", "div", "section", "article", "main", "table", "tr", "td", "th", "img",
})  # fmt: skip


#: Elements that flow within a line of text. Text in a container between its blocks, with
#: these around it, is read as a paragraph of its own (as a browser shows it).
_INLINE = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "big", "br", "cite", "code", "data", "del", "dfn", "em",
    "font", "i", "img", "ins", "kbd", "label", "mark", "nobr", "q", "s", "samp", "small",
    "span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr",
})  # fmt: skip


def node_text(node: LexborNode) -> str:
    """The text of ``node`` as a reader sees it: whitespace collapsed, words broken only where
    the HTML or its block structure breaks them."""
    return " ".join(_raw_text([node]).split())


def _raw_text(nodes: list[LexborNode]) -> str:
    """The text of ``nodes`` in order, whitespace collapsed only once they are joined (so an
    inline element's edge joins words), a space at block edges. (Walked with a stack, not
    recursion: the nesting of an uploaded page is not ours to bound.)"""
    parts: list[str] = []
    stack: list[LexborNode | str] = list(reversed(nodes))
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        if item.tag == "-text":
            parts.append(item.text(deep=False))
            continue
        for_later: list[LexborNode | str] = []
        for child in item.iter(include_text=True):
            tag = child.tag or ""
            if tag == "-text":
                for_later.append(child.text(deep=False))
            elif tag.startswith("-") or tag in DROPPED:
                continue
            elif tag in _WORD_BREAKS:
                for_later += [" ", child, " "]
            else:
                for_later.append(child)
        stack.extend(reversed(for_later))
    return " ".join("".join(parts).split())


def _is_chrome(node: LexborNode) -> bool:
    tag = node.tag or ""
    if tag in DROPPED or tag.startswith(("#", "-")):
        return True
    attrs = node.attributes
    if (attrs.get("role") or "").lower() in DROPPED_ROLES or "hidden" in attrs:
        return True
    if tag in ("html", "body", "main", "article"):
        return False
    return any(_CHROME.search(attrs.get(name) or "") for name in ("id", "class"))


def _children(node: LexborNode) -> list[LexborNode]:
    return [c for c in node.iter(include_text=False) if not _is_chrome(c)]


def _is_toc(node: LexborNode) -> bool:
    """A list whose every item is a link to an anchor on the same page."""
    items = [c for c in node.iter(include_text=False) if c.tag == "li"]
    if len(items) < 3:
        return False
    for item in items:
        link = item.css_first("a")
        if link is None or not (link.attributes.get("href") or "").startswith("#"):
            return False
        if len(node_text(item)) > len(node_text(link)) + 8:
            return False
    return True


def _list_lines(node: LexborNode, depth: int = 0) -> list[str]:
    lines: list[str] = []
    number = 0
    for child in _children(node):
        if child.tag in ("li", "dt", "dd"):
            number += 1
            own = [c for c in _children(child) if c.tag in LISTS]
            for sub in own:
                sub.decompose()
            text = node_text(child)
            marker = f"{number}." if node.tag == "ol" else "-"
            if child.tag in ("dt", "dd"):
                marker = "" if child.tag == "dt" else " "
            if text:
                lines.append(f"{'  ' * depth}{marker} {text}".rstrip() if marker else text)
            for sub in own:
                lines += _list_lines(sub, depth + 1)
        elif child.tag in LISTS:
            lines += _list_lines(child, depth + 1)
    return lines


def _table_lines(table: LexborNode) -> list[str]:
    rows = list(table.css("tr"))
    header: list[str] = []
    lines: list[str] = []
    for row in rows:
        cells = [c for c in row.iter(include_text=False) if c.tag in ("td", "th")]
        texts = [node_text(c) for c in cells]
        if not any(texts):
            continue
        if not header and not lines and all(c.tag == "th" for c in cells):
            header = texts
            continue
        if header and len(header) == len(texts):
            pairs = [f"{h}: {t}" if h else t for h, t in zip(header, texts, strict=True) if t]
            lines.append("; ".join(pairs))
        else:
            lines.append(" | ".join(t for t in texts if t))
    return lines


def _content_root(tree: LexborHTMLParser) -> LexborNode | None:
    main = tree.css_first("main") or tree.css_first("[role=main]")
    if main is not None:
        return main
    articles = tree.css("article")
    if len(articles) == 1:
        return articles[0]
    return tree.body or tree.root


def _blocks_and_runs(container: LexborNode) -> list[LexborNode | str]:
    """A container's children in order: block elements to walk into, and the text between
    them (text nodes and inline elements) as paragraphs. Without the runs, text written
    straight in a ``<div>`` beside a ``<p>`` was lost."""
    out: list[LexborNode | str] = []
    run: list[LexborNode] = []

    def end_run() -> None:
        text = " ".join(_raw_text(run).split())
        if text:
            out.append(text)
        run.clear()

    for child in container.iter(include_text=True):
        tag = child.tag or ""
        if tag == "-text" or (tag in _INLINE and not _is_chrome(child)):
            run.append(child)
        elif tag.startswith("-") or _is_chrome(child):
            continue
        else:
            end_run()
            out.append(child)
    end_run()
    return out


def parse_html(text: str) -> list[Section]:
    tree = LexborHTMLParser(text)
    root = _content_root(tree)
    if root is None:
        return []
    builder = SectionBuilder()
    # Iterative walk in document order: a block's text is taken whole, its children skipped.
    stack: list[LexborNode | str] = [root]
    found_block = False
    while stack:
        node = stack.pop()
        if isinstance(node, str):  # text straight in a container, between its blocks
            builder.add_paragraph(node)
            continue
        tag = node.tag or ""
        if node is not root and _is_chrome(node):
            continue
        if tag in HEADINGS:
            builder.add_heading(HEADINGS[tag], node_text(node))
        elif tag in BLOCKS:
            builder.add_paragraph(node_text(node))
            found_block = True
        elif tag in LISTS:
            if not _is_toc(node):
                builder.add_paragraph("\n".join(_list_lines(node)))
                found_block = True
        elif tag == "table":
            builder.add_paragraph("\n".join(_table_lines(node)))
            found_block = True
        else:
            parts = _blocks_and_runs(node)
            found_block = found_block or any(isinstance(part, str) for part in parts)
            stack.extend(reversed(parts))
    if found_block:
        return builder.sections()
    # Text straight in divs (no p/li/…): better all of it as one paragraph than nothing.
    for dropped in root.css(",".join(sorted(DROPPED))):
        dropped.decompose()
    fallback = SectionBuilder()
    fallback.add_paragraph(root.text(separator="\n"))
    return fallback.sections()
