"""A report as files: CSV (one file, each table a section; or a ZIP with one CSV per table), and
XLSX (openpyxl: a cover sheet, then one sheet per table, numbers as numbers, shares as
percentages). The PDF is pdf.py's."""
from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from callengine.reports.figures import COUNT, NUMBER, SHARE, Table
from callengine.reports.pdf import pdf_report
from callengine.reports.service import Report

CSV, CSV_ZIP, XLSX, PDF = "csv", "zip", "xlsx", "pdf"
FORMATS = (CSV, XLSX, PDF)
MEDIA = {CSV: "text/csv; charset=utf-8", CSV_ZIP: "application/zip", PDF: "application/pdf",
         XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
NUMBER_FORMATS = {COUNT: "0", NUMBER: "0.0##", SHARE: "0.0%"}


def csv_sections(report: Report) -> bytes:
    """One CSV: a title line per table (`# name: title`), its header, its rows, a blank line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"# Laporan 112 {report.city}", report.period.label, f"dibuat {report.generated_at.isoformat()}"])
    for table in report.tables:
        writer.writerow([])
        writer.writerow([f"# {table.name}: {table.title}"])
        _table_rows(writer, table)
    return out.getvalue().encode("utf-8")


def csv_zip(report: Report) -> bytes:
    """A ZIP of `<nn>_<name>.csv`, one table each, in the report's order."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, table in enumerate(report.tables, 1):
            text = io.StringIO()
            _table_rows(csv.writer(text, lineterminator="\n"), table)
            archive.writestr(f"{number:02d}_{table.name}.csv", text.getvalue().encode("utf-8"))
    return out.getvalue()


def xlsx(report: Report) -> bytes:
    book = Workbook()
    cover = book.active
    cover.title = "laporan"
    cover.append([f"Laporan Layanan Panggilan Darurat 112 {report.city}"])
    cover.append(["Periode", report.period.label])
    cover.append(["Dibuat", report.generated_at.isoformat()])
    cover.append([])
    cover.append(["Lembar", "Judul", "Catatan"])
    for table in report.tables:
        cover.append([table.name, table.title, table.note])
    cover["A1"].font = Font(bold=True, size=14)
    for table in report.tables:
        _sheet(book, table)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(book: Workbook, table: Table) -> None:
    sheet = book.create_sheet(table.name[:31])
    sheet.append([c.label for c in table.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for values in table.cells():
        sheet.append(values)
    for index, column in enumerate(table.columns, 1):
        shape = NUMBER_FORMATS.get(column.kind)
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = max(10, min(40, len(column.label) + 2))
        if shape:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = shape
    sheet.freeze_panes = "A2"


def _table_rows(writer: Any, table: Table) -> None:
    writer.writerow([c.label for c in table.columns])
    writer.writerows([["" if v is None else v for v in row] for row in table.cells()])


WRITERS: dict[str, Callable[[Report], bytes]] = {CSV: csv_sections, CSV_ZIP: csv_zip, XLSX: xlsx, PDF: pdf_report}


def report_file(report: Report, shape: str) -> bytes:
    """The report in one of FORMATS, or CSV_ZIP."""
    return WRITERS[shape](report)
