"""Reports from a scripted month (December 2026, WITA) written through the real store: the calls
and their tickets by CallRecords.save, a prank mark, the desk's form and wrap-up, dispatches
and status moves by the Dispatcher with the shipped SLA targets, ratings, QA scores (one of them
corrected). Every table matches figures computed by hand below; calls just outside the month on
either side (local midnight) are left out. The XLSX holds the same numbers, the PDF shows them
(pdftotext) and is not blank (pdftoppm). On SQLite and PostgreSQL."""
from __future__ import annotations

import io
import subprocess
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from callengine.calls.record import CallRecord
from callengine.core.settings import DEFAULT_AGENCIES, DEFAULT_DESK, PROJECT_DIR
from callengine.db.assignments import AssignmentRepository
from callengine.db.audit import AuditRepository
from callengine.db.calls import CallRepository
from callengine.db.database import Database
from callengine.db.ratings import RatingRepository
from callengine.db.reports import ReportRepository
from callengine.db.scores import ScoreRepository
from callengine.db.tickets import TicketRepository
from callengine.dispatch.config import load_agencies
from callengine.dispatch.model import Actor
from callengine.dispatch.service import Dispatcher, DispatchStores
from callengine.qa.scoring import Answer, Score
from callengine.queueing.roster import load_roster
from callengine.rating.service import Rating
from callengine.reports.export import csv_sections, csv_zip, xlsx
from callengine.reports.pdf import pdf_report
from callengine.reports.period import one_day, one_month
from callengine.reports.service import Report, Reports
from callengine.tickets.desk import load_desk
from callengine.tickets.model import TicketNumbers
from callengine.tickets.records import CallRecords

pytestmark = pytest.mark.integration
WITA = ZoneInfo("Asia/Makassar")
A, B, C, D = "+6281111111111", "+6282222222222", "+6283333333333", "+6284444444444"
TAKER = Actor("taker1", "calltaker", None, "10.0.0.5", "Firefox")


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=WITA)


def call(linkedid: str, caller: str, started: datetime, disposition: str, wait: float | None = None,
         talk: float | None = None, agent: str | None = None, category: str | None = None,
         ghost: bool = False) -> CallRecord:
    answered = started + timedelta(seconds=5 + wait) if disposition == "answered" and wait is not None else None
    ended = (answered + timedelta(seconds=talk or 0)) if answered else started + timedelta(seconds=5 + (wait or 0))
    queue = "112" if disposition in ("answered", "abandoned") else None
    return CallRecord(linkedid, caller, "0" + caller[3:], "112", started, answered, ended, category, queue, wait,
                      agent, talk, disposition, 16, "Normal Clearing", "caller", None, ghost=ghost)


CALLS = [
    call("0.1", A, at(30, 23, 58, month=11), "answered", 5, 30, "taker1", "kebakaran"),     # November: left out
    call("1.1", A, at(1, 8), "answered", 10, 60, "taker1", "kebakaran"),                   # pagi
    call("1.2", B, at(1, 16), "answered", 18, 120, "taker2", "ambulans"),                  # siang
    call("1.3", A, at(1, 23, 30), "abandoned", 30, category="kebakaran"),                  # malam
    call("2.1", C, at(2, 3), "ended_in_ivr", ghost=True),                                  # Dec 1's night shift
    call("15.1", A, at(15, 10), "answered", 25, 30, "taker1", "kebakaran"),                # a prank
    call("31.1", D, at(31, 23, 59, 30), "failed"),                                         # 15:59:30 UTC
    call("32.1", D, at(1, 0, 0, 0, month=1, year=2027), "answered", 3, 10, "taker2"),      # January: left out
]


class Clock:
    now_at = at(1, 8)

    def now(self) -> datetime:
        return self.now_at


async def script(db: Database) -> dict[str, str]:
    """The month, through the store as the engine and the console write it; the tickets' numbers."""
    records = CallRecords(db, TicketNumbers("SMD", WITA))
    numbers = {}
    for record in CALLS:
        ticket = await records.save(record, record.ended_at)
        assert ticket is not None and ticket.number
        numbers[record.linkedid] = ticket.number
    assert await CallRepository(db).mark_prank("15.1")
    tickets = TicketRepository(db)
    await tickets.change(numbers["1.1"], {"incident_type": "Kebakaran rumah/permukiman", "kecamatan": "Samarinda Ulu",
                                          "wrapped_up_at": CALLS[1].ended_at + timedelta(seconds=30)}, at(1, 8, 3))
    await tickets.change(numbers["1.2"], {"incident_type": "Sakit mendadak/kritis", "kecamatan": "Sungai Kunjang",
                                          "wrapped_up_at": CALLS[2].ended_at + timedelta(seconds=45)}, at(1, 16, 4))
    await dispatch(db, numbers)
    ratings = RatingRepository(db)
    for linkedid, score, when in (("1.1", 4, at(1, 12)), ("1.2", 5, at(2, 10)), ("15.1", 1, at(1, 0, 30, 0, 1, 2027))):
        ticket_id = await ratings.ticket_id(numbers[linkedid])
        assert ticket_id and await ratings.rate(Rating(ticket_id, score, None, "voice", A, when))
    await score_calls(ScoreRepository(db))
    return numbers


async def dispatch(db: Database, numbers: dict[str, str]) -> None:
    """Fire (DAMKAR, PDAM) and ambulance (RSUD), both 1 min to diterima and 5 to diproses."""
    clock = Clock()
    dispatcher = Dispatcher(DispatchStores(db.begin, AssignmentRepository(db), TicketRepository(db),
                                           AuditRepository(db)), load_agencies(DEFAULT_AGENCIES, load_desk(DEFAULT_DESK)),
                            clock)

    async def moves(start: datetime, number: str, agencies: list[str], steps: list[tuple[str, float, str]]) -> None:
        clock.now_at = start
        made = {a.agency: a.id for a in await dispatcher.dispatch(number, agencies, "", TAKER)}
        for agency, minutes, status in steps:
            clock.now_at = start + timedelta(minutes=minutes)
            await dispatcher.change(made[agency], status, "" if status != "selesai" else "beres", TAKER)

    await moves(at(1, 8, 2), numbers["1.1"], ["DAMKAR", "PDAM"], [
        ("DAMKAR", 0.5, "diterima"), ("PDAM", 3, "diterima"), ("DAMKAR", 4, "diproses"), ("PDAM", 8, "diproses"),
        ("DAMKAR", 64, "selesai")])
    await moves(at(1, 16, 5), numbers["1.2"], ["RSUD"], [
        ("RSUD", 1, "diterima"), ("RSUD", 6, "diproses"), ("RSUD", 46, "selesai")])


async def score_calls(scores: ScoreRepository) -> None:
    """1.1: qa1 gave 70, then corrected it to 80 (only 80 counts); qa2 gave 90. 1.2: a failed
    critical criterion, 0."""
    def score(linkedid: str, reviewer: str, value: float, version: int = 1, previous: int | None = None,
              failed: bool = False) -> Score:
        return Score(0, linkedid, reviewer, version, previous, reviewer, "koreksi" if previous else None, "umum", 1,
                     "kebakaran", None, value if not failed else 60.0, value, failed, at(3, 9),
                     answers=(Answer("salam", 0 if failed else 1, 1, 1, failed),))
    first = await scores.add(score("1.1", "qa1", 70.0))
    await scores.add(score("1.1", "qa1", 80.0, 2, first.id))
    await scores.add(score("1.1", "qa2", 90.0))
    await scores.add(score("1.2", "qa1", 0.0, failed=True))


@pytest.fixture
async def month(database_url: str) -> Any:
    db = Database(database_url)
    await db.migrate()
    try:
        await script(db)
        roster = load_roster(PROJECT_DIR / "config" / "roster.conf", WITA)
        clock = Clock()
        clock.now_at = at(20, 12)
        reports = Reports(ReportRepository(db), lambda: roster, clock, WITA, "Kota Samarinda")
        yield reports, await reports.report(one_month("2026-12"))
    finally:
        await db.close()


def rows(report: Report, name: str) -> list[dict[str, Any]]:
    return list(report.table(name).rows)


def by(report: Report, name: str, key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in report.table(name).rows}


EMPTY_DAY = {"masuk": 0, "ditawarkan": 0, "dijawab": 0, "ditinggalkan": 0, "ivr": 0, "gagal": 0, "ghost": 0,
             "prank": 0, "sl15": None, "sl20": None, "asa": None}


async def test_the_month_in_every_table_matches_the_hand_counted_figures(month: Any) -> None:
    _, report = month
    assert report.period.label == "Desember 2026" and report.city == "Kota Samarinda"
    summary = {row["indikator"]: (row["nilai"], row["persen"]) for row in rows(report, "ringkasan")}
    assert summary == {
        "Panggilan masuk": (6, None), "Ditawarkan ke antrean": (4, 0.6667), "Dijawab": (3, 0.5),
        "Ditinggalkan di antrean": (1, 0.1667), "Berakhir di IVR": (1, 0.1667), "Gagal": (1, 0.1667),
        "Ghost (tanpa suara)": (1, 0.1667), "Prank (iseng)": (1, 0.1667),
        "Dijawab ≤15 detik (dari ditawarkan)": (1, 0.25), "Dijawab ≤20 detik (dari ditawarkan)": (2, 0.5),
        "Rata-rata kecepatan jawab (detik)": (17.7, None),          # (10 + 18 + 25) / 3
        "Tunggu terlama (detik)": (30.0, None), "Tiket dibuat": (6, None), "Penugasan ke instansi": (3, None),
        "Penilaian warga": (2, None), "Rata-rata penilaian (1–5)": (4.5, None)}

    days = by(report, "harian", "hari")
    assert len(days) == 31
    assert days["2026-12-01"] == {"hari": "2026-12-01", "masuk": 3, "ditawarkan": 3, "dijawab": 2, "ditinggalkan": 1,
                                  "ivr": 0, "gagal": 0, "ghost": 0, "prank": 0, "sl15": 0.3333, "sl20": 0.6667,
                                  "asa": 14.0}
    assert days["2026-12-02"] == {"hari": "2026-12-02", **EMPTY_DAY, "masuk": 1, "ivr": 1, "ghost": 1}
    assert days["2026-12-15"] == {"hari": "2026-12-15", **EMPTY_DAY, "masuk": 1, "ditawarkan": 1, "dijawab": 1,
                                  "prank": 1, "sl15": 0.0, "sl20": 0.0, "asa": 25.0}
    assert days["2026-12-31"] == {"hari": "2026-12-31", **EMPTY_DAY, "masuk": 1, "gagal": 1}
    assert days["2026-12-10"] == {"hari": "2026-12-10", **EMPTY_DAY}

    shifts = by(report, "shift", "shift")
    assert list(shifts) == ["pagi", "siang", "malam"]
    assert shifts["pagi"] == {"shift": "pagi", **EMPTY_DAY, "masuk": 2, "ditawarkan": 2, "dijawab": 2, "prank": 1,
                              "sl15": 0.5, "sl20": 0.5, "asa": 17.5}
    assert shifts["siang"] == {"shift": "siang", **EMPTY_DAY, "masuk": 1, "ditawarkan": 1, "dijawab": 1, "sl15": 0.0,
                               "sl20": 1.0, "asa": 18.0}
    assert shifts["malam"] == {"shift": "malam", **EMPTY_DAY, "masuk": 3, "ditawarkan": 1, "ditinggalkan": 1,
                               "ivr": 1, "gagal": 1, "ghost": 1, "sl15": 0.0, "sl20": 0.0}
    day_shift = {(r["hari"], r["shift"]): r["masuk"] for r in rows(report, "harian_shift") if r["masuk"]}
    assert day_shift == {("2026-12-01", "pagi"): 1, ("2026-12-01", "siang"): 1, ("2026-12-01", "malam"): 1,
                         ("2026-12-02", "malam"): 1, ("2026-12-15", "pagi"): 1, ("2026-12-31", "malam"): 1}
    assert len(rows(report, "harian_shift")) == 31 * 3
    [december] = rows(report, "bulanan")
    assert december["bulan"] == "Desember 2026" and december["masuk"] == 6 and december["sl20"] == 0.5

    assert rows(report, "nomor_berulang") == [{
        "nomor": A, "panggilan": 3, "dijawab": 2, "ghost": 0, "prank": 1, "pertama": "1 Desember 2026 08:00",
        "terakhir": "15 Desember 2026 10:00"}]

    assert [(r["nilai"], r["tiket"], r["persen"]) for r in rows(report, "kategori")] == [
        ("kebakaran", 3, 0.5), ("(tidak diisi)", 2, 0.3333), ("ambulans", 1, 0.1667)]
    assert [(r["nilai"], r["tiket"]) for r in rows(report, "jenis_kejadian")] == [
        ("(tidak diisi)", 4), ("Kebakaran rumah/permukiman", 1), ("Sakit mendadak/kritis", 1)]
    assert [(r["nilai"], r["tiket"]) for r in rows(report, "kecamatan")] == [
        ("(tidak diisi)", 4), ("Samarinda Ulu", 1), ("Sungai Kunjang", 1)]

    agencies = by(report, "instansi", "instansi")
    assert {k: (v["penugasan"], v["selesai"], v["diproses"]) for k, v in agencies.items()} == {
        "DAMKAR": (1, 1, 0), "PDAM": (1, 0, 1), "RSUD": (1, 1, 0)}
    sla = by(report, "sla_instansi", "instansi")
    assert sla["DAMKAR"] == {"instansi": "DAMKAR", "penugasan": 1, "target_diterima": "1", "median_diterima": 0.5,
                             "rata_diterima": 0.5, "sla_diterima": 1.0, "target_diproses": "5",
                             "median_diproses": 4.0, "rata_diproses": 4.0, "sla_diproses": 1.0,
                             "median_selesai": 64.0, "rata_selesai": 64.0}
    assert sla["PDAM"] == {"instansi": "PDAM", "penugasan": 1, "target_diterima": "1", "median_diterima": 3.0,
                           "rata_diterima": 3.0, "sla_diterima": 0.0, "target_diproses": "5", "median_diproses": 8.0,
                           "rata_diproses": 8.0, "sla_diproses": 0.0, "median_selesai": None, "rata_selesai": None}
    assert (sla["RSUD"]["median_diterima"], sla["RSUD"]["sla_diterima"]) == (1.0, 1.0)       # on the deadline: met
    assert (sla["RSUD"]["median_diproses"], sla["RSUD"]["sla_diproses"], sla["RSUD"]["rata_selesai"]) == (6.0, 0.0, 46.0)

    assert [(r["skor"], r["jumlah"], r["persen"]) for r in rows(report, "penilaian")] == [
        (5, 1, 0.5), (4, 1, 0.5), (3, 0, 0.0), (2, 0, 0.0), (1, 0, 0.0)]
    assert rows(report, "qa") == [
        {"petugas": "taker1", "skor": 2, "panggilan": 1, "rata_rata": 85.0, "gagal_kritis": 0},
        {"petugas": "taker2", "skor": 1, "panggilan": 1, "rata_rata": 0.0, "gagal_kritis": 1}]
    assert rows(report, "petugas") == [
        {"petugas": "taker1", "dijawab": 2, "bicara_total": 1.5, "rata_bicara": 45.0, "rata_wrapup": 30.0,
         "wrapup_diketahui": 1},
        {"petugas": "taker2", "dijawab": 1, "bicara_total": 2.0, "rata_bicara": 120.0, "rata_wrapup": 45.0,
         "wrapup_diketahui": 1}]


async def test_one_day_is_the_local_day_only(month: Any) -> None:
    reports, _ = month
    report = await reports.report(one_day("2026-12-01"))
    assert [r["hari"] for r in rows(report, "harian")] == ["2026-12-01"]
    assert by(report, "ringkasan", "indikator")["Panggilan masuk"]["nilai"] == 3
    assert [(r["shift"], r["masuk"]) for r in rows(report, "harian_shift")] == [("pagi", 1), ("siang", 1), ("malam", 1)]
    assert by(report, "ringkasan", "indikator")["Penilaian warga"]["nilai"] == 1        # the 2 December one is not


async def test_the_files_hold_the_same_numbers(month: Any, tmp_path: Path) -> None:
    _, report = month
    book = load_workbook(io.BytesIO(xlsx(report)))
    assert book.sheetnames == ["laporan", *(t.name for t in report.tables)]
    for table in report.tables:
        sheet = book[table.name]
        assert [c.value for c in sheet[1]] == [c.label for c in table.columns]
        assert [[c.value for c in row] for row in sheet.iter_rows(min_row=2)] == table.cells()
    summary = book["ringkasan"]
    assert summary["B2"].value == 6 and isinstance(summary["B2"].value, int)
    assert summary["C3"].value == 0.6667 and summary["C3"].number_format == "0.0%"

    text = csv_sections(report).decode()
    assert "# ringkasan: Ringkasan Desember 2026" in text and "Panggilan masuk,6," in text
    with zipfile.ZipFile(io.BytesIO(csv_zip(report))) as archive:
        assert archive.namelist()[0] == "01_ringkasan.csv" and len(archive.namelist()) == len(report.tables)
        assert "Dijawab ≤20 detik (dari ditawarkan),2,0.5" in archive.read("01_ringkasan.csv").decode()

    pdf = tmp_path / "laporan.pdf"
    pdf.write_bytes(pdf_report(report))
    words = " ".join(subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                                    check=True).stdout.split())
    for expected in ("LAPORAN LAYANAN PANGGILAN DARURAT 112", "Kota Samarinda", "Periode: Desember 2026",
                     "Panggilan masuk 6", "Dijawab ≤20 detik (dari ditawarkan) 2 50,0 %", "17,7",
                     "Waktu tanggap instansi dan SLA", "DAMKAR", "Skor QA per petugas", "85"):
        assert expected in words, expected
    subprocess.run(["pdftoppm", "-r", "30", "-gray", "-f", "3", "-l", "3", str(pdf), str(tmp_path / "page")],
                   check=True)
    [page] = tmp_path.glob("page*.pgm")                  # the charts' page
    pixels = page.read_bytes().split(b"\n", 3)[3]
    assert sum(p < 128 for p in pixels) > len(pixels) // 100, "the charts' page is blank"
