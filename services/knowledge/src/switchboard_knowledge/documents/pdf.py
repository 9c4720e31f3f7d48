"""PDF via pypdf: one section per page ("Page N"), headings being unknowable from text."""

from __future__ import annotations

import io
import logging
import re

from pypdf import PdfReader

from .builder import SectionBuilder
from .model import DocumentError, Section

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")

# pypdf logs every recoverable oddity of a damaged file; the caller gets one DocumentError.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def parse_pdf(data: bytes) -> list[Section]:
    if not data.lstrip().startswith(b"%PDF-"):
        raise DocumentError("not a PDF file (no %PDF- header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        raise DocumentError(f"the PDF cannot be read: {exc}") from exc
    builder = SectionBuilder()
    for number, text in enumerate(pages, start=1):
        builder.new_section(f"Page {number}")
        for paragraph in _PARAGRAPH_BREAK.split(text):
            builder.add_paragraph(paragraph)
    sections = builder.sections()
    if not sections:
        raise DocumentError("the PDF has no extractable text (a scan?)")
    return sections
