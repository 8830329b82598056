"""The reports as the console and the command line compose them: the stored data, the roster
file (re-read when it changes), the clock, the centre's zone and city; on the console also their
API and the daily summary sent through the notifications' outbox."""
from __future__ import annotations

import logging

from callengine.core.clock import Clock
from callengine.core.settings import Settings
from callengine.db.database import Database
from callengine.db.reports import ReportRepository
from callengine.dispatch.sla import EMAIL
from callengine.notify.outbox import Outbox
from callengine.queueing.roster import RosterFile
from callengine.reports.config import load_reports
from callengine.reports.daily import DailySummary
from callengine.reports.http import ReportsApi
from callengine.reports.service import Reports
from callengine.web.routes import Route

log = logging.getLogger(__name__)


def stored_reports(settings: Settings, db: Database, clock: Clock) -> Reports:
    return Reports(ReportRepository(db), RosterFile(settings.roster_file, settings.timezone), clock,
                   settings.timezone, settings.city)


class ConsoleReports:
    """The console's reports: routes() for its app, run() as its daily-summary Service."""

    def __init__(self, settings: Settings, db: Database, clock: Clock, outbox: Outbox) -> None:
        self.wanted = load_reports(settings.config_file)
        self.mail = EMAIL in outbox.senders
        reports = stored_reports(settings, db, clock)
        self.api = ReportsApi(reports)
        self.daily = DailySummary(reports, ReportRepository(db), outbox, self.wanted, clock, settings.timezone,
                                  settings.city)

    def routes(self) -> list[Route]:
        return self.api.routes()

    async def run(self) -> None:
        if not self.wanted.daily_to:
            return
        if not self.mail:
            log.error("[reports] daily_to is set but the e-mail channel is off ([notify] email): no daily summary")
            return
        await self.daily.run()
