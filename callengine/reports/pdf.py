"""The report as a PDF for the regent (bupati/wali kota) and Kominfo: a cover with the city and the
period, the key figures, charts drawn with fpdf2's own rectangles (calls per day, tickets per
category, the citizens' ratings), then the tables. A4 landscape, Indonesian number formatting
(1.234; 87,5 %). Needs Debian's fonts-dejavu-core (Indonesian names are not all Latin-1). The
per-day-and-shift and per-month tables stay in the CSV and XLSX: too long, or one row, on paper."""
from __future__ import annotations

from collections.abc import Sequence

from fpdf import FPDF
from fpdf.fonts import FontFace

from callengine.core.pdf import document

from callengine.reports.figures import COUNT, NUMBER, SHARE, TEXT, Table, shown
from callengine.reports.service import Report

ON_PAPER = ("harian", "shift", "nomor_berulang", "kategori", "jenis_kejadian", "kecamatan", "instansi",
            "sla_instansi", "penilaian", "qa", "petugas")
KEY_FIGURES = ("Panggilan masuk", "Dijawab", "Dijawab ≤15 detik (dari ditawarkan)",
               "Rata-rata kecepatan jawab (detik)", "Tiket dibuat", "Rata-rata penilaian (1–5)")
ANSWERED, OTHER, BAR, INK = (31, 119, 180), (214, 39, 40), (44, 160, 44), (60, 60, 60)


def pdf_report(report: Report) -> bytes:
    pdf = _document(report)
    _cover(pdf, report)
    pdf.add_page()
    _key_figures(pdf, report.table("ringkasan"))
    _table(pdf, report.table("ringkasan"))
    pdf.add_page()
    _charts(pdf, report)
    for name in ON_PAPER:
        _table(pdf, report.table(name))
    return bytes(pdf.output())


def _document(report: Report) -> FPDF:
    pdf = document(report.generated_at, f"Laporan Layanan 112 {report.city} {report.period.label}",
                   orientation="landscape", margin_mm=12)
    pdf.set_auto_page_break(True, 12)
    return pdf


def _cover(pdf: FPDF, report: Report) -> None:
    pdf.add_page()
    pdf.set_y(60)
    _line(pdf, "LAPORAN LAYANAN PANGGILAN DARURAT 112", 22, "B")
    _line(pdf, report.city, 18, "B")
    _line(pdf, f"Periode: {report.period.label}", 16)
    pdf.ln(20)
    _line(pdf, "Disampaikan kepada Bupati/Wali Kota dan Dinas Komunikasi dan Informatika", 11)
    _line(pdf, f"Dibuat {report.generated_at:%d-%m-%Y %H:%M %Z} oleh callengine", 9)


def _line(pdf: FPDF, text: str, size: float, style: str = "") -> None:
    pdf.set_font("sans", style, size)
    pdf.cell(0, size * 0.6, text, align="C", new_x="LMARGIN", new_y="NEXT")


def _key_figures(pdf: FPDF, summary: Table) -> None:
    """The six figures a reader looks for first, in boxes across the page."""
    rows = {row["indikator"]: row for row in summary.rows}
    _heading(pdf, summary.title)
    width = (pdf.epw - 5 * 4) / len(KEY_FIGURES)
    top = pdf.get_y()
    for index, name in enumerate(KEY_FIGURES):
        row = rows[name]
        x = pdf.l_margin + index * (width + 4)
        pdf.set_draw_color(*INK)
        pdf.rect(x, top, width, 26)
        pdf.set_xy(x, top + 3)
        value = shown(row["persen"], SHARE) if name.startswith("Dijawab ≤") else shown(row["nilai"], NUMBER)
        pdf.set_font("sans", "B", 16)
        pdf.cell(width, 9, value, align="C")
        pdf.set_xy(x + 1, top + 13)
        pdf.set_font("sans", "", 8)
        pdf.multi_cell(width - 2, 4, name, align="C")
    pdf.set_y(top + 32)


def _charts(pdf: FPDF, report: Report) -> None:
    days = report.table("harian").rows
    _heading(pdf, "Grafik")
    top = pdf.get_y()
    _bars(pdf, pdf.l_margin, top, pdf.epw, 62, "Panggilan per hari: dijawab (biru) dan tidak dijawab (merah)",
          [row["hari"][8:] for row in days],
          [(ANSWERED, [row["dijawab"] for row in days]), (OTHER, [row["masuk"] - row["dijawab"] for row in days])])
    top += 76
    half = (pdf.epw - 10) / 2
    categories = report.table("kategori").rows[:8]
    _bars(pdf, pdf.l_margin, top, half, 52, "Tiket per kategori", [row["nilai"] for row in categories],
          [(BAR, [row["tiket"] for row in categories])])
    ratings = report.table("penilaian").rows
    _bars(pdf, pdf.l_margin + half + 10, top, half, 52, "Penilaian warga (skor 1–5)",
          [str(row["skor"]) for row in reversed(ratings)], [(BAR, [row["jumlah"] for row in reversed(ratings)])])
    pdf.add_page()


def _bars(pdf: FPDF, x: float, y: float, width: float, height: float, title: str, labels: Sequence[str],
          stacks: Sequence[tuple[tuple[int, int, int], Sequence[int]]]) -> None:
    """A bar per label, its series stacked bottom up, the tallest bar's total written above it."""
    pdf.set_font("sans", "B", 9)
    pdf.set_xy(x, y)
    pdf.cell(width, 5, title)
    base, plot = y + height, height - 12
    totals = [sum(values[i] for _, values in stacks) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    step = width / max(len(labels), 1)
    pdf.set_draw_color(*INK)
    pdf.line(x, base, x + width, base)
    for i, label in enumerate(labels):
        left, bottom = x + i * step + step * 0.15, base
        for color, values in stacks:
            tall = plot * values[i] / top
            if tall > 0:
                pdf.set_fill_color(*color)
                pdf.rect(left, bottom - tall, step * 0.7, tall, style="F")
                bottom -= tall
        pdf.set_font("sans", "", 6 if len(labels) > 12 else 7)
        pdf.set_xy(x + i * step, base + 0.5)
        pdf.cell(step, 3.5, label[:14], align="C")
        if totals[i]:
            pdf.set_xy(x + i * step, bottom - 4)
            pdf.cell(step, 3.5, shown(totals[i], COUNT), align="C")


def _table(pdf: FPDF, table: Table) -> None:
    _heading(pdf, table.title)
    if not table.rows:
        _note(pdf, "Tidak ada data dalam periode ini.")
    else:
        wide = [3 if c.kind == TEXT else 2 for c in table.columns]
        size = 7 if len(table.columns) > 8 else 8
        pdf.set_font("sans", "", size)
        pdf.set_fill_color(255)          # the charts' last colour would fill every cell
        with pdf.table(col_widths=wide, text_align=[_align(c.kind) for c in table.columns], line_height=size * 0.5,
                       headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 230))) as grid:
            grid.row([c.label for c in table.columns])
            for values in table.cells():
                grid.row([shown(v, c.kind) for v, c in zip(values, table.columns)])
    if table.note:
        _note(pdf, table.note)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font("sans", "B", 12)
    pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")


def _note(pdf: FPDF, text: str) -> None:
    pdf.set_font("sans", "", 7)
    pdf.multi_cell(0, 3.5, text, new_x="LMARGIN", new_y="NEXT")


def _align(kind: str) -> str:
    return "LEFT" if kind == TEXT else "RIGHT"
