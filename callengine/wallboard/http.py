"""The wallboard's page (`/wallboard`; `?tv=1` for the wall of the room), its state as JSON
(`GET /api/v1/wallboard`) and as Server-Sent Events (`GET /api/v1/wallboard/events`), and the
supervisor's acts, carried out by the engine: pause a call taker (`POST /api/v1/wallboard/pause`),
listen to, whisper into or barge into a taker's call (`POST /api/v1/wallboard/spy`)."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from callengine.wallboard.service import EVENT, Wallboard
from callengine.web.engine_link import EngineError
from callengine.web.errors import HttpError
from callengine.web.pages import page
from callengine.web.routes import Route, json_body, principal
from callengine.web.sse import SignedIn, frame, stream

WATCHERS = ("supervisor", "viewer")       # a viewer: the read-only big screen


@dataclass
class WallboardApi:
    board: Wallboard
    signed_in: SignedIn
    pause_reasons: tuple[str, ...]
    tiles: str = ""

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(await self.board.state())

    async def events(self, request: web.Request) -> web.StreamResponse:
        first = await self.board.current()
        return await stream(request, self.board.feed, self.signed_in, lambda event: event if isinstance(event, bytes)
                            else None, lambda: frame(EVENT, first))

    async def wallboard_page(self, request: web.Request) -> web.Response:
        tv = request.query.get("tv") == "1"
        return page(request, "wallboard/wallboard.html", {
            "tv": tv, "acts": principal(request).user.role == "supervisor" and not tv,
            "reasons": self.pause_reasons, "tiles": self.tiles})

    async def pause(self, request: web.Request) -> web.Response:
        data = await json_body(request)
        account, paused, reason = data.get("account"), data.get("paused"), str(data.get("reason") or "")
        if not isinstance(account, str) or not account or not isinstance(paused, bool):
            raise HttpError(400, "bad_field", "account (text) and paused (true or false) are needed")
        if paused and reason not in self.pause_reasons:
            raise HttpError(400, "bad_field", f"reason: one of {', '.join(self.pause_reasons)}")
        try:
            done = await self.board.link.command("/api/live/pause", {
                "account": account, "paused": paused, "reason": reason, "by": principal(request).user.name})
        except EngineError as exc:
            raise HttpError(409, "pause_refused", str(exc)) from None
        return web.json_response(done)

    async def spy(self, request: web.Request) -> web.Response:
        """The supervisor's own softphone rings into the taker's call: listen, whisper or barge."""
        data = await json_body(request)
        try:
            done = await self.board.link.command("/api/live/spy", {
                "supervisor": principal(request).user.name, "account": data.get("account"), "mode": data.get("mode")})
        except EngineError as exc:
            raise HttpError(409, "spy_refused", str(exc)) from None
        return web.json_response(done)

    def routes(self) -> list[Route]:
        pause = {"type": "object", "required": ["account", "paused"], "additionalProperties": False, "properties": {
            "account": {"type": "string"}, "paused": {"type": "boolean"}, "reason": {"enum": list(self.pause_reasons)}}}
        return [
            Route("GET", "/wallboard", self.wallboard_page, WATCHERS, "wallboard.page",
                  "the floor at a glance (?tv=1: large, without controls, for the wall)", tags=("wallboard",)),
            Route("GET", "/api/v1/wallboard", self.state, WATCHERS, "wallboard.state",
                  "waiting callers, call takers and their state, today's and this shift's figures beside "
                  "yesterday's, open assignments by agency, SLA at risk or missed, alerts, today's incidents",
                  tags=("wallboard",)),
            Route("GET", "/api/v1/wallboard/events", self.events, WATCHERS, "wallboard.events",
                  "Server-Sent Events: `wallboard` with the whole state, at once and on every change",
                  tags=("wallboard",)),
            Route("POST", "/api/v1/wallboard/pause", self.pause, ("supervisor",), "wallboard.pause",
                  "pause (with a reason) or unpause a call taker in the queue", body=pause, tags=("wallboard",)),
            Route("POST", "/api/v1/wallboard/spy", self.spy, ("supervisor",), "wallboard.spy",
                  "ring the supervisor's own softphone into a call taker's call: listen, whisper (to the taker "
                  "only) or barge in (ChanSpy)", body={
                      "type": "object", "required": ["account", "mode"], "additionalProperties": False,
                      "properties": {"account": {"type": "string"}, "mode": {"enum": ["listen", "whisper", "barge"]}}},
                  tags=("wallboard",)),
        ]
