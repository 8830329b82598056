"""The PDFs the centre hands out (the evidence summary, the regent's report) start alike: fpdf2
with Debian's DejaVu fonts, because callers' names, addresses and places are not all Latin-1."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fpdf import FPDF

FONTS = Path("/usr/share/fonts/truetype/dejavu")
FACES = {("sans", ""): "DejaVuSans.ttf", ("sans", "B"): "DejaVuSans-Bold.ttf", ("mono", ""): "DejaVuSansMono.ttf"}


class MissingFont(Exception):
    """The PDF's font is not installed; the message says which package brings it."""


def document(at: datetime, title: str, *, orientation: str = "portrait", margin_mm: float = 10) -> FPDF:
    """An A4 document with the fonts `sans`, `sans` bold and `mono`, dated and titled."""
    pdf = FPDF(orientation=orientation, format="A4")
    for (family, style), name in FACES.items():
        if not (FONTS / name).is_file():
            raise MissingFont(f"{FONTS / name} missing: install Debian's fonts-dejavu-core (./scripts/setup does)")
        pdf.add_font(family, style, str(FONTS / name))
    pdf.set_creation_date(at)
    pdf.set_title(title)
    pdf.set_creator("callengine")
    pdf.set_margins(margin_mm, margin_mm)
    return pdf
