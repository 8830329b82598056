"""The QA scores' API: the forms, a call's scores (submit one; read every version of every
reviewer's), a correction (the next version, with its reason), the averages per call taker,
shift or criterion, and the calibration (calls two reviewers scored, side by side). There is
no route that changes or deletes a score. The service writes each score's audit row in the
score's own transaction (audit="service")."""
from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web

from callengine.qa.scores import CALLTAKER, GROUPS, SCORERS, Reviewer, ScoreBook
from callengine.qa.scoring import MAX_COMMENT, MAX_OVERALL, MAX_REASON, NA, ScoreError
from callengine.qa.search import local_days
from callengine.qa.search import BadSearch, parse
from callengine.web.errors import HttpError
from callengine.web.pages import page
from callengine.web.routes import Param, Route, json_body, peer, principal

READERS = (*SCORERS, "admin", CALLTAKER)      # a call's scores: a call taker only those of their own calls
HTTP_STATUS = {"not_found": 404, "forbidden": 403, "conflict": 409, "already_scored": 409, "not_answered": 409}
T = TypeVar("T")


def reviewer(request: web.Request) -> Reviewer:
    user = principal(request).user
    return Reviewer(user.name, user.role, peer(request))


async def answer(work: Awaitable[T], bad: str = "bad_field") -> T:
    """The service's refusals as the API's JSON errors (`bad`: the id of a 400)."""
    try:
        return await work
    except ScoreError as exc:
        raise HttpError(HTTP_STATUS.get(exc.code, 400), exc.code if exc.code in HTTP_STATUS else bad,
                        str(exc)) from None


@dataclass
class ScoresApi:
    book: ScoreBook
    zone: ZoneInfo

    async def forms(self, request: web.Request) -> web.Response:
        return web.json_response({"forms": [form.to_json() for form in self.book.forms.values()]})

    async def submit(self, request: web.Request) -> web.Response:
        data = await json_body(request)
        score = await answer(self.book.submit(request.match_info["linkedid"], data, reviewer(request)))
        return web.json_response(score.to_json(), status=201)

    async def correct(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        if not raw.isdigit():
            raise HttpError(404, "not_found", f"no score {raw!r}")
        data = await json_body(request)
        score = await answer(self.book.correct(int(raw), data, reviewer(request)))
        return web.json_response(score.to_json(), status=201)

    async def of_call(self, request: web.Request) -> web.Response:
        linkedid = request.match_info["linkedid"]
        scores = await answer(self.book.of_call(linkedid, reviewer(request)))
        corrected = {s.previous_id for s in scores}
        return web.json_response({"linkedid": linkedid, "scores": [
            {**s.to_json(), "latest": s.id not in corrected} for s in scores]})

    async def averages(self, request: web.Request) -> web.Response:
        since, until = self._period(request)
        by = request.query.get("by") or GROUPS[0]
        groups = await answer(self.book.averages(since, until, by), "bad_query")
        return web.json_response({"from": since.isoformat(), "to": until.isoformat(), "by": by, "groups": groups})

    async def calibration(self, request: web.Request) -> web.Response:
        since, until = self._period(request)
        calls = await self.book.calibration(since, until)
        return web.json_response({"from": since.isoformat(), "to": until.isoformat(), "calls": calls})

    async def overview_page(self, request: web.Request) -> web.Response:
        """Supervisors' and QA's view of a period: averages per call taker, shift and criterion,
        and the calls two reviewers scored side by side (calibration). Days in the centre's zone."""
        since, until = self._period(request, days=True)
        return page(request, "qa/overview.html", {
            "since": since, "until": until, "calibration": await self.book.calibration(since, until),
            **{f"by_{by}": await self.book.averages(since, until, by) for by in GROUPS}})

    def _period(self, request: web.Request, days: bool = False) -> tuple[datetime, datetime]:
        wanted = {k: v for k, v in request.query.items() if k in ("from", "to")}
        try:      # from/to read as the call search reads them, with its messages (a page: local days)
            asked = parse(local_days(wanted, self.zone) if days else wanted)
            return self.book.period(asked.since, asked.until)
        except (BadSearch, ScoreError) as exc:
            raise HttpError(400, "bad_query", str(exc)) from None

    def routes(self) -> list[Route]:
        value = {"oneOf": [{"enum": ["yes", "no", NA]}, {"type": "integer", "minimum": 0}]}
        answers = {"type": "object", "description": "criterion id → yes | no | 0..N | na, or {value, comment}",
                   "additionalProperties": {"oneOf": [value, {"type": "object", "required": ["value"], "properties": {
                       "value": value, "comment": {"type": "string", "maxLength": MAX_COMMENT}}}]}}
        comment = {"type": "string", "maxLength": MAX_OVERALL}
        submit = {"type": "object", "required": ["form", "answers"], "properties": {
            "form": {"enum": list(self.book.forms)}, "answers": answers, "comment": comment}}
        correct = {"type": "object", "required": ["reason", "answers"], "properties": {
            "reason": {"type": "string", "maxLength": MAX_REASON}, "answers": answers, "comment": comment}}
        period = (Param("from", "ISO 8601 with offset: calls started at or after (default: 30 days before `to`)"),
                  Param("to", "ISO 8601 with offset: calls started before (default: now)"))
        return [
            Route("GET", "/api/v1/qa/forms", self.forms, READERS, "qa.forms",
                  "the QA forms of config/qa.conf: parts, criteria (yes/no or 0-N), weights, N/A, critical ones",
                  tags=("qa",)),
            Route("POST", "/api/v1/calls/{linkedid}/scores", self.submit, SCORERS, "scores.submit",
                  "score a call on a form (once per reviewer: a second one is 409, correct it instead); the total "
                  "is the weighted share of points without the N/A criteria, 0 when a critical one failed",
                  audit="service", body=submit, tags=("qa",)),
            Route("GET", "/api/v1/calls/{linkedid}/scores", self.of_call, READERS, "scores.of_call",
                  "every version of every reviewer's score of the call, oldest first, each marked latest or not "
                  "(a call taker: only their own calls')", tags=("qa",)),
            Route("POST", "/api/v1/scores/{id}/corrections", self.correct, SCORERS, "scores.correct",
                  "correct a score: its next version, with a reason (its reviewer, or a supervisor); the versions "
                  "before stay", audit="service", body=correct, tags=("qa",)),
            Route("GET", "/qa", self.overview_page, SCORERS, "qa.overview",
                  "averages per call taker, shift and criterion over a period, and calibration", query=period,
                  tags=("qa",)),
            Route("GET", "/api/v1/qa/averages", self.averages, SCORERS, "qa.averages",
                  "mean scores of the newest versions over a period, per call taker, per shift (the roster's, at "
                  "the answer) or per criterion", query=(*period, Param("by", ", ".join(GROUPS))), tags=("qa",)),
            Route("GET", "/api/v1/qa/calibration", self.calibration, SCORERS, "qa.calibration",
                  "calls scored by two reviewers or more over a period: their scores and answers side by side",
                  query=period, tags=("qa",)),
        ]
