"""The calls in progress as the bus tells them: what the live API's snapshot, the screen pop
and the wallboard show. A view only: it follows the tracker's events and forgets a call at its end."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from callengine.calls.events import (CallAnswered, CallEnded, CallEvent, CallLocated, CallOffered, CallQueued,
                                    CallStarted, IvrDone)

IN_IVR, QUEUED, RINGING, ANSWERED = "ivr", "queued", "ringing", "answered"


@dataclass(frozen=True)
class LiveCall:
    linkedid: str
    started_at: datetime
    caller: str | None
    caller_raw: str
    dialed: str | None
    sip_call_id: str | None
    state: str = IN_IVR
    category: str | None = None
    priority: int | None = None
    ivr_path: tuple[str, ...] = ()
    queue: str | None = None
    ringing: tuple[str, ...] = ()       # call takers whose softphones ring with it now
    agent: str | None = None
    answered_at: datetime | None = None
    location: dict[str, Any] | None = None          # the best known now
    locations: tuple[dict[str, Any], ...] = ()      # every source so far
    notes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        # a shallow copy: asdict() deep-copies every location, and this runs for each call event
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("started_at", "answered_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["ringing"], data["ivr_path"], data["locations"] = list(self.ringing), list(self.ivr_path), \
            list(self.locations)
        return data


class LiveCalls:
    """`changed` hears each event once this view has applied it, so a listener that reads the
    view (the live API's stream) never sees a call older than the event it is told of."""

    def __init__(self, changed: Callable[[CallEvent], Awaitable[None]] | None = None) -> None:
        self.calls: dict[str, LiveCall] = {}
        self.changed = changed

    async def on_event(self, event: CallEvent) -> None:
        self.apply(event)
        if self.changed is not None:
            await self.changed(event)

    def get(self, linkedid: str) -> LiveCall | None:
        return self.calls.get(linkedid)

    def apply(self, event: CallEvent) -> None:
        if isinstance(event, CallStarted):
            self.calls[event.linkedid] = LiveCall(event.linkedid, event.at, event.caller, event.caller_raw,
                                                  event.dialed, event.sip_call_id)
        elif isinstance(event, CallEnded):
            self.calls.pop(event.record.linkedid, None)
        elif (call := self.calls.get(event.linkedid)) is not None:
            self.calls[event.linkedid] = _moved(call, event)

    def snapshot(self) -> list[dict[str, Any]]:
        return [call.to_json() for call in sorted(self.calls.values(), key=lambda c: c.started_at)]


def _moved(call: LiveCall, event: CallEvent) -> LiveCall:
    if isinstance(event, IvrDone):
        return replace(call, category=event.category, priority=event.priority, ivr_path=event.path)
    if isinstance(event, CallQueued):
        return replace(call, state=QUEUED, queue=event.queue)
    if isinstance(event, CallOffered):
        return replace(call, state=RINGING if call.state != ANSWERED else ANSWERED,
                       ringing=(*call.ringing, event.agent))
    if isinstance(event, CallAnswered):
        return replace(call, state=ANSWERED, agent=event.agent, answered_at=event.at, ringing=())
    if isinstance(event, CallLocated):
        return replace(call, location=event.best, locations=event.locations)
    return call
