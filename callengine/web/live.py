"""The engine's live API, on loopback for the console only, behind a generated secret
(`engine_api` in runtime/secrets.conf) sent as `Authorization: Bearer <secret>`:

- `GET /api/live/events`: Server-Sent Events, first `snapshot` (the present), then every call
  and queue event as it happens (`call.started`, `call.ivr_done`, `call.queued`, `call.offered`,
  `call.answered`, `call.located`, `call.ended`, `call.stored` (its record and ticket committed),
  `queue.member`, `queue.alert`), a comment every 15 s.
- `GET /api/live/snapshot`: calls in progress with their facts, queue members, waiting callers.
- `POST /api/live/callback` {account, number, by, linkedid?}: ring the call taker, then the citizen
  (of the missed call `linkedid`); the call-back is stored and its outcome follows.
- `POST /api/live/pause` {account, paused, reason, by}: pause or unpause a call taker.
- `POST /api/live/notify` {assignment_id, agency, phone, ticket, prompt, confirm?}: call an agency's
  duty phone and play the spoken message (`prompt`: a WAV of runtime/voice/ by name); the stream
  then carries `dispatch.phone_accepted` (1 pressed) and `dispatch.phone_result` (the call's end).
- `POST /api/live/spy` {supervisor, account, mode: listen|whisper|barge}: ring the supervisor's
  softphone into the call taker's call (ChanSpy).
- `POST /api/live/rate` {ticket, phone, prompt, confirm?}: call the citizen back for a rating (the
  duty phone's machinery, [rating] context); the stream then carries `rating.result` (its end, the score).
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from callengine.calls.callback import CallbackError, Callbacks, CallbackUnavailable
from callengine.calls.dutyphone import DutyPhoneError, DutyPhones, PhoneAccepted, PhoneResult
from callengine.calls.events import (CALL_EVENTS, CallAnswered, CallEnded, CallLocated, CallOffered, CallQueued,
                                    CallStarted, IvrDone)
from callengine.calls.live import LiveCalls
from callengine.calls.spy import SpyError, Spying
from callengine.core.fanout import Fanout
from callengine.web.sse import always, frame, stream
from callengine.queueing.events import MemberChanged, SupervisorAlert
from callengine.queueing.pauses import PauseError, Pauses
from callengine.rating.phone import RatingCallError, RatingCalls, RatingResult
from callengine.tickets.events import TicketOpened

log = logging.getLogger(__name__)
EVENT_NAMES: dict[type, str] = {
    CallStarted: "call.started", IvrDone: "call.ivr_done", CallQueued: "call.queued", CallOffered: "call.offered",
    CallAnswered: "call.answered", CallLocated: "call.located", CallEnded: "call.ended", MemberChanged: "queue.member",
    SupervisorAlert: "queue.alert", TicketOpened: "call.stored",
    PhoneAccepted: "dispatch.phone_accepted", PhoneResult: "dispatch.phone_result",
    RatingResult: "rating.result",
}
# call events reach the stream through LiveCalls; these straight from the bus
QUEUE_EVENTS = (MemberChanged, SupervisorAlert, TicketOpened)
QueueStatus = Callable[[], Awaitable[dict[str, Any]]]


class LiveFeed:
    """The live events, each encoded once as it happens (with its call as that event left it)
    and the same bytes fanned out to every listener: a listener costs a copy, not an encoding."""

    def __init__(self, calls: LiveCalls) -> None:
        self.calls = calls
        self.fanout = Fanout()

    async def publish(self, event: object) -> None:
        if self.fanout.listeners:   # with nobody listening there is nothing to encode
            await self.fanout.publish(frame(EVENT_NAMES[type(event)], _with_call(event, self.calls)))

    def listen(self) -> asyncio.Queue[object | None]:
        return self.fanout.listen()

    def leave(self, queue: asyncio.Queue[object | None]) -> None:
        self.fanout.leave(queue)

    def close(self) -> None:
        self.fanout.close()


@dataclass
class LiveApi:
    secret: str
    feed: LiveFeed
    calls: LiveCalls
    queue_status: QueueStatus
    callbacks: Callbacks
    pauses: Pauses
    dutyphones: DutyPhones | None = None
    ratings: RatingCalls | None = None
    spying: Spying | None = None


def event_json(event: object) -> dict[str, Any]:
    if isinstance(event, CallEnded):
        return {"record": event.record.to_json()}
    if isinstance(event, TicketOpened):     # the record is in the store: lists of calls may show it now
        return {"linkedid": event.record.linkedid, "disposition": event.record.disposition,
                "ticket": event.ticket.number}
    return asdict(event)  # type: ignore[call-overload]


def _with_call(event: object, calls: LiveCalls) -> dict[str, Any]:
    """A call event with the call as it stands now (None once it ended): a listener keeps its
    own copy of the present by replacing, never by replaying the engine's rules."""
    data = event_json(event)
    if not isinstance(event, CALL_EVENTS):
        return data
    linkedid = event.record.linkedid if isinstance(event, CallEnded) else getattr(event, "linkedid", None)
    if linkedid is None:
        return data
    call = calls.get(linkedid)
    return {**data, "call": call.to_json() if call else None}


def add_live_routes(app: web.Application, api: LiveApi) -> None:
    app["live"] = api
    app.router.add_get("/api/live/events", _guarded(_events))
    app.router.add_get("/api/live/snapshot", _guarded(_snapshot))
    app.router.add_post("/api/live/callback", _guarded(_callback))
    app.router.add_post("/api/live/pause", _guarded(_pause))
    app.router.add_post("/api/live/notify", _guarded(_notify))
    app.router.add_post("/api/live/rate", _guarded(_rate))
    app.router.add_post("/api/live/spy", _guarded(_spy))


Handler = Callable[[web.Request, LiveApi], Awaitable[web.StreamResponse]]


def _guarded(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def guarded(request: web.Request) -> web.StreamResponse:
        api: LiveApi = request.app["live"]
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {api.secret}".encode()):
            log.warning("live API refused: no or wrong secret", extra={"path": request.path, "peer": request.remote})
            return _error(401, "unauthorized", "the engine's live API needs its secret")
        return await handler(request, api)
    return guarded


async def _snapshot_body(api: LiveApi) -> dict[str, Any]:
    try:
        queues: dict[str, Any] | None = await api.queue_status()
    except Exception as exc:  # AMI away: the calls are still worth showing
        log.warning("queue status unavailable for the live snapshot: %s", exc)
        queues = None
    return {"calls": api.calls.snapshot(), "queues": queues}


async def _snapshot(request: web.Request, api: LiveApi) -> web.StreamResponse:
    return web.json_response(await _snapshot_body(api), dumps=_dumps)


async def _events(request: web.Request, api: LiveApi) -> web.StreamResponse:
    def shown(event: object) -> bytes:
        assert isinstance(event, bytes)
        return event
    return await stream(request, api.feed, always, shown, lambda: frame("snapshot", {"calls": api.calls.snapshot()}))


async def _callback(request: web.Request, api: LiveApi) -> web.StreamResponse:
    body = await _json(request)
    try:
        placed = await api.callbacks.call_back(_text(body, "account"), _text(body, "number"), _text(body, "by"),
                                               _optional_text(body, "linkedid"))
    except CallbackUnavailable as exc:
        return _error(503, "callback_unrecorded", str(exc))
    except (CallbackError, ValueError) as exc:
        return _error(400, "callback_refused", str(exc))
    log.info("call back placed", extra={"account": placed.account, "by": placed.requested_by,
                                        "linkedid": placed.linkedid, "for_linkedid": placed.for_linkedid})
    return web.json_response({"status": "calling", "callback": placed.to_json()})


async def _pause(request: web.Request, api: LiveApi) -> web.StreamResponse:
    body = await _json(request)
    try:
        paused = body.get("paused")
        if not isinstance(paused, bool):
            raise PauseError("'paused' must be true or false")
        await api.pauses.set(_text(body, "account"), paused, str(body.get("reason") or ""), _text(body, "by"))
    except (PauseError, ValueError) as exc:
        return _error(400, "pause_refused", str(exc))
    return web.json_response({"status": "paused" if paused else "ready"})


async def _spy(request: web.Request, api: LiveApi) -> web.StreamResponse:
    body = await _json(request)
    if api.spying is None:
        return _error(503, "spy_unavailable", "this engine does not connect supervisors to calls")
    try:
        call = await api.spying.spy(_text(body, "supervisor"), _text(body, "account"), _text(body, "mode"))
    except (SpyError, ValueError) as exc:
        return _error(400, "spy_refused", str(exc))
    log.info("supervisor connected to a call", extra={"supervisor": body.get("supervisor"),
                                                      "account": body.get("account"), "mode": body.get("mode"),
                                                      "call": call})
    return web.json_response({"status": "calling", "call_id": call})


async def _notify(request: web.Request, api: LiveApi) -> web.StreamResponse:
    body = await _json(request)
    if api.dutyphones is None:
        return _error(503, "notify_unavailable", "this engine does not call duty phones")
    try:
        call = await api.dutyphones.call(body.get("assignment_id"), body.get("agency"), body.get("phone"),
                                         body.get("ticket"), body.get("prompt"), body.get("confirm"))
    except DutyPhoneError as exc:
        return _error(400, "notify_refused", str(exc))
    return web.json_response({"status": "calling", "call_id": call.id, "phone": call.phone})


async def _rate(request: web.Request, api: LiveApi) -> web.StreamResponse:
    body = await _json(request)
    if api.ratings is None:
        return _error(503, "rate_unavailable", "this engine does not place rating calls")
    try:
        call = await api.ratings.call(body.get("ticket"), body.get("phone"), body.get("prompt"), body.get("confirm"))
    except RatingCallError as exc:
        return _error(400, "rate_refused", str(exc))
    return web.json_response({"status": "calling", "call_id": call.id, "phone": call.phone})


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": "bad_json", "message": "the body is not JSON"}),
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "bad_json", "message": "the body is not an object"}),
                                 content_type="application/json")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} is missing")
    return value


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string")
    return value


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=_default, ensure_ascii=False)


def _default(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
