"""Whatever bytes are uploaded, extraction gives sections or a DocumentError (a 400), never
another exception (a 500)."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard_knowledge.documents.extract import EXTRACTORS, extract_sections
from switchboard_knowledge.documents.model import DocumentError

_MARKUP = st.lists(
    st.sampled_from(
        [
            "<h1>",
            "</h1>",
            "<p>",
            "<script>",
            "<!--",
            "-->",
            "<![CDATA[",
            "&#",
            ";",
            "&amp",
            "# ",
            "## ",
            "\n",
            "\n\n",
            "```",
            "|",
            "---",
            "<meta charset=",
            '"',
            "'",
            "x",
            "é",
            "\x00",
            "\ud7ff",
            "%PDF-1.4\n",
            "obj",
            "endobj",
            "stream",
            "trailer",
            "<<",
            ">>",
        ]
    ),
    max_size=40,
).map("".join)
_BYTES = st.one_of(
    st.binary(max_size=300),
    _MARKUP.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
)


@settings(max_examples=1500)
@given(st.sampled_from(sorted(EXTRACTORS)), _BYTES)
def test_any_upload_is_read_or_refused_with_a_document_error(kind: str, data: bytes) -> None:
    with contextlib.suppress(DocumentError):
        sections = extract_sections(kind, data)
        assert sections, "extraction returned nothing instead of refusing"
