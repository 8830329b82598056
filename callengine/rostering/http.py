"""The roster's console routes: who is on duty (`GET /api/v1/roster`), a swap, an override set
or removed, and the page `/roster` (Jadwal). Each write, done or refused, is one audit row
naming what changed (audit="service": the file is no transaction the middleware could see)."""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from callengine.rostering.service import MAX_DAYS, Change, RosterEditor, RosterRefused
from callengine.web.errors import HttpError
from callengine.web.pages import page
from callengine.web.routes import Param, Route, json_body, peer, principal

READERS = ("supervisor", "admin", "viewer")
EDITORS = ("supervisor", "admin")
STATUS = {"not_found": 404, "conflict": 409}
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WEEK = 7
Audit = Callable[[str, str, str, dict[str, Any], str], Awaitable[None]]   # actor, action, target, detail, peer


@dataclass
class RosterApi:
    editor: RosterEditor
    audit: Audit

    async def week(self, request: web.Request) -> web.Response:
        first = _day(request.query.get("from"), "from") if "from" in request.query else self.editor.today()
        raw = request.query.get("days", str(WEEK))
        if not raw.isdigit():
            raise HttpError(400, "bad_query", f"days: {raw!r} is not a whole number")
        try:
            shown = self.editor.days(first, int(raw))
        except RosterRefused as exc:
            raise HttpError(503 if exc.code == "roster_invalid" else 400, exc.code, str(exc)) from None
        return web.json_response({"from": first.isoformat(), "days": shown})

    async def page(self, request: web.Request) -> web.Response:
        """The week's grid, days down and shifts across, with the swap and override forms
        (static/roster.js sends them to the API and shows a refusal beside its form)."""
        try:
            first = _day(request.query["from"], "from") if "from" in request.query else self.editor.today()
        except HttpError:
            first = self.editor.today()         # a hand-typed address: this week rather than an error page
        try:
            roster = self.editor.roster()
            week, problem = self.editor.days(first, WEEK), None
        except RosterRefused as exc:
            roster, week, problem = None, [], str(exc)
        return page(request, "roster/roster.html", {
            "week": week, "problem": problem, "first": first.isoformat(), "today": self.editor.today().isoformat(),
            "previous": (first - timedelta(days=WEEK)).isoformat(), "next": (first + timedelta(days=WEEK)).isoformat(),
            "shifts": [s.name for s in roster.shifts] if roster else [],
            "people": sorted(roster.people.values(), key=lambda p: (p.role, p.account)) if roster else [],
            "editor": principal(request).user.role in EDITORS})

    async def swap(self, request: web.Request) -> web.Response:
        async def work(data: dict[str, Any]) -> tuple[str, list[Change]]:
            day, accounts = _day(data.get("date"), "date"), data.get("accounts")
            if not (isinstance(accounts, list) and len(accounts) == 2 and all(isinstance(a, str) for a in accounts)):
                raise HttpError(400, "bad_field", "'accounts' must be the two accounts to swap")
            return f"{day} {accounts[0]} {accounts[1]}", self.editor.swap(day, accounts[0], accounts[1],
                                                                           _in_a_row(data))
        return await self._write(request, "roster.swap", work)

    async def set_override(self, request: web.Request) -> web.Response:
        async def work(data: dict[str, Any]) -> tuple[str, list[Change]]:
            day, shift, names = _day(data.get("date"), "date"), data.get("shift"), data.get("accounts")
            if not isinstance(shift, str):
                raise HttpError(400, "bad_field", "'shift' must be the shift's name")
            if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                raise HttpError(400, "bad_field", "'accounts' must be a list of accounts (or teams)")
            return f"{day} {shift}", self.editor.set_override(day, shift, tuple(n.strip() for n in names if n.strip()),
                                                              _in_a_row(data))
        return await self._write(request, "roster.override", work, body=True)

    async def remove_override(self, request: web.Request) -> web.Response:
        async def work(_: dict[str, Any]) -> tuple[str, list[Change]]:
            day, shift = _day(request.match_info["date"], "date"), request.match_info["shift"]
            return f"{day} {shift}", self.editor.remove_override(day, shift)
        return await self._write(request, "roster.override.remove", work, body=False)

    async def _write(self, request: web.Request, action: str,
                     work: Callable[[dict[str, Any]], Awaitable[tuple[str, list[Change]]]],
                     body: bool = True) -> web.Response:
        """Run one edit and keep its audit row, whether it was written or refused."""
        actor, target = principal(request).user.name, request.path
        try:
            target, changes = await work(await json_body(request) if body else {})
        except RosterRefused as exc:
            await self.audit(actor, action, target, {"refused": exc.code, "message": str(exc)}, peer(request))
            raise HttpError(STATUS.get(exc.code, 400), exc.code, str(exc)) from None
        except HttpError as exc:
            await self.audit(actor, action, target, {"refused": exc.error, "message": exc.message}, peer(request))
            raise
        shown = [c.to_json() for c in changes]
        await self.audit(actor, action, target, {"changes": shown}, peer(request))
        return web.json_response({"changes": shown})

    def routes(self) -> list[Route]:
        names = {"type": "array", "items": {"type": "string"}}
        in_a_row = {"type": "boolean", "description": "someone works two shifts in a row, and that is meant"}
        swap = {"type": "object", "required": ["date", "accounts"], "properties": {
            "date": {"type": "string", "format": "date"}, "accounts": {**names, "minItems": 2, "maxItems": 2},
            "in_a_row": in_a_row}}
        override = {"type": "object", "required": ["date", "shift", "accounts"], "properties": {
            "date": {"type": "string", "format": "date"}, "shift": {"type": "string"}, "accounts": names,
            "in_a_row": in_a_row}}
        return [
            Route("GET", "/roster", self.page, READERS, "roster.page", "the roster's week: who is on each shift, "
                  "with the swap and override forms for supervisors", tags=("roster",)),
            Route("GET", "/api/v1/roster", self.week, READERS, "roster.days",
                  "who is on duty on each shift of each day, the rotation with its overrides",
                  query=(Param("from", "YYYY-MM-DD: the first day (today by default)"),
                         Param("days", f"how many days, 1..{MAX_DAYS} (7 by default)", "integer")),
                  tags=("roster",)),
            Route("POST", "/api/v1/roster/swap", self.swap, EDITORS, "roster.swap",
                  "two people swap their shifts of a date, written as overrides into roster.conf",
                  audit="service", body=swap, tags=("roster",)),
            Route("POST", "/api/v1/roster/overrides", self.set_override, EDITORS, "roster.override",
                  "who works one shift of a date, whatever the rotation says", audit="service", body=override,
                  tags=("roster",)),
            Route("DELETE", "/api/v1/roster/overrides/{date}/{shift}", self.remove_override, EDITORS,
                  "roster.override.remove", "the shift of that date back to the rotation", audit="service",
                  tags=("roster",)),
        ]


def _in_a_row(data: dict[str, Any]) -> bool:
    value = data.get("in_a_row", False)
    if not isinstance(value, bool):
        raise HttpError(400, "bad_field", "'in_a_row' must be true or false")
    return value


def _day(raw: object, what: str) -> date:
    if isinstance(raw, str) and DAY.match(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise HttpError(400, "bad_field", f"{what}: {raw!r} is not a date (YYYY-MM-DD)")
