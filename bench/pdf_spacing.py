"""``python -m bench.pdf_spacing``: how often a PDF reader glues words, and how fast it is.

PDFs are written here with words separated only by TJ kerning offsets (no space glyph), as
typesetters write justified text, at several gaps (thousandths of an em). "Glued" is the share
of extracted words that are not words of the source. Readers: pypdf (a dev dependency) and
pdfminer.six with the service's ``word_margin`` and with pdfminer's default. The figures are in
docs/knowledge-extraction.md.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable

from switchboard_knowledge.documents.pdf import WORD_MARGIN

SOURCE = (
    "refunds are issued to the original payment method within five business days of the "
    "return reaching our warehouse and a confirmation email is sent to the caller"
)
WORDS = SOURCE.split(" ")
GAPS = (-250, -180, -120, -90)


def kerned_pdf(lines: list[str], gap: int) -> bytes:
    """One page per 45 lines; each line's words joined by a kerning offset of ``gap``."""
    pages = [lines[i : i + 45] for i in range(0, len(lines), 45)]
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [{}] /Count {} >>".format(
            " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages))), len(pages)
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, page in enumerate(pages):
        shown = "\n".join(
            "[{}] TJ T*".format(f" {gap} ".join(f"({w})" for w in line.split())) for line in page
        )
        stream = f"BT /F1 11 Tf 14 TL 72 760 Td\n{shown}\nET"
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
    out.writelines(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode())
    out.write(f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _pypdf(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def _pdfminer(margin: float) -> Callable[[bytes], str]:
    def extract(data: bytes) -> str:
        from pdfminer.high_level import extract_text
        from pdfminer.layout import LAParams

        return str(extract_text(io.BytesIO(data), laparams=LAParams(word_margin=margin)))

    return extract


def main() -> None:
    lines = [" ".join(WORDS[(n + i) % len(WORDS)] for i in range(12)) for n in range(360)]
    vocabulary = set(WORDS)
    readers = {
        "pypdf": _pypdf,
        f"pdfminer.six word_margin={WORD_MARGIN}": _pdfminer(WORD_MARGIN),
        "pdfminer.six default (0.1)": _pdfminer(0.1),
    }
    print("| gap | reader | glued | ms per page |")
    print("|---|---|---|---|")
    for gap in GAPS:
        data = kerned_pdf(lines, gap)
        for name, read in readers.items():
            started = time.perf_counter()
            text = read(data)
            elapsed = (time.perf_counter() - started) * 1000 / 8
            words = re.findall(r"[a-z]+", text.lower())
            glued = sum(w not in vocabulary for w in words) / max(len(words), 1)
            print(f"| {gap} | {name} | {glued:.0%} | {elapsed:.1f} |")


if __name__ == "__main__":
    main()
