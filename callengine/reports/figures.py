"""The report's tables, each a pure function of what the stores returned for the period (calls,
tickets, assignments, ratings, QA scores): no SQL, no clock but `data.now`, so each table is
tested with hand-computed values.

Shares are fractions (0.25 is 25 %). Call outcomes are shares of every call that came in; the
service levels follow NENA as `callengine stats` counts them (queueing/stats.py's Tally):
answered within 15 s and within 20 s of joining the queue, over the calls offered to the queue
(answered + abandoned there); a call that ended in the IVR or failed was never offered.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from statistics import mean, median
from typing import Any
from zoneinfo import ZoneInfo

from callengine.calls.record import ENDED_IN_IVR, FAILED, CallRecord
from callengine.dispatch.model import STATUSES, DONE, Assignment
from callengine.dispatch.sla import ACCEPT, MET, MISSED, PROCESS, outcome
from callengine.qa.averages import Latest, per_group
from callengine.queueing.stats import SERVICE_LEVELS_S, Tally
from callengine.rating.service import Rating
from callengine.reports.period import MONTHS, Period, local_date
from callengine.tickets.model import Ticket

TEXT, COUNT, NUMBER, SHARE = "text", "count", "number", "share"
UNFILLED = "(tidak diisi)"
TOP_REPEATS = 10
SCORES = (5, 4, 3, 2, 1)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = COUNT          # text, count (whole), number (decimal), share (fraction)


@dataclass(frozen=True)
class Table:
    name: str                  # a file's or sheet's name: ringkasan, harian, ...
    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    note: str = ""

    def cells(self) -> list[list[Any]]:
        return [[row.get(c.key) for c in self.columns] for row in self.rows]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "note": self.note,
                "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in self.columns],
                "rows": list(self.rows)}


@dataclass(frozen=True)
class ReportData:
    """What a report is made of: the calls started, tickets opened, assignments dispatched and
    ratings given within the period, and the newest QA scores of its calls."""
    period: Period
    zone: ZoneInfo
    now: datetime
    calls: Sequence[CallRecord]
    tickets: Sequence[Ticket]
    assignments: Sequence[Assignment]
    ratings: Sequence[Rating]
    scores: Latest
    shifts: tuple[str, ...]                    # the roster's, in its order
    shift_of: Callable[[datetime], str]        # the shift on duty at a moment


CALL_COLUMNS = (
    Column("masuk", "Panggilan masuk"), Column("ditawarkan", "Ditawarkan ke antrean"), Column("dijawab", "Dijawab"),
    Column("ditinggalkan", "Ditinggalkan di antrean"), Column("ivr", "Berakhir di IVR"), Column("gagal", "Gagal"),
    Column("ghost", "Ghost (tanpa suara)"), Column("prank", "Prank (iseng)"),
    Column("sl15", "Dijawab ≤15 dtk (dari ditawarkan)", SHARE), Column("sl20", "Dijawab ≤20 dtk (dari ditawarkan)", SHARE),
    Column("asa", "Rata-rata kecepatan jawab (dtk)", NUMBER))
CALL_NOTE = ("Tingkat layanan (NENA): panggilan yang dijawab dalam 15 dan 20 detik dibagi panggilan yang "
             "ditawarkan ke antrean (dijawab + ditinggalkan di antrean); panggilan yang berakhir di IVR atau gagal "
             "tidak ditawarkan. Kecepatan jawab: rata-rata tunggu di antrean panggilan yang dijawab.")


def tables(data: ReportData) -> list[Table]:
    """Every table of the report, in the order the exports show them."""
    return [summary(data), per_day(data), per_day_shift(data), per_shift(data), per_month(data),
            repeat_numbers(data), tickets_by(data, "category", "kategori", "Tiket per kategori", "Kategori"),
            tickets_by(data, "incident_type", "jenis_kejadian", "Tiket per jenis kejadian", "Jenis kejadian"),
            tickets_by(data, "kecamatan", "kecamatan", "Tiket per kecamatan", "Kecamatan"),
            agencies(data), agency_sla(data), ratings(data), qa(data), call_takers(data)]


def summary(data: ReportData) -> Table:
    calls, tally = data.calls, _tally(data.calls)
    total = len(calls)
    kinds = _kinds(calls)
    scores = [r.score for r in data.ratings]
    rows = [("Panggilan masuk", total, None),
            ("Ditawarkan ke antrean", tally.offered, _share(tally.offered, total)),
            ("Dijawab", tally.answered, _share(tally.answered, total)),
            ("Ditinggalkan di antrean", tally.abandoned, _share(tally.abandoned, total)),
            ("Berakhir di IVR", kinds["ivr"], _share(kinds["ivr"], total)),
            ("Gagal", kinds["gagal"], _share(kinds["gagal"], total)),
            ("Ghost (tanpa suara)", kinds["ghost"], _share(kinds["ghost"], total)),
            ("Prank (iseng)", kinds["prank"], _share(kinds["prank"], total)),
            *((f"Dijawab ≤{s} detik (dari ditawarkan)", tally.within[s], _share(tally.within[s], tally.offered))
              for s in SERVICE_LEVELS_S),
            ("Rata-rata kecepatan jawab (detik)", tally.to_json()["average_speed_of_answer_s"], None),
            ("Tunggu terlama (detik)", tally.longest_wait_s if tally.offered else None, None),
            ("Tiket dibuat", len(data.tickets), None),
            ("Penugasan ke instansi", len(data.assignments), None),
            ("Penilaian warga", len(scores), None),
            ("Rata-rata penilaian (1–5)", _mean(scores, 2), None)]
    return Table("ringkasan", f"Ringkasan {data.period.label}",
                 (Column("indikator", "Indikator", TEXT), Column("nilai", "Nilai", NUMBER),
                  Column("persen", "Persen", SHARE)),
                 tuple({"indikator": name, "nilai": value, "persen": share} for name, value, share in rows),
                 "Persen hasil panggilan: dari semua panggilan masuk. " + CALL_NOTE)


def per_day(data: ReportData) -> Table:
    by_day = _group(data.calls, lambda c: _local_day(c, data.zone))
    rows = tuple({"hari": day.isoformat(), **call_row(by_day.get(day, []))} for day in data.period.days())
    return Table("harian", "Panggilan per hari", (Column("hari", "Hari", TEXT), *CALL_COLUMNS), rows, CALL_NOTE)


def per_day_shift(data: ReportData) -> Table:
    """Each day's calls by the shift on duty when they started (a night shift's hours after
    midnight belong to the next day)."""
    by_key = _group(data.calls, lambda c: (_local_day(c, data.zone), data.shift_of(c.started_at)))
    rows = tuple({"hari": day.isoformat(), "shift": shift, **call_row(by_key.get((day, shift), []))}
                 for day in data.period.days() for shift in data.shifts)
    return Table("harian_shift", "Panggilan per hari dan shift",
                 (Column("hari", "Hari", TEXT), Column("shift", "Shift", TEXT), *CALL_COLUMNS), rows,
                 "Shift: yang bertugas saat panggilan mulai. " + CALL_NOTE)


def per_shift(data: ReportData) -> Table:
    by_shift = _group(data.calls, lambda c: data.shift_of(c.started_at))
    rows = tuple({"shift": shift, **call_row(by_shift.get(shift, []))} for shift in data.shifts)
    return Table("shift", "Panggilan per shift", (Column("shift", "Shift", TEXT), *CALL_COLUMNS), rows, CALL_NOTE)


def per_month(data: ReportData) -> Table:
    months = sorted({(d.year, d.month) for d in data.period.days()})
    by_month = _group(data.calls, lambda c: (_local_day(c, data.zone).year, _local_day(c, data.zone).month))
    rows = tuple({"bulan": f"{MONTHS[m - 1]} {y}", **call_row(by_month.get((y, m), []))} for y, m in months)
    return Table("bulanan", "Panggilan per bulan", (Column("bulan", "Bulan", TEXT), *CALL_COLUMNS), rows, CALL_NOTE)


def call_row(calls: Sequence[CallRecord]) -> dict[str, Any]:
    """One row of CALL_COLUMNS."""
    tally, kinds = _tally(calls), _kinds(calls)
    return {"masuk": len(calls), "ditawarkan": tally.offered, "dijawab": tally.answered,
            "ditinggalkan": tally.abandoned, "ivr": kinds["ivr"], "gagal": kinds["gagal"], "ghost": kinds["ghost"],
            "prank": kinds["prank"], "sl15": _share(tally.within[15], tally.offered),
            "sl20": _share(tally.within[20], tally.offered), "asa": tally.to_json()["average_speed_of_answer_s"]}


def repeat_numbers(data: ReportData) -> Table:
    by_number = _group([c for c in data.calls if c.caller], lambda c: c.caller)
    repeated = sorted(((number, calls) for number, calls in by_number.items() if len(calls) >= 2),
                      key=lambda item: (-len(item[1]), item[0]))[:TOP_REPEATS]
    rows = tuple({"nomor": number, "panggilan": len(calls), "dijawab": sum(c.answered_at is not None for c in calls),
                  "ghost": sum(c.ghost for c in calls), "prank": sum(c.prank for c in calls),
                  "pertama": _local(calls[0].started_at, data.zone), "terakhir": _local(calls[-1].started_at, data.zone)}
                 for number, calls in repeated)
    return Table("nomor_berulang", "Nomor yang menelepon berulang",
                 (Column("nomor", "Nomor", TEXT), Column("panggilan", "Panggilan"), Column("dijawab", "Dijawab"),
                  Column("ghost", "Ghost"), Column("prank", "Prank"), Column("pertama", "Pertama", TEXT),
                  Column("terakhir", "Terakhir", TEXT)), rows,
                 f"Nomor yang menelepon dua kali atau lebih, {TOP_REPEATS} terbanyak; nomor tersembunyi tidak dihitung.")


def tickets_by(data: ReportData, field: str, name: str, title: str, label: str) -> Table:
    counts = Counter(getattr(t, field) or UNFILLED for t in data.tickets)
    total = len(data.tickets)
    rows = tuple({"nilai": value, "tiket": count, "persen": _share(count, total)}
                 for value, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return Table(name, title, (Column("nilai", label, TEXT), Column("tiket", "Tiket"), Column("persen", "Persen", SHARE)),
                 rows, "Tiket yang dibuat dalam periode ini.")


def agencies(data: ReportData) -> Table:
    by_agency = _group(data.assignments, lambda a: a.agency)
    rows = tuple({"instansi": agency, "penugasan": len(found),
                  **{status: sum(a.status == status for a in found) for status in STATUSES}}
                 for agency, found in sorted(by_agency.items()))
    return Table("instansi", "Penugasan per instansi",
                 (Column("instansi", "Instansi", TEXT), Column("penugasan", "Penugasan"),
                  *(Column(status, f"Kini {status}") for status in STATUSES)), rows,
                 "Penugasan yang diteruskan dalam periode ini, menurut statusnya sekarang.")


def agency_sla(data: ReportData) -> Table:
    by_agency = _group(data.assignments, lambda a: a.agency)
    rows = tuple({"instansi": agency, "penugasan": len(found), **_stage(found, ACCEPT, data.now, "diterima"),
                  **_stage(found, PROCESS, data.now, "diproses"),
                  **_durations([_minutes(a.dispatched_at, a.closed_at) for a in found if a.status == DONE], "selesai")}
                 for agency, found in sorted(by_agency.items()))
    columns = [Column("instansi", "Instansi", TEXT), Column("penugasan", "Penugasan")]
    for stage in ("diterima", "diproses"):
        columns += [Column(f"target_{stage}", f"Target {stage} (menit)", TEXT),
                    Column(f"median_{stage}", f"Median ke {stage} (menit)", NUMBER),
                    Column(f"rata_{stage}", f"Rata-rata ke {stage} (menit)", NUMBER),
                    Column(f"sla_{stage}", f"{stage.capitalize()} dalam SLA", SHARE)]
    columns += [Column("median_selesai", "Median ke selesai (menit)", NUMBER),
                Column("rata_selesai", "Rata-rata ke selesai (menit)", NUMBER)]
    return Table("sla_instansi", "Waktu tanggap instansi dan SLA", tuple(columns), rows,
                 "Waktu dihitung dari saat diteruskan. Dalam SLA: tercapai sebelum batasnya, dibagi yang tercapai "
                 "atau terlewat (yang masih berjalan sebelum batasnya dan yang ditolak tepat waktu tidak dihitung). "
                 "Selesai tidak punya target SLA.")


def ratings(data: ReportData) -> Table:
    counts = Counter(r.score for r in data.ratings)
    total = len(data.ratings)
    rows = tuple({"skor": score, "jumlah": counts[score], "persen": _share(counts[score], total)} for score in SCORES)
    average = _mean([r.score for r in data.ratings], 2)
    return Table("penilaian", "Penilaian warga",
                 (Column("skor", "Skor"), Column("jumlah", "Jumlah"), Column("persen", "Persen", SHARE)), rows,
                 f"Penilaian yang diberikan dalam periode ini (telepon balik atau tautan): {total}, "
                 f"rata-rata {average if average is not None else '-'} dari 5.")


def qa(data: ReportData) -> Table:
    """The QA averages per call taker (qa/averages.py), from the newest version of each score."""
    columns = (Column("petugas", "Petugas", TEXT), Column("skor", "Skor QA"), Column("panggilan", "Panggilan dinilai"),
               Column("rata_rata", "Rata-rata skor", NUMBER), Column("gagal_kritis", "Gagal kriteria kritis"))
    rows = tuple({"petugas": g["petugas"] or "(tanpa petugas)", "skor": g["scores"], "panggilan": g["calls"],
                  "rata_rata": g["average"], "gagal_kritis": g["failed_critical"]}
                 for g in per_group(data.scores, "petugas", lambda call: call.agent))
    return Table("qa", "Skor QA per petugas", columns, rows,
                 "Versi terbaru skor tiap penilai untuk panggilan yang mulai dalam periode ini; gagal kritis = 0.")


def call_takers(data: ReportData) -> Table:
    tickets = {t.linkedid: t for t in data.tickets}
    answered = _group([c for c in data.calls if c.answered_at is not None and c.agent], lambda c: c.agent)
    rows = []
    for agent, calls in sorted(answered.items()):
        talk = [c.talk_s or 0.0 for c in calls]
        wrap = [max((t.wrapped_up_at - c.ended_at).total_seconds(), 0.0) for c in calls
                if (t := tickets.get(c.linkedid)) is not None and t.wrapped_up_at is not None]
        rows.append({"petugas": agent, "dijawab": len(calls), "bicara_total": round(sum(talk) / 60, 1),
                     "rata_bicara": _mean(talk, 1), "rata_wrapup": _mean(wrap, 1), "wrapup_diketahui": len(wrap)})
    return Table("petugas", "Per petugas penerima panggilan",
                 (Column("petugas", "Petugas", TEXT), Column("dijawab", "Dijawab"),
                  Column("bicara_total", "Total bicara (menit)", NUMBER), Column("rata_bicara", "Rata-rata bicara (dtk)", NUMBER),
                  Column("rata_wrapup", "Rata-rata wrap-up (dtk)", NUMBER), Column("wrapup_diketahui", "Wrap-up diketahui")),
                 tuple(rows),
                 "Wrap-up: dari akhir panggilan sampai tiketnya diselesaikan di meja kerja. Panggilan yang ditawarkan "
                 "ke tiap petugas tanpa dijawab tidak tersimpan di catatan panggilan, jadi hanya yang dijawab dihitung.")


def shown(value: Any, kind: str) -> str:
    """A figure as Indonesians write it: 1.234 and 87,5 %; a missing one as a dash."""
    if value is None or value == "":
        return "-"
    if kind == SHARE:
        return f"{value * 100:.1f} %".replace(".", ",")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = f"{value:,.0f}" if kind == COUNT or float(value).is_integer() else f"{value:,.2f}".rstrip("0")
        return text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return str(value)


def _stage(found: Sequence[Assignment], stage: str, now: datetime, label: str) -> dict[str, Any]:
    deadline = (lambda a: a.accept_by) if stage == ACCEPT else (lambda a: a.process_by)
    done = (lambda a: a.accepted_at) if stage == ACCEPT else (lambda a: a.processing_at)
    results = [outcome(a, stage, now) for a in found]
    targets = sorted({round((deadline(a) - a.dispatched_at).total_seconds() / 60, 1) for a in found})
    judged = sum(r in (MET, MISSED) for r in results)
    return {f"target_{label}": " / ".join(f"{t:g}" for t in targets),
            **_durations([_minutes(a.dispatched_at, done(a)) for a in found if done(a) is not None], label),
            f"sla_{label}": _share(results.count(MET), judged)}


def _durations(minutes: list[float], label: str) -> dict[str, float | None]:
    return {f"median_{label}": round(median(minutes), 1) if minutes else None, f"rata_{label}": _mean(minutes, 1)}


def _minutes(start: datetime, end: datetime | None) -> float:
    return (end - start).total_seconds() / 60 if end else 0.0


def _tally(calls: Iterable[CallRecord]) -> Tally:
    tally = Tally()
    for call in calls:
        if call.queue is not None:          # as `callengine stats`: only calls that reached a queue were offered
            tally.add(call)
    return tally


def _kinds(calls: Sequence[CallRecord]) -> dict[str, int]:
    return {"ivr": sum(c.disposition == ENDED_IN_IVR for c in calls), "gagal": sum(c.disposition == FAILED for c in calls),
            "ghost": sum(c.ghost for c in calls), "prank": sum(c.prank for c in calls)}


def _group(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
    found: dict[Any, list[Any]] = {}
    for item in items:
        found.setdefault(key(item), []).append(item)
    return found


def _local_day(call: CallRecord, zone: ZoneInfo) -> date:
    return call.started_at.astimezone(zone).date()


def _local(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local_date(local.date())} {local:%H:%M}"


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: Sequence[float], digits: int) -> float | None:
    return round(mean(values), digits) if values else None
