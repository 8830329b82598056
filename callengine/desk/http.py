"""The call taker's desk: the page, the calls in progress (`GET /api/v1/calls/live`), their
events pushed to the browser (`GET /api/v1/desk/events`, Server-Sent Events) for the screen
pop, and calling a citizen back (`POST /api/v1/callbacks/{linkedid}/call`) through the engine.

The browser filters what is its own (rung or answered by its softphone, whose account is the
user's name): every taker may see the floor's calls; a pop is for the one whose phone rings.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from aiohttp import web

from callengine.core.settings import ConsoleSettings
from callengine.calls.numbers import to_e164
from callengine.core.clock import Clock
from callengine.db.calls import CallRepository
from callengine.db.tickets import TicketRepository
from callengine.web.engine_link import EngineError, EngineLink, LiveEvent
from callengine.web.errors import HttpError
from callengine.web.pages import page
from callengine.web.routes import Param, Route, principal
from callengine.web.sse import SignedIn, stream

log = logging.getLogger(__name__)
DESK = ("calltaker", "supervisor")
LIVE_READERS = ("calltaker", "supervisor", "qa", "admin")
HISTORY_DAYS = 365
HISTORY_TICKETS = 10


@dataclass
class DeskApi:
    link: EngineLink
    calls: CallRepository
    tickets: TicketRepository
    clock: Clock
    console: ConsoleSettings
    signed_in: SignedIn             # asked again on a long stream: a disabled user's stream ends

    async def desk_page(self, request: web.Request) -> web.Response:
        tiles = "" if self.console.tiles == "none" else self.console.tiles
        return page(request, "desk/desk.html", {"tiles": tiles, "attribution": self.console.tiles_attribution,
                                                 "account": principal(request).user.name})

    async def live_calls(self, request: web.Request) -> web.Response:
        return web.json_response(self.link.snapshot())

    async def events(self, request: web.Request) -> web.StreamResponse:
        def shown(event: object) -> bytes:
            assert isinstance(event, LiveEvent)
            return event.frame
        return await stream(request, self.link.feed, self.signed_in, shown,
                            lambda: LiveEvent("snapshot", self.link.snapshot()).frame)

    async def history(self, request: web.Request) -> web.Response:
        """A number's earlier tickets (newest first) and how many of its calls were marked prank
        (by the desk or `callengine calls mark-prank`) in the last HISTORY_DAYS days."""
        caller = to_e164(request.query.get("caller", ""))
        if caller is None:
            raise HttpError(400, "bad_query", "caller must be a phone number")
        since = self.clock.now() - timedelta(days=HISTORY_DAYS)
        tickets = await self.tickets.find(caller, since, limit=HISTORY_TICKETS)
        return web.json_response({"caller": caller, "tickets": [t.to_json() for t in tickets],
                                  "prank_calls": await self.calls.prank_calls(caller, since)})

    async def call_back(self, request: web.Request) -> web.Response:
        """Ring this taker's softphone, then the citizen of a call nobody answered."""
        linkedid = request.match_info["linkedid"]
        call = await self.calls.get(linkedid)
        if call is None:
            raise HttpError(404, "not_found", f"no call {linkedid!r}")
        if not call.caller:
            raise HttpError(409, "no_number", "the caller's number was withheld or invalid: it cannot be called back")
        who = principal(request).user.name
        try:
            await self.link.command("/api/live/callback", {"account": who, "number": call.caller, "by": who,
                                                          "linkedid": linkedid})
        except EngineError as exc:
            raise HttpError(503, "engine_unavailable", f"the call back was not placed: {exc}") from None
        log.info("call back requested", extra={"linkedid": linkedid, "account": who})
        return web.json_response({"status": "calling", "account": who, "number": call.caller})

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/desk", self.desk_page, DESK, "desk", "the call taker's desk", tags=("desk",)),
            Route("GET", "/api/v1/calls/live", self.live_calls, LIVE_READERS, "calls.live",
                  "calls in progress (linkedid, caller, category, state, agent, location) and whether the "
                  "engine is reachable", tags=("desk",)),
            Route("GET", "/api/v1/desk/events", self.events, DESK, "desk.events",
                  "Server-Sent Events: a snapshot, then every call and queue event", tags=("desk",)),
            Route("GET", "/api/v1/desk/history", self.history, DESK, "desk.history",
                  f"a number's tickets and prank marks of the last {HISTORY_DAYS} days",
                  query=(Param("caller", "the caller's number"),), tags=("desk",)),
            Route("POST", "/api/v1/callbacks/{linkedid}/call", self.call_back, DESK, "callbacks.call",
                  "call the citizen of an unanswered call back: the taker's softphone rings first",
                  tags=("desk",)),
        ]


def tile_origin(tiles: str) -> str | None:
    """The tile server's origin, which the page's Content-Security-Policy must let images from."""
    if tiles == "none":
        return None
    parts = urlsplit(tiles)
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"      # {s}.tile.… : any subdomain

