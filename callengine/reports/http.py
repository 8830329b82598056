"""The reports' API, for the reports page and for scripts: every table of a period as JSON
(`GET /api/v1/reports?day=|month=|from=&to=`), and the same as a CSV, XLSX or PDF download
(`GET /api/v1/reports/export?...&format=`)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from callengine.reports.export import FORMATS, MEDIA, PDF, report_file
from callengine.reports.figures import shown
from callengine.reports.period import Period, PeriodError, period_of
from callengine.reports.service import Reports
from callengine.web.errors import HttpError
from callengine.web.pages import page
from callengine.web.routes import Param, Route

READERS = ("supervisor", "viewer", "admin")
PERIOD = (Param("day", "YYYY-MM-DD: one local day"), Param("month", "YYYY-MM: one calendar month"),
          Param("from", "YYYY-MM-DD: a range's first day (with to)"), Param("to", "YYYY-MM-DD: its last day"))


@dataclass
class ReportsApi:
    reports: Reports

    async def tables(self, request: web.Request) -> web.Response:
        report = await self.reports.report(_period(request))
        return web.json_response(report.to_json())

    async def export(self, request: web.Request) -> web.Response:
        shape = request.query.get("format", "")
        if shape not in FORMATS:
            raise HttpError(400, "bad_query", f"format {shape!r} is not one of {', '.join(FORMATS)}")
        report = await self.reports.report(_period(request))
        # the PDF's layout is CPU work of a second or more for a month: off the console's loop
        body = await asyncio.to_thread(report_file, report, shape) if shape == PDF else report_file(report, shape)
        name = f"laporan-112-{report.period.slug}.{shape}"
        return web.Response(body=body, headers={"Content-Type": MEDIA[shape],
                                                "Content-Disposition": f'attachment; filename="{name}"'})

    async def reports_page(self, request: web.Request) -> web.Response:
        """The period's tables with their charts (static/reports.js, Chart.js) and the exports;
        this month when no period is asked for."""
        asked = request.query if request.query.keys() & {"day", "month", "from"} else {
            "month": f"{self.reports.clock.now().astimezone(self.reports.zone):%Y-%m}"}
        try:
            report = await self.reports.report(period_of(asked))
        except PeriodError as exc:
            return page(request, "reports/reports.html", {"report": None, "error": str(exc), "query": ""},
                        status=400)
        shown_tables = [{"name": t.name, "title": t.title, "note": t.note, "labels": [c.label for c in t.columns],
                         "rows": [[shown(row.get(c.key), c.kind) for c in t.columns] for row in t.rows]}
                        for t in report.tables]
        return page(request, "reports/reports.html", {"report": report.to_json(), "tables": shown_tables,
                                                       "error": None, "query": urlencode(dict(asked))})

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/reports", self.reports_page, READERS, "reports.page",
                  "the reports of a day, a month or a range: charts, tables, exports", query=PERIOD,
                  tags=("reports",)),
            Route("GET", "/api/v1/reports", self.tables, READERS, "reports.tables",
                  "every table of a period (calls, service levels, tickets, the agencies' SLA, ratings, QA, call "
                  "takers), in the centre's time zone", query=PERIOD, tags=("reports",)),
            Route("GET", "/api/v1/reports/export", self.export, READERS, "reports.export",
                  "the same tables as a download: csv (one file, a section per table), xlsx (a sheet per table) "
                  "or pdf (the monthly report with its charts)",
                  query=(*PERIOD, Param("format", "csv, xlsx or pdf")), tags=("reports",)),
        ]


def _period(request: web.Request) -> Period:
    try:
        return period_of(request.query)
    except PeriodError as exc:
        raise HttpError(400, "bad_query", str(exc)) from None
