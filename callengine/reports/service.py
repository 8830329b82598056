"""A report of a period: its data read from the stores (db/reports.py in production, fakes in the
unit tests), its tables made by figures.py. The roster is read at each report, so the shifts are
the ones in force."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from callengine.calls.record import CallRecord
from callengine.core.clock import Clock
from callengine.dispatch.model import Assignment
from callengine.qa.averages import Latest
from callengine.queueing.roster import Roster
from callengine.queueing.stats import shift_of
from callengine.rating.service import Rating
from callengine.reports.figures import ReportData, Table, tables
from callengine.reports.period import Period
from callengine.tickets.model import Ticket

Progress = Callable[[str], None]


class ReportStore(Protocol):
    async def calls(self, start: datetime, end: datetime) -> list[CallRecord]: ...
    async def tickets(self, start: datetime, end: datetime) -> list[Ticket]: ...
    async def assignments(self, start: datetime, end: datetime) -> list[Assignment]: ...
    async def ratings(self, start: datetime, end: datetime) -> list[Rating]: ...
    async def qa_scores(self, start: datetime, end: datetime) -> Latest: ...


@dataclass(frozen=True)
class Report:
    city: str
    period: Period
    generated_at: datetime
    tables: list[Table]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def to_json(self) -> dict[str, Any]:
        return {"city": self.city, "period": self.period.to_json(), "generated_at": self.generated_at.isoformat(),
                "tables": [t.to_json() for t in self.tables]}


class Reports:
    def __init__(self, store: ReportStore, roster: Callable[[], Roster], clock: Clock, zone: ZoneInfo,
                 city: str) -> None:
        self.store, self.roster, self.clock, self.zone, self.city = store, roster, clock, zone, city

    async def report(self, period: Period, progress: Progress = lambda _: None) -> Report:
        data = await self.data(period, progress)
        progress("menyusun tabel (making the tables)")
        return Report(self.city, period, data.now, tables(data))

    async def data(self, period: Period, progress: Progress = lambda _: None) -> ReportData:
        start, end = period.window(self.zone)
        roster = self.roster()
        progress("membaca panggilan (reading the calls)")
        calls = await self.store.calls(start, end)
        progress("membaca tiket, penugasan, penilaian dan skor QA (tickets, assignments, ratings, QA scores)")
        return ReportData(period, self.zone, self.clock.now(), calls, await self.store.tickets(start, end),
                          await self.store.assignments(start, end), await self.store.ratings(start, end),
                          await self.store.qa_scores(start, end), tuple(s.name for s in roster.shifts),
                          lambda moment: shift_of(roster, moment))
