"""The console's ticket and callback API (`/api/v1/tickets`, `/api/v1/callbacks`): what the
call taker's desk reads. Caller data (numbers, locations, recordings) only for the roles that
work with it: call takers, supervisors, QA and admins; not viewers, not (yet) responders,
who will see only their agency's assignments once dispatch exists."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from callengine.calls.numbers import to_e164
from callengine.calls.record import CallRecord
from callengine.core.clock import Clock
from callengine.db.callbacks import CallbackRepository
from callengine.db.calls import CallRepository
from callengine.db.tickets import TicketRepository
from callengine.tickets.desk import DeskOptions, FormError
from callengine.tickets.model import CLASSIFICATIONS, FORM_FIELDS, Ticket
from callengine.tickets.service import NoTicket, NotYours, TicketDesk
from callengine.tickets.story import Assignments, Rating, TicketStory
from callengine.web.errors import HttpError
from callengine.web.pages import page
from callengine.web.routes import Param, Route, json_body, peer, principal

CALLER_DATA = ("calltaker", "supervisor", "qa", "admin")
DESK = ("calltaker", "supervisor")      # who writes the ticket form
CALLBACK_WINDOW = timedelta(hours=24)   # unanswered calls older than this leave the callback list
MAX_LIMIT = 500


@dataclass
class TicketApi:
    tickets: TicketRepository
    calls: CallRepository
    clock: Clock
    desk: TicketDesk | None = None
    options: DeskOptions | None = None
    callbacks_made: CallbackRepository | None = None
    assignments: Assignments | None = None
    rating: Rating | None = None
    takes_calls: Callable[[str], Awaitable[bool]] | None = None    # an active call taker's (or supervisor's) name
    story: TicketStory = field(init=False)

    def __post_init__(self) -> None:
        self.story = TicketStory(self.callbacks_made, self.assignments, self.rating)

    async def list_tickets(self, request: web.Request) -> web.Response:
        caller = request.query.get("caller")
        if caller and to_e164(caller) is None:
            raise HttpError(400, "bad_query", f"caller {caller!r} is not a phone number")
        found = await self.tickets.find(to_e164(caller) if caller else None, _since(request),
                                        request.query.get("status") or None, _limit(request),
                                        request.query.get("linkedid") or None)
        return web.json_response({"tickets": [t.to_json() for t in found]})

    async def get_ticket(self, request: web.Request) -> web.Response:
        return web.json_response(await self.story.of(*await self._found(request.match_info["number"])))

    async def ticket_page(self, request: web.Request) -> web.Response:
        ticket, call = await self._found(request.match_info["number"])
        return page(request, "tickets/ticket.html",
                    {"ticket": ticket, "call": call, "story": await self.story.of(ticket, call)})

    async def _found(self, number: str) -> tuple[Ticket, CallRecord | None]:
        ticket = await self.tickets.by_number(number)
        if ticket is None:
            raise HttpError(404, "not_found", f"no ticket {number!r}")
        return ticket, await self.calls.get(ticket.linkedid)

    async def patch_ticket(self, request: web.Request) -> web.Response:
        """The desk's form, as the taker types: only the fields sent change."""
        data, who = await json_body(request), principal(request)
        ticket = await self._desk(lambda desk: desk.write(request.match_info["number"], data, who.user.name,
                                                          who.user.role, peer(request)))
        return web.json_response(ticket.to_json())

    async def wrap_up(self, request: web.Request) -> web.Response:
        who = principal(request)
        ticket = await self._desk(lambda desk: desk.wrap_up(request.match_info["number"], who.user.name,
                                                            who.user.role, peer(request)))
        return web.json_response(ticket.to_json())

    async def reassign(self, request: web.Request) -> web.Response:
        """A supervisor hands an unfinished ticket to another call taker, with a reason."""
        data, who = await json_body(request), principal(request)
        taker = data.get("taker")
        if not isinstance(taker, str) or self.takes_calls is None or not await self.takes_calls(taker):
            raise HttpError(400, "bad_field", f"taker: {taker!r} is not an active call taker")
        ticket = await self._desk(lambda desk: desk.reassign(request.match_info["number"], taker,
                                                             str(data.get("reason") or ""), who.user.name, peer(request)))
        return web.json_response(ticket.to_json())

    async def desk_options(self, request: web.Request) -> web.Response:
        assert self.options is not None
        return web.json_response(self.options.to_json())

    async def _desk(self, write: Any) -> Any:
        assert self.desk is not None
        try:
            return await write(self.desk)
        except FormError as exc:
            raise HttpError(400, "bad_field", str(exc)) from None
        except NoTicket as exc:
            raise HttpError(404, "not_found", f"no ticket {exc.args[0]!r}") from None
        except NotYours as exc:
            raise HttpError(403, "not_yours", f"{exc}: a call taker writes the tickets they answered") from None

    async def callbacks(self, request: web.Request) -> web.Response:
        """Calls nobody answered in the last day, newest first; each says whether the number
        was reached since (answered when it called again, or called back)."""
        since = self.clock.now() - CALLBACK_WINDOW
        missed = await self.calls.unanswered(since)
        reached = await self.calls.answered_since(sorted({c.caller for c in missed if c.caller}), since)
        placed: dict[str, list[dict[str, Any]]] = {}
        for made in await self.story.callbacks_of([c.linkedid for c in missed]):
            placed.setdefault(made.for_linkedid or "", []).append(made.to_json())
        return web.json_response({"callbacks": [
            {**_callback(c.to_json(), reached.get(c.caller or ""), c.started_at),
             "called_back": placed.get(c.linkedid, [])}
            for c in missed]})

    def routes(self) -> list[Route]:
        filters = (Param("caller", "the caller's number"), Param("since", "ISO 8601 time with offset"),
                   Param("status", "baru, diteruskan, diterima, diproses, selesai, ditolak"), Param("limit", "at most 500", "integer"),
                   Param("linkedid", "the call's linkedid: its ticket"))
        return [
            Route("GET", "/api/v1/tickets", self.list_tickets, CALLER_DATA, "tickets.list",
                  "tickets, newest first", query=filters, tags=("tickets",)),
            Route("GET", "/api/v1/tickets/{number}", self.get_ticket, CALLER_DATA, "tickets.get",
                  "one ticket with its call(s), location, call-backs, assignments, rating and timeline", tags=("tickets",)),
            Route("GET", "/tickets/{number}", self.ticket_page, CALLER_DATA, "tickets.page",
                  "one ticket: the form, the location and the call record", tags=("tickets",)),
            Route("GET", "/api/v1/callbacks", self.callbacks, CALLER_DATA, "tickets.callbacks",
                  "calls nobody answered in the last 24 h, newest first, each with the call-backs made",
                  tags=("tickets",)),
            *(self._desk_routes() if self.desk is not None else ()),
        ]

    def _desk_routes(self) -> list[Route]:
        form = {"type": "object", "additionalProperties": False, "properties": {
            **{name: {"type": ["string", "null"]} for name in FORM_FIELDS},
            "classification": {"enum": [*CLASSIFICATIONS, None]},
            "lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
            "lon": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
            "victims": {"type": ["integer", "null"], "minimum": 0},
            "priority": {"type": ["integer", "null"], "minimum": 1, "maximum": 5}}}
        return [
            Route("PATCH", "/api/v1/tickets/{number}", self.patch_ticket, DESK, "tickets.update",
                  "write the ticket form's fields (a call taker: tickets they answered or unassigned ones)",
                  audit="service", body=form, tags=("tickets",)),
            Route("POST", "/api/v1/tickets/{number}/reassign", self.reassign, ("supervisor",), "tickets.reassign",
                  "hand an unfinished ticket to another call taker, with the reason", audit="service",
                  body={"type": "object", "required": ["taker", "reason"], "additionalProperties": False,
                        "properties": {"taker": {"type": "string"}, "reason": {"type": "string", "maxLength": 500}}},
                  tags=("tickets",)),
            Route("POST", "/api/v1/tickets/{number}/wrapup", self.wrap_up, DESK, "tickets.wrapup",
                  "the taker has finished the ticket after the call", audit="service", tags=("tickets",)),
            Route("GET", "/api/v1/desk/options", self.desk_options, DESK, "desk.options",
                  "the form's choices: classifications, incident types per category, the gazetteer",
                  tags=("tickets",)),
        ]


def _callback(call: dict[str, Any], reached_at: datetime | None, started_at: datetime) -> dict[str, Any]:
    return {**call, "reached_since": reached_at.isoformat() if reached_at and reached_at > started_at else None}


def _since(request: web.Request) -> datetime | None:
    raw = request.query.get("since")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise HttpError(400, "bad_query", f"since {raw!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise HttpError(400, "bad_query", "since needs its offset, e.g. 2026-12-02T08:00+08:00")
    return moment


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise HttpError(400, "bad_query", f"limit {raw!r}: a whole number from 1 to {MAX_LIMIT}")
    return int(raw)
