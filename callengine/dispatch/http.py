"""The console's dispatch API: a ticket dispatched to agencies (`POST /api/v1/tickets/{number}/
dispatch`), the agencies the rules propose for it, the assignments (a responder sees only their
agency's) and their status changes. The service writes each change's audit row in the change's
own transaction (audit="service")."""
from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from aiohttp import hdrs, web

from callengine.dispatch.live import AssignmentFeed, AssignmentNotice
from callengine.dispatch.model import STATUSES, Actor, DispatchError, DispatchRules
from callengine.dispatch.service import DISPATCHERS, OPEN, RESPONDER, Dispatcher
from callengine.web.errors import HttpError
from callengine.web.pages import page
from callengine.web.routes import Param, Route, json_body, peer, principal
from callengine.web.sse import SignedIn, always, stream

READERS = (*DISPATCHERS, "admin", RESPONDER)           # who lists assignments (a responder: their agency's)
DIRECTORY = (*READERS, "viewer")                        # who reads the agencies' directory
MOVERS = (*DISPATCHERS, RESPONDER)
HTTP_STATUS = {"not_found": 404, "forbidden": 403, "illegal_transition": 409, "conflict": 409, "bad_field": 400}
MAX_DEVICE = 200
T = TypeVar("T")


def actor(request: web.Request) -> Actor:
    user = principal(request).user
    return Actor(user.name, user.role, user.agency, peer(request),
                 request.headers.get(hdrs.USER_AGENT, "")[:MAX_DEVICE] or None)


async def answer(work: Awaitable[T]) -> T:
    """The service's refusals as the API's JSON errors."""
    try:
        return await work
    except DispatchError as exc:
        raise HttpError(HTTP_STATUS.get(exc.code, 400), exc.code, str(exc)) from None


@dataclass
class DispatchApi:
    dispatcher: Dispatcher
    rules: DispatchRules
    feed: AssignmentFeed = field(default_factory=AssignmentFeed)
    signed_in: SignedIn = always      # the console re-checks the session at each heartbeat

    async def dispatch(self, request: web.Request) -> web.Response:
        data = await json_body(request)
        made = await answer(self.dispatcher.dispatch(request.match_info["number"], data.get("agencies"),
                                                     data.get("note"), actor(request)))
        return web.json_response({"assignments": [a.to_json() for a in made]}, status=201)

    async def proposal(self, request: web.Request) -> web.Response:
        number = request.match_info["number"]
        proposed, assigned = await answer(self.dispatcher.proposal(number))
        return web.json_response({"number": number, "agencies": list(proposed),
                                  "assigned": {a.agency: a.status for a in assigned}})

    async def assignments(self, request: web.Request) -> web.Response:
        who, status = actor(request), request.query.get("status") or None
        now = self.dispatcher.clock.now().isoformat()
        if who.role == RESPONDER:       # their own agency's, each with what they need of its ticket
            briefed = await answer(self.dispatcher.briefed(who, status))
            return web.json_response({"now": now, "assignments": [{**a.to_json(), "ticket": ticket}
                                                                  for a, ticket in briefed]})
        found = await answer(self.dispatcher.visible(who, status))
        last = await self.dispatcher.last_moves(found)
        return web.json_response({"now": now, "assignments": [
            {**a.to_json(), "last_move": last[a.id].to_json() if a.id in last else None} for a in found]})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Which assignment changed, as it commits: a responder hears their agency's only."""
        agency = principal(request).user.agency if principal(request).user.role == RESPONDER else None

        def shown(event: object) -> bytes | None:
            assert isinstance(event, AssignmentNotice)
            return event.frame if agency is None or event.agency == agency else None
        return await stream(request, self.feed, self.signed_in, shown, lambda: b": open\n\n")

    async def board_page(self, request: web.Request) -> web.Response:
        """The dispatchers' board: missed deadlines, refusals to send on again, open assignments
        (static/board.js, on the same API, live by the assignments' events)."""
        return page(request, "dispatch/board.html", {"agencies": {c: a.name for c, a in self.rules.agencies.items()}})

    async def responder_page(self, request: web.Request) -> web.Response:
        """The responder's phone page: their agency's open assignments (static/responder.js)."""
        code = principal(request).user.agency or ""
        agency = self.rules.agencies.get(code)
        return page(request, "responder/responder.html", {"agency_code": code,
                                                           "agency_name": agency.name if agency else code})

    async def change_status(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        if not raw.isdigit():
            raise HttpError(404, "not_found", f"no assignment {raw!r}")
        data = await json_body(request)
        changed = await answer(self.dispatcher.change(int(raw), data.get("status"), data.get("note"),
                                                      actor(request)))
        return web.json_response(changed.to_json())

    async def agencies(self, request: web.Request) -> web.Response:
        return web.json_response({"agencies": [a.to_json() for a in self.rules.agencies.values()]})

    def routes(self) -> list[Route]:
        note = {"type": "string", "maxLength": 1000}
        dispatch = {"type": "object", "required": ["agencies"], "properties": {
            "agencies": {"type": "array", "items": {"enum": list(self.rules.agencies)}, "minItems": 1},
            "note": note}}
        change = {"type": "object", "required": ["status"], "properties": {
            "status": {"enum": list(STATUSES)}, "note": note}}
        return [
            Route("POST", "/api/v1/tickets/{number}/dispatch", self.dispatch, DISPATCHERS, "dispatch.send",
                  "dispatch the ticket to agencies: one assignment each, diteruskan, its SLA deadlines armed",
                  audit="service", body=dispatch, tags=("dispatch",)),
            Route("GET", "/api/v1/dispatch/proposal/{number}", self.proposal, DISPATCHERS, "dispatch.proposal",
                  "the agencies the rules propose for the ticket, and those it is dispatched to already",
                  tags=("dispatch",)),
            Route("GET", "/api/v1/assignments", self.assignments, READERS, "assignments.list",
                  "assignments, newest first (a responder: their agency's only, each with its ticket's "
                  "category, incident type, description, address, location and callback number; others: "
                  "each with its last move, e.g. a refusal's reason)",
                  query=(Param("status", ", ".join(STATUSES) + f", or {OPEN} (the first three)"),),
                  tags=("dispatch",)),
            Route("GET", "/api/v1/assignments/events", self.events, READERS, "assignments.events",
                  "Server-Sent Events: `assignment` {what, id, ticket_number, agency, status} as each "
                  "dispatch or status change commits (a responder: their agency's only)", tags=("dispatch",)),
            Route("POST", "/api/v1/assignments/{id}/status", self.change_status, MOVERS, "assignments.status",
                  "move an assignment: diterima, diproses, selesai, ditolak (with a reason); diteruskan "
                  "reopens it (supervisor, call taker; with a reason)", audit="service", body=change,
                  tags=("dispatch",)),
            Route("GET", "/dispatch", self.board_page, DISPATCHERS, "dispatch.board",
                  "the dispatchers' board: missed SLA deadlines, refused assignments to reopen, every open "
                  "assignment with its clock", tags=("dispatch",)),
            Route("GET", "/responder", self.responder_page, (RESPONDER,), "responder",
                  "the responder's phone page: their agency's open assignments", tags=("dispatch",)),
            Route("GET", "/api/v1/agencies", self.agencies, DIRECTORY, "agencies.list",
                  "the agencies of config/agencies.conf", tags=("dispatch",)),
        ]
