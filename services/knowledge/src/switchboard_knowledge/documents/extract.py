"""``extract_sections``: bytes of a supported content type → headed sections of text."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

from .model import DocumentError, Section

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HTML_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


def decode_text(data: bytes, encoding: str = "utf-8") -> str:
    """Strict decoding (a BOM wins): mojibake in the index is worse than a clear refusal."""
    if not data.strip():
        raise DocumentError("the document is empty")
    for bom, name in _BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom) :], name
            break
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DocumentError(f"the text is not valid {encoding}: {exc}") from exc
    if "\x00" in text:
        raise DocumentError("the text contains NUL characters (a binary file?)")
    return text


def plain_sections(data: bytes) -> list[Section]:
    from .plain import parse_plain

    return parse_plain(decode_text(data))


def markdown_sections(data: bytes) -> list[Section]:
    from .markdown import parse_markdown

    return parse_markdown(decode_text(data))


def html_sections(data: bytes) -> list[Section]:
    from .html import parse_html

    declared = _HTML_CHARSET.search(data[:4096])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    return parse_html(decode_text(data, encoding))


def pdf_sections(data: bytes) -> list[Section]:
    from .pdf import parse_pdf

    return parse_pdf(data)


def docx_sections(data: bytes) -> list[Section]:
    from .docx import parse_docx

    return parse_docx(data)


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

EXTRACTORS: dict[str, Callable[[bytes], list[Section]]] = {
    "text/plain": plain_sections,
    "text/markdown": markdown_sections,
    "text/x-markdown": markdown_sections,
    "text/html": html_sections,
    "application/xhtml+xml": html_sections,
    "application/pdf": pdf_sections,
    DOCX: docx_sections,
}


def extract_sections(content_type: str, data: bytes) -> list[Section]:
    """The document's text as sections; :class:`DocumentError` when there is none to get.

    ``content_type`` may carry parameters ("text/html; charset=utf-8"); they are ignored
    except that HTML honours a ``<meta charset>``.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    extractor = EXTRACTORS.get(kind)
    if extractor is None:
        raise DocumentError(f"unsupported content type {content_type!r}")
    if not data.strip():
        raise DocumentError("the document is empty")
    sections = extractor(data)
    if not sections:
        raise DocumentError(f"no text found in the {kind} document")
    return sections
