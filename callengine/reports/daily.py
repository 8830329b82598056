"""The daily summary: from `[reports] daily_at` (local time) on, yesterday's report is e-mailed to
`daily_to`, once. Once is kept by the delivery log, not by memory: the summary's rows (one per
address, written in one transaction through the notifications' outbox, which sends and retries
them) carry the day in their subject, and a round that finds that subject there writes nothing.
So a restart, or a console down at daily_at and back later that day, sends it exactly once."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from callengine.core.clock import Clock
from callengine.dispatch.sla import EMAIL, PENDING, Notification
from callengine.notify.outbox import Outgoing
from callengine.reports.config import ReportSettings
from callengine.reports.figures import TEXT, Table, shown
from callengine.reports.period import one_day
from callengine.reports.service import Report, Reports

log = logging.getLogger(__name__)
EVERY_S = 60.0
IN_THE_MAIL = ("ringkasan", "sla_instansi", "penilaian")


class SentLog(Protocol):
    async def written(self, channel: str, subject: str) -> bool: ...


class Mailer(Protocol):
    async def put(self, rows: list[Outgoing]) -> list[int]: ...


class DailySummary:
    def __init__(self, reports: Reports, sent: SentLog, outbox: Mailer, wanted: ReportSettings, clock: Clock,
                 zone: ZoneInfo, city: str) -> None:
        self.reports, self.sent, self.outbox, self.wanted = reports, sent, outbox, wanted
        self.clock, self.zone, self.city = clock, zone, city

    async def round(self) -> int:
        """The rows written now: none before daily_at, or when yesterday's summary is written already."""
        now = self.clock.now()
        local = now.astimezone(self.zone)
        if local.time() < self.wanted.daily_at:
            return 0
        day = local.date() - timedelta(days=1)
        subject = f"Ringkasan harian 112 {self.city} {day.isoformat()}"
        if await self.sent.written(EMAIL, subject):
            log.debug("daily summary already written", extra={"day": day.isoformat()})
            return 0
        body = summary_text(await self.reports.report(one_day(day.isoformat())))
        ids = await self.outbox.put([Outgoing(Notification(EMAIL, to, subject, body, PENDING, now))
                                     for to in self.wanted.daily_to])
        log.info("daily summary written", extra={"day": day.isoformat(), "recipients": len(ids)})
        return len(ids)

    async def run(self, every_s: float = EVERY_S) -> None:
        while True:
            try:
                await self.round()
            except Exception as exc:  # the database or the roster away: the next round tries again
                log.error("daily summary round failed: %s", exc)
            await asyncio.sleep(every_s)  # wait-ok: its pace; which day was sent is in the delivery log


def summary_text(report: Report) -> str:
    """The e-mail's body: the summary, the agencies' SLA and the ratings, as plain text."""
    parts = [f"Laporan harian Layanan Panggilan Darurat 112 {report.city}, {report.period.label}."]
    parts += [_text(report.table(name)) for name in IN_THE_MAIL]
    parts.append("Laporan lengkap (CSV, XLSX, PDF): konsol 112, GET /api/v1/reports/export, "
                 f"atau `callengine report --day {report.period.first.isoformat()} --out FILE`.")
    return "\n\n".join(parts) + "\n"


def _text(table: Table) -> str:
    lines = [table.title, "-" * len(table.title)]
    if not table.rows:
        lines.append("Tidak ada data.")
    for row in table.rows:
        lines.append("; ".join(shown(row.get(c.key), c.kind) if c.kind == TEXT and i == 0
                               else f"{c.label}: {shown(row.get(c.key), c.kind)}"
                               for i, c in enumerate(table.columns)))
    return "\n".join(lines + ([table.note] if table.note else []))
