"""The SLA's API: a day's assignments with their targets, actual times and escalations
(`GET /api/v1/sla?day=`), and the escalations, the open ones for the supervisor's list
(`GET /api/v1/escalations?open=1`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from aiohttp import web

from callengine.dispatch.sla import SlaBook
from callengine.web.errors import HttpError
from callengine.web.routes import Param, Route

READERS = ("supervisor", "admin", "viewer", "calltaker")   # not responders: every agency's work is here


@dataclass
class SlaApi:
    book: SlaBook

    async def day(self, request: web.Request) -> web.Response:
        raw = request.query.get("day")
        try:
            day = date.fromisoformat(raw) if raw else self.book.clock.now().astimezone(self.book.zone).date()
        except ValueError:
            raise HttpError(400, "bad_query", f"day {raw!r} is not a date (YYYY-MM-DD)") from None
        return web.json_response(await self.book.day(day))

    async def escalations(self, request: web.Request) -> web.Response:
        open_only = request.query.get("open", "0")
        if open_only not in ("0", "1"):
            raise HttpError(400, "bad_query", "open is 1 (still unmet) or 0 (all of the last day, or since)")
        raw = request.query.get("since")
        try:
            since = datetime.fromisoformat(raw) if raw else None
        except ValueError:
            raise HttpError(400, "bad_query", f"since {raw!r} is not an ISO 8601 time") from None
        if since is not None and since.tzinfo is None:
            raise HttpError(400, "bad_query", "since needs its offset, e.g. 2026-12-02T08:00+08:00")
        if since is not None and self.book.clock.now() - since > timedelta(days=31):
            raise HttpError(400, "bad_query", "since: at most 31 days back (GET /api/v1/sla?day= for older days)")
        return web.json_response({"escalations": await self.book.escalations(open_only == "1", since)})

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/v1/sla", self.day, READERS, "sla.day",
                  "each assignment dispatched that local day: its targets, actual times, met/missed/open per "
                  "stage and its escalations", query=(Param("day", "YYYY-MM-DD, the centre's time zone; today"),),
                  tags=("dispatch",)),
            Route("GET", "/api/v1/escalations", self.escalations, READERS, "sla.escalations",
                  "missed SLA deadlines escalated (1: the agency's heads, 2: the supervisor on duty), newest "
                  "first", query=(Param("open", "1: only those whose stage is still unmet"),
                                  Param("since", "ISO 8601 with offset (default: the last 24 hours)")),
                  tags=("dispatch",)),
        ]
