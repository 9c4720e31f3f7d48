"""Extraction per content type, and refusals of what cannot be read."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter

from switchboard_knowledge.documents import (
    DocumentError,
    Section,
    content_hash,
    document_id_for,
    extract_sections,
)


def tiny_pdf(*pages: str) -> bytes:
    """A valid PDF, one Helvetica text line per page, with a correct xref table."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode())
    out.write(f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def test_plain_text_paragraphs() -> None:
    data = b"First paragraph\nwraps here.\r\n\r\n  Second   one.\n\n\n"
    assert extract_sections("text/plain; charset=utf-8", data) == [
        Section("", "First paragraph wraps here.\n\nSecond one.")  # hard wrap undone
    ]


def test_plain_text_with_bom() -> None:
    assert extract_sections("text/plain", "Café".encode("utf-8-sig"))[0].text == "Café"


def test_markdown_headings_make_sections() -> None:
    md = b"""Preamble text.

# Menu
Our **famous** [tarts](https://x.test).

## Desserts
- Apricot tart
- Chocolate cake

1. First
2. Second

| Item | Price |
|------|-------|
| Tea  | 2     |

# Hours
Open *daily*.
"""
    assert extract_sections("text/markdown", md) == [
        Section("", "Preamble text."),
        Section("Menu", "Our famous tarts."),
        Section(
            "Menu > Desserts",
            "- Apricot tart\n- Chocolate cake\n\n1. First\n2. Second\n\nItem | Price\nTea | 2",
        ),
        Section("Hours", "Open daily."),
    ]


def test_markdown_heading_levels_reset_the_path() -> None:
    md = b"# A\n## B\ntext b\n### C\ntext c\n## D\ntext d\n"
    assert [s.heading for s in extract_sections("text/markdown", md)] == [
        "A > B",
        "A > B > C",
        "A > D",
    ]


def test_html_blocks_headings_and_dropped_chrome() -> None:
    html = b"""<html><head><title>T</title><style>p{color:red}</style></head><body>
    <nav><ul><li>Home</li><li>About</li></ul></nav>
    <h1>Shop</h1><p>Hello <b>there</b>,
      friend.</p>
    <ul><li>One</li><li>Two</li></ul>
    <script>alert("no")</script>
    <h2>Prices</h2><table><tr><th>Tea</th><td>2 EUR</td></tr></table>
    </body></html>"""
    assert extract_sections("text/html", html) == [
        Section("Shop", "Hello there, friend.\n\n- One\n- Two"),
        Section("Shop > Prices", "Tea | 2 EUR"),
    ]


def test_html_inline_elements_do_not_split_words_but_blocks_and_breaks_do() -> None:
    """As the Debian FAQ writes a command: an inline element inside a word is part of it."""
    html = (
        b"<p>Run <code>dpkg --purge linux-image-<em>NNN</em></code>; mail "
        b"&lt;<a href='mailto:x'>doc@example.org</a>&gt;.<br>Next line</p>"
        b"<ul><li>one</li><li>t<b>w</b>o</li></ul>"
    )
    assert extract_sections("text/html", html) == [
        Section(
            "",
            "Run dpkg --purge linux-image-NNN; mail <doc@example.org>. Next line\n\n- one\n- two",
        )
    ]


def test_html_text_straight_in_divs_is_read_as_paragraphs() -> None:
    html = b"<body><div>Just text</div><script>x()</script><div>more</div></body>"
    assert extract_sections("text/html", html) == [Section("", "Just text\n\nmore")]


def test_html_text_in_divs_beside_paragraphs_is_not_lost() -> None:
    """Many sites write text straight in <div>s; one <p> on the page used to make the walk
    skip all of it."""
    html = (
        b"<body><div>Opening hours: 9 to 5 daily.</div><p>Welcome to our shop.</p>"
        b"<div><span>Parking</span> is free.<p>Ask at the desk.</p>Dogs <b>welcome</b></div>"
        b"<nav>Home About</nav></body>"
    )
    assert extract_sections("text/html", html) == [
        Section(
            "",
            "Opening hours: 9 to 5 daily.\n\nWelcome to our shop.\n\nParking is free.\n\n"
            "Ask at the desk.\n\nDogs welcome",
        )
    ]


def test_html_docbook_navigation_header_and_footer_are_dropped() -> None:
    """DocBook's HTML (many manuals and FAQs) puts prev/next links and the next chapter's
    title in tables classed navheader and navfooter, after the last section's text."""
    html = (
        b'<body><div class="navheader"><table summary="Navigation header"><tr>'
        b'<th colspan="3">Chapter 2. Returns</th></tr><tr><td><a href="c1.html">Prev</a></td>'
        b'<td><a href="c3.html">Next</a></td></tr></table><hr /></div>'
        b'<div class="chapter"><h2 class="title">2.1. Can I return a gift?</h2>'
        b"<p>Yes, with the gift receipt.</p></div>"
        b'<div class="navfooter"><hr /><table summary="Navigation footer"><tr>'
        b'<td>Chapter 1. Ordering </td><td><a href="index.html">Home</a></td>'
        b"<td> Chapter 3. Delivery</td></tr></table></div></body>"
    )
    assert extract_sections("text/html", html) == [
        Section("2.1. Can I return a gift?", "Yes, with the gift receipt.")
    ]


def test_html_declared_charset() -> None:
    html = '<meta charset="iso-8859-1"><p>Café</p>'.encode("latin-1")
    assert extract_sections("text/html", html)[0].text == "Café"


def test_pdf_text_of_every_page_without_page_headings() -> None:
    sections = extract_sections("application/pdf", tiny_pdf("Hello page one", "Second page"))
    assert sections == [Section("", "Hello page one\n\nSecond page")]


@pytest.mark.parametrize(
    ("content_type", "data", "message"),
    [
        ("text/plain", b"", "empty"),
        ("text/plain", b"  \n\t ", "empty"),
        ("text/plain", b"\xfa\xfb bad", "not valid utf-8"),
        ("text/plain", b"abc\x00def", "NUL"),
        ("text/markdown", b"\x80\x81", "not valid"),
        ("image/png", b"\x89PNG", "unsupported"),
        ("application/pdf", b"not a pdf at all", "not a PDF"),
        ("application/pdf", b"%PDF-1.4\n1 0 obj << garbage", "cannot be read"),
        ("text/html", b"<html><body><script>x()</script></body></html>", "no text"),
    ],
)
def test_bad_inputs_raise_document_error(content_type: str, data: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        extract_sections(content_type, data)


def test_pdf_without_text_is_refused() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(DocumentError, match="no extractable text"):
        extract_sections("application/pdf", out.getvalue())


def test_document_error_is_a_value_error() -> None:
    assert issubclass(DocumentError, ValueError)


def test_content_hash_and_document_ids() -> None:
    assert content_hash(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    one = document_id_for("https://example.com/Opening Hours.html")
    assert one == document_id_for("https://example.com/Opening Hours.html")
    assert one.startswith("example-com-opening-hours-html-")
    assert document_id_for("a b") != document_id_for("a-b")
    for source in ["x" * 500, "   ", "Ünïcode/路径", "a.b*c>d"]:
        doc_id = document_id_for(source)
        assert doc_id.replace("-", "").isalnum() and doc_id.isascii()
        assert len(doc_id) + len("-9999") <= 64


def test_plain_text_table_of_contents_is_left_out_but_numbered_steps_stay() -> None:
    """As the Debian FAQ's text version has it: an indented contents list, one entry wrapped,
    and the headings later with a no-break space after their numbers."""
    text = (
        b"Table of Contents\n\n"
        b"1. Getting started\n    1.1. What is in the box?\n    1.2. Where do I plug it in?\n"
        b"2. Cleaning\n    2.1. How often should I descale?\n"
        b"    2.2. Can the parts go in the\n    dishwasher?\n\n"
        b"1. Getting started\n\n1.1.\xc2\xa0What is in the box?\n\n"
        b"The machine, a scoop and a brush.\n\n"
        b"1.2.\xc2\xa0Where do I plug it in?\n\nInto a grounded socket.\n\n"
        b"2. Cleaning\n\n2.1.\xc2\xa0How often should I descale?\n\nEvery month, in five steps:\n\n"
        b"1. Empty the tank.\n2. Fill it with descaler.\n3. Run two cups.\n"
        b"4. Rinse the tank.\n5. Run two cups of water.\n\n"
        b"2.2.\xc2\xa0Can the parts go in the dishwasher?\n\nOnly the drip tray.\n"
    )
    sections = extract_sections("text/plain", text)
    assert [" ".join(s.heading.split()) for s in sections] == [
        "1. Getting started > 1.1. What is in the box?",
        "1. Getting started > 1.2. Where do I plug it in?",
        "2. Cleaning > 2.1. How often should I descale?",
        "2. Cleaning > 2.2. Can the parts go in the dishwasher?",
    ]
    assert "5. Run two cups of water." in sections[2].text
    assert sections[3].text == "Only the drip tray."


def test_plain_text_terse_numbered_clauses_are_content_not_contents() -> None:
    """Numbered titles that do not come again later are the document itself."""
    text = (
        b"Returns policy\n\n1. Returns\n1.1 Items come back within 30 days\n"
        b"1.2 Refunds go to the card used\n1.3 Sale items are final\n"
        b"2. Exchanges\n2.1 One exchange per item\n"
    )
    everything = " ".join(f"{s.heading} {s.text}" for s in extract_sections("text/plain", text))
    assert "Sale items are final" in everything and "One exchange per item" in everything


def test_deeply_nested_html_is_read_without_recursion() -> None:
    """An uploaded page's nesting is not ours to bound: 20,000 levels, far past Python's
    recursion limit, still extract (and do not take the service down)."""
    depth = 20_000
    html = b"<body>" + b"<div><span>" * depth + b"deep <b>word</b>s" + b"</span></div>" * depth
    sections = extract_sections("text/html", html + b"<p>after</p></body>")
    assert "deep words" in " ".join(s.text for s in sections)


def test_plain_text_numbered_heading_wrapped_over_lines_is_one_heading() -> None:
    """A text version hard-wrapped at 60 columns breaks long numbered questions over two or
    three lines; each is still the heading of the answer below it, not a paragraph of the
    section before (nor a heading cut after its first line)."""
    text = (
        b"1. Plans\n\n"
        b"1.1. Which of your broadband plans (basic/plus/business) is\n"
        b"better for me?\n\n"
        b"    It depends on how many people share the line at once and\n"
        b"    whether you work from home. Most homes do well on plus.\n\n"
        b"1.2. I moved house last month. Can I keep the same number\n"
        b"and the router I have, or do I need to order everything\n"
        b"again?\n\n"
        b"    You keep both: tell us the new address a week ahead.\n"
    )
    sections = extract_sections("text/plain", text)
    assert [s.heading for s in sections] == [
        "1. Plans > 1.1. Which of your broadband plans (basic/plus/business) is better for me?",
        "1. Plans > 1.2. I moved house last month. Can I keep the same number and the router"
        " I have, or do I need to order everything again?",
    ]
    assert sections[0].text.startswith("It depends on how many people")


def test_plain_text_wrapped_numbered_steps_stay_text() -> None:
    """A numbered step that wraps is an instruction, not a heading: it ends like a sentence,
    or its block holds the next steps too."""
    text = (
        b"Before you start, read all of this page to the end, then do the\n"
        b"steps below in order, one at a time, and do not skip any of them.\n\n"
        b"1. Turn off the water at the main valve under the kitchen sink\n"
        b"before you open anything.\n\n"
        b"2. Open the tap on the lowest floor of the house and leave it\n"
        b"3. Unscrew the filter housing by hand, turning it to the left.\n"
    )
    sections = extract_sections("text/plain", text)
    assert [s.heading for s in sections] == [""]
    assert "main valve under the kitchen sink before you open anything." in sections[0].text
