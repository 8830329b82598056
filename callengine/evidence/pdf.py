"""The bundle's readable summary (`summary.pdf`): the export, the call, the ticket, its timeline,
the audit trail and every file's checksum, in Indonesian with English beside it, times on the
centre's clock. A recording that failed its check says so on the first line. Made from the same
JSON the bundle holds, so the two cannot disagree. Needs a Unicode font (Debian's
fonts-dejavu-core): callers' names and addresses are not Latin-1."""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.fonts import FontFace

from callengine.core.pdf import document

CALL = (("linkedid", "Linkedid"), ("caller", "Penelepon (caller)"), ("started_at", "Mulai (started)"),
        ("answered_at", "Dijawab (answered)"), ("ended_at", "Selesai (ended)"), ("category", "Kategori (category)"),
        ("queue", "Antrean (queue)"), ("wait_s", "Tunggu, detik (wait, s)"), ("agent", "Penerima (call taker)"),
        ("talk_s", "Bicara, detik (talk, s)"), ("disposition", "Akhir (disposition)"),
        ("hangup_cause_text", "Sebab putus (hangup cause)"), ("location", "Lokasi (location)"),
        ("prank", "Iseng (prank)"), ("recording", "Rekaman (recording)"))
TICKET = (("number", "Nomor tiket (ticket)"), ("status", "Status"), ("classification", "Klasifikasi"),
          ("incident_type", "Jenis kejadian (incident)"), ("description", "Uraian (description)"),
          ("address", "Alamat (address)"), ("kelurahan", "Kelurahan"), ("kecamatan", "Kecamatan"),
          ("caller_name", "Nama pelapor (caller's name)"), ("callback_number", "Nomor balik (call back)"),
          ("victims", "Korban (victims)"), ("priority", "Prioritas (priority)"), ("taker", "Penerima (taker)"),
          ("created_at", "Dibuka (opened)"), ("wrapped_up_at", "Ditutup meja (wrapped up)"),
          ("legal_hold", "Ditahan hukum (legal hold)"))


def summary(facts: dict[str, Any], files: list[dict[str, Any]], call: dict[str, Any], story: dict[str, Any] | None,
            audit: list[dict[str, Any]], key: str, zone: ZoneInfo) -> bytes:
    """`facts` as in the manifest; `files` the others' name, size and SHA-256; `key` the fingerprint
    of the key that signs the bundle."""
    pdf = _document(datetime.fromisoformat(facts["exported_at"]), f"Bukti panggilan 112 {facts['linkedid']}")
    if facts["warning"]:
        pdf.set_text_color(170, 0, 0)
        _text(pdf, facts["warning"], size=11, style="B")
        pdf.set_text_color(0)
    _text(pdf, f"Berkas bukti panggilan 112 (evidence of a 112 call) — {facts['centre']['city']}", size=14, style="B")
    _heading(pdf, "Ekspor (export)")
    _pairs(pdf, [("Waktu (at)", _local(facts["exported_at"], zone)), ("Oleh (by)", facts["exported_by"]),
                 ("Lewat (via)", " ".join(filter(None, (facts["via"], facts["peer"])))),
                 ("Alasan (reason)", facts["reason"]),
                 ("Keutuhan rekaman (recording)", facts["recording_integrity"]),
                 ("Kunci pusat (centre's key), SHA-256", key)])
    _heading(pdf, "Panggilan (call)")
    _pairs(pdf, [(label, _value(call.get(name), zone)) for name, label in CALL])
    _heading(pdf, "Tiket (ticket)")
    if story is None:
        _text(pdf, "Panggilan ini tidak punya tiket. (This call has no ticket.)")
    else:
        _pairs(pdf, [(label, _value(story.get(name), zone)) for name, label in TICKET])
        _heading(pdf, "Linimasa (timeline)")
        _rows(pdf, (30, 32, 128), ("Waktu (at)", "Apa (what)", "Rincian (details)"),
              ([_local(e["at"], zone), e["kind"], _facts(e, ("at", "kind"), zone)] for e in story["timeline"]))
    _heading(pdf, "Jejak audit (audit trail)")
    _rows(pdf, (30, 24, 32, 104), ("Waktu (at)", "Siapa (who)", "Apa (what)", "Rincian (details)"),
          ([_local(a["at"], zone), a["actor"] or "", a["action"], _facts(a, ("at", "actor", "action"), zone)]
           for a in audit))
    _heading(pdf, "Berkas dan SHA-256 (files and checksums)")
    _rows(pdf, (44, 22, 124), ("Berkas (file)", "Bita (bytes)", "SHA-256"),
          ([f["name"], str(f["size"]), f["sha256"]] for f in files), mono=2)
    _text(pdf, "manifest.json mencatat setiap berkas, termasuk summary.pdf ini, dan ditandatangani kunci pusat "
               "(manifest.sig, Ed25519). (manifest.json lists every file, this summary.pdf included, and is "
               "signed by the centre's key.) Periksa dengan: callengine evidence verify ZIP", size=8)
    return bytes(pdf.output())


def _document(at: datetime, title: str) -> FPDF:
    pdf = document(at, title)
    pdf.add_page()
    return pdf


def _text(pdf: FPDF, text: str, size: float = 9, style: str = "") -> None:
    pdf.set_font("sans", style, size)
    pdf.multi_cell(0, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    _text(pdf, text, size=11, style="B")


def _pairs(pdf: FPDF, pairs: list[tuple[str, str]]) -> None:
    _rows(pdf, (55, 135), None, ([label, value] for label, value in pairs))


def _rows(pdf: FPDF, widths: tuple[int, ...], head: tuple[str, ...] | None, rows: Iterable[list[str]],
          mono: int | None = None) -> None:
    """A table; column `mono` in the fixed-width font (checksums read character by character)."""
    pdf.set_font("sans", "", 8)
    with pdf.table(col_widths=widths, first_row_as_headings=head is not None, text_align="LEFT",
                   line_height=4, headings_style=FontFace(family="sans", emphasis="BOLD")) as table:
        for cells in ([list(head)] if head else []) + list(rows):
            row = table.row()
            for i, cell in enumerate(cells):
                pdf.set_font("mono" if i == mono else "sans", "", 7 if i == mono else 8)
                row.cell(cell)
    pdf.set_font("sans", "", 8)


def _facts(entry: dict[str, Any], skip: tuple[str, ...], zone: ZoneInfo) -> str:
    return "; ".join(f"{k}: {_value(v, zone)}" for k, v in entry.items()
                     if k not in skip and v not in (None, "", [], {}))


def _value(value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "ya (yes)" if value else "tidak (no)"
    if isinstance(value, str) and _is_time(value):
        return _local(value, zone)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _is_time(text: str) -> bool:
    try:
        return (len(text) >= 19 and text[4] == "-" and text[10] == "T"
                and datetime.fromisoformat(text).tzinfo is not None)
    except ValueError:
        return False


def _local(moment: str | None, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(moment).astimezone(zone).strftime("%d-%m-%Y %H:%M:%S %Z") if moment else "-"
