"""Structure and words survive extraction, for documents made here by real writers
(fpdf2 for PDF, python-docx for DOCX) and hand-written HTML and text."""

from __future__ import annotations

import io
import re

import docx
from fpdf import FPDF

from switchboard_knowledge.documents import extract_sections
from switchboard_knowledge.documents.extract import DOCX

LOREM = (
    "Refunds are issued to the original payment method within five business days of the "
    "return being received at our warehouse, and a confirmation email is sent to the caller. "
)


class _Policy(FPDF):
    def header(self) -> None:
        self.set_font("Helvetica", "", 8)
        self.cell(0, 5, "Acme Returns Policy - internal copy", align="C")
        self.ln(10)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 10, f"Page {self.page_no()}", align="C")


def policy_pdf() -> bytes:
    pdf = _Policy()
    pdf.add_page()
    for number, title in enumerate(["Returns", "Refunds", "Warranty"], start=1):
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(0, 10, f"{number}. {title}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(
            0, 6, f"{title} policy text. " + LOREM * 14, align="J", new_x="LMARGIN", new_y="NEXT"
        )
        pdf.ln(4)
    return bytes(pdf.output())


def raw_pdf(stream: str) -> bytes:
    """A one-page PDF around a content stream written by hand (font /F1: Helvetica), for
    what typesetters do that fpdf2 does not."""
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
    ]
    out = io.BytesIO(b"%PDF-1.4\n")
    out.seek(0, io.SEEK_END)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.writelines(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode())
    out.write(f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def kerned_pdf(words: list[str], gap: int) -> bytes:
    """One line whose words are separated only by TJ kerning (no space glyph), as many
    typesetters write justified text."""
    line = f" {gap} ".join(f"({w})" for w in words)
    return raw_pdf(f"BT /F1 11 Tf 72 700 Td [{line}] TJ ET")


def test_pdf_words_spaced_even_when_only_kerning_separates_them() -> None:
    words = ["please", "bring", "the", "receipt", "and", "the", "original", "packaging"]
    for gap in (-90, -120, -250):
        text = extract_sections("application/pdf", kerned_pdf(words, gap))[0].text
        assert text.split() == words, (gap, text)


def test_pdf_headings_from_fonts_and_running_headers_dropped() -> None:
    sections = extract_sections("application/pdf", policy_pdf())
    assert [s.heading for s in sections] == ["1. Returns", "2. Refunds", "3. Warranty"]
    everything = " ".join(s.text for s in sections)
    assert "internal copy" not in everything
    assert not re.search(r"\bPage \d", everything)
    assert all(s.text.startswith(s.heading[3:] + " policy text.") for s in sections)
    # The long paragraphs cross page breaks and stay one paragraph each.
    assert all("\n\n" not in s.text for s in sections)
    assert everything.count("confirmation email") == 42


def test_html_drops_chrome_and_table_of_contents_keeps_tables_readable() -> None:
    html = b"""<html><body>
    <header><a href="/">Acme</a> Call us</header>
    <div class="breadcrumbs">Home / Help</div>
    <main>
      <h1>Help centre</h1>
      <ul><li><a href="#hours">Hours</a></li><li><a href="#returns">Returns</a></li>
          <li><a href="#fees">Fees</a></li></ul>
      <h2 id="hours">Opening hours</h2>
      <table><tr><th>Day</th><th>Open</th></tr><tr><td>Monday</td><td>9-5</td></tr>
        <tr><td>Sunday</td><td>closed</td></tr></table>
      <h2 id="returns">Returns</h2>
      <ol><li>Bring the receipt.</li><li>Keep the box.</li></ol>
      <aside>Related: gift cards</aside>
      <section class="menu"><h2 class="entry-header">Menu</h2><p>Soup of the day</p></section>
    </main>
    <footer>Copyright Acme</footer></body></html>"""
    sections = extract_sections("text/html", html)
    assert [s.heading for s in sections] == [
        "Help centre > Opening hours",
        "Help centre > Returns",
        "Help centre > Menu",  # a class named "menu" is not page chrome
    ]
    assert sections[0].text == "Day: Monday; Open: 9-5\nDay: Sunday; Open: closed"
    assert sections[1].text == "1. Bring the receipt.\n2. Keep the box."


def test_plain_text_headings_from_numbering_and_underlines_lines_unwrapped() -> None:
    text = b"""Acme Store Guide
================

Welcome to the store. We sell
hardware and garden tools.

1. Opening hours

We open at nine and close at
six on weekdays.

1.1 Holidays

Closed on public holidays.

Steps:

1. Bring the receipt and
   the box.

Delivery
--------

Orders ship in two days:
- within the city, free
- elsewhere, five dollars
"""
    sections = extract_sections("text/plain", text)
    assert [(s.heading, s.text) for s in sections] == [
        ("Acme Store Guide", "Welcome to the store. We sell hardware and garden tools."),
        ("1. Opening hours", "We open at nine and close at six on weekdays."),
        (
            "1. Opening hours > 1.1 Holidays",
            "Closed on public holidays.\n\nSteps:\n\n1. Bring the receipt and the box.",
        ),
        (
            "1. Opening hours > Delivery",
            "Orders ship in two days:\n- within the city, free\n- elsewhere, five dollars",
        ),
    ]


def test_docx_headings_lists_and_tables() -> None:
    document = docx.Document()
    document.add_heading("Acme Manual", level=0)
    document.add_heading("Setup", level=1)
    document.add_paragraph("Plug the unit in.")
    document.add_paragraph("Press power", style="List Bullet")
    document.add_paragraph("Wait for the light", style="List Bullet")
    document.add_heading("Specifications", level=1)
    table = document.add_table(rows=2, cols=2)
    for cell, value in zip(
        [*table.rows[0].cells, *table.rows[1].cells],
        ["Weight", "Colour", "2 kg", "red"],
        strict=True,
    ):
        cell.text = value
    out = io.BytesIO()
    document.save(out)
    sections = extract_sections(DOCX, out.getvalue())
    assert [(s.heading, s.text) for s in sections] == [
        ("Acme Manual > Setup", "Plug the unit in.\n\n- Press power\n- Wait for the light"),
        ("Acme Manual > Specifications", "Weight: 2 kg; Colour: red"),
    ]


def test_pdf_headings_from_the_outline_when_fonts_do_not_tell() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "", 11)  # headings in the body font: only the outline knows
    for title in ("Delivery", "Payment"):
        pdf.start_section(title)
        pdf.multi_cell(0, 6, title, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.multi_cell(0, 6, f"All about {title.lower()}. " + LOREM, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    sections = extract_sections("application/pdf", bytes(pdf.output()))
    assert [s.heading for s in sections] == ["Delivery", "Payment"]
    assert sections[1].text.startswith("All about payment.")


def test_pdf_columns_are_read_one_after_the_other() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "", 10)
    left = "Left column: bring your receipt to any store within thirty days. " * 4
    right = "Right column: refunds reach your card within five business days. " * 4
    pdf.set_xy(10, 20)
    pdf.multi_cell(90, 5, left.strip())
    pdf.set_xy(110, 20)
    pdf.multi_cell(90, 5, right.strip())
    text = extract_sections("application/pdf", bytes(pdf.output()))[0].text
    paragraphs = text.split("\n\n")
    assert paragraphs == [left.strip(), right.strip()]


def test_pdf_heading_wrapped_over_two_lines_stays_one_heading() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.multi_cell(
        60, 9, "Returning a damaged or faulty item", align="L", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, LOREM, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 20)
    pdf.multi_cell(0, 9, "Exchanges", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, "Exchanges are free.", new_x="LMARGIN", new_y="NEXT")
    sections = extract_sections("application/pdf", bytes(pdf.output()))
    assert [s.heading for s in sections] == ["Returning a damaged or faulty item", "Exchanges"]


class _Book(FPDF):
    """A manual as DocBook tools print one: a table of contents with dot leaders, and the
    chapter's title as the running header, in capitals and cut short."""

    chapter = ""

    def header(self) -> None:
        if self.chapter:
            self.set_font("Helvetica", "", 8)
            self.cell(0, 5, f"CHAPTER {self.chapter.upper()[:14]}...", align="R")
            self.ln(10)


CHAPTERS = ["Delivery options", "Payment methods", "Returns and refunds"]


def book_pdf() -> bytes:
    pdf = _Book()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Contents", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for number, title in enumerate(CHAPTERS, start=1):
        for part in ("", " in detail"):
            leaders = " ." * (40 - len(title + part) // 2)
            pdf.cell(
                0, 6, f"{number} {title}{part}{leaders} {number + 1}", new_x="LMARGIN", new_y="NEXT"
            )
    for number, title in enumerate(CHAPTERS, start=1):
        pdf.chapter = f"{number}. {title}"
        pdf.add_page()
        pdf.start_section(f"{number} {title}")
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, f"{number} {title}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(
            0, 6, f"All about {title.lower()}. " + LOREM * 30, new_x="LMARGIN", new_y="NEXT"
        )
    return bytes(pdf.output())


def test_pdf_table_of_contents_and_chapter_running_headers_are_dropped() -> None:
    sections = extract_sections("application/pdf", book_pdf())
    assert [s.heading for s in sections] == [f"{n} {t}" for n, t in enumerate(CHAPTERS, start=1)]
    everything = " ".join(f"{s.heading} {s.text}" for s in sections)
    assert ". . ." not in everything and "Contents" not in everything
    assert "CHAPTER" not in everything  # the running header, on every page of a chapter
    assert everything.count("confirmation email") == 3 * 30


def test_pdf_price_list_with_dot_leaders_is_content_not_contents() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Drinks", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for item, price in [("Espresso", 3), ("Latte", 4), ("Mocha", 5), ("Tea", 2), ("Juice", 4)]:
        pdf.cell(0, 6, f"{item}{' .' * 30} {price}", new_x="LMARGIN", new_y="NEXT")
    text = " ".join(s.text for s in extract_sections("application/pdf", bytes(pdf.output())))
    assert all(item in text for item in ("Espresso", "Latte", "Mocha", "Tea", "Juice"))


def test_pdf_heading_in_capitals_at_the_top_of_its_page_is_kept() -> None:
    """A manual whose headings are in capitals, each starting a page, and whose contents list
    them in mixed case: the heading is not a running header echoing a title."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "", 11)
    titles = ["Safety instructions", "Setting up", "Daily use", "Cleaning", "Troubleshooting"]
    for page, title in enumerate(titles, start=2):
        pdf.cell(0, 6, f"{title}{' .' * 30} {page}", new_x="LMARGIN", new_y="NEXT")
    for title in titles:
        pdf.add_page()
        pdf.start_section(title)
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, title.upper(), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 6, f"About {title.lower()}. " + LOREM * 3, new_x="LMARGIN", new_y="NEXT")
    sections = extract_sections("application/pdf", bytes(pdf.output()))
    assert [s.heading for s in sections] == [t.upper() for t in titles]


def test_pdf_heading_hyphenated_at_a_break_or_read_as_two_lines_is_whole() -> None:
    """As TeX sets a long heading: broken inside a word ("in-" / "staller"), broken after a
    compound's own hyphen ("self-" / "service": the document writes "self-service" whole
    elsewhere), and its first line read by pdfminer as two pieces on one baseline (here the
    text steps back before "in-", as kerning can). The title comes out as one heading with its
    words whole, and the body's compound broken at a line end keeps its hyphen too."""
    stream = (
        "BT /F1 14 Tf 72 700 Td [(2.7 Can the store's own) 3000 (in-)] TJ"
        " 0 -16 Td (staller set up a self-) Tj 0 -16 Td (service kiosk?) Tj"
        " /F1 10 Tf 0 -24 Td (Yes: every self-service kiosk is set up by our own team, and) Tj"
        " 0 -12 Td (booking a visit is free of charge, and so is the first self-) Tj"
        " 0 -12 Td (service refill of the paper roll. The engineer brings the roll.) Tj ET"
    )
    sections = extract_sections("application/pdf", raw_pdf(stream))
    assert [s.heading for s in sections] == [
        "2.7 Can the store\u2019s own installer set up a self-service kiosk?"
    ]
    assert "the first self-service refill" in sections[0].text
