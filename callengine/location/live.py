"""Where the caller of a call in progress is, for the desk's map while the call taker talks:
the INVITE's PIDF-LO and serving cell as soon as the call starts (or as soon as the INVITE is
seen, whichever comes last) and each AML report for the caller's number as it arrives.
Published as CallLocated with every source so far; the record is still located at its end."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from callengine.calls.events import CallEnded, CallLocated, CallStarted
from callengine.location.aml import AmlReport
from callengine.location.desk import LocationDesk
from callengine.location.model import Location, best

log = logging.getLogger(__name__)
Publish = Callable[[object], None]
FOLLOWED = (CallStarted, CallEnded)


@dataclass
class _Live:
    linkedid: str
    caller: str | None
    sip_call_id: str | None
    found: list[Location] = field(default_factory=list)


class LiveLocator:
    def __init__(self, desk: LocationDesk, publish: Publish) -> None:
        self.desk = desk
        self.publish = publish
        self.calls: dict[str, _Live] = {}

    async def on_event(self, event: object) -> None:
        if isinstance(event, CallStarted):
            call = self.calls[event.linkedid] = _Live(event.linkedid, event.caller, event.sip_call_id)
            await self._from_invite(call)
        elif isinstance(event, CallEnded):
            self.calls.pop(event.record.linkedid, None)

    async def invited(self, sip_call_id: str) -> None:
        """An INVITE seen after its call started (HEP and AMI race): its locations now."""
        for call in list(self.calls.values()):
            if call.sip_call_id == sip_call_id and not call.found:
                await self._from_invite(call)

    def aml(self, report: AmlReport) -> None:
        """An AML report for the caller of a call in progress moves their marker at once."""
        for call in self.calls.values():
            if call.caller is not None and call.caller == report.number:
                self._add(call, [report.location])

    async def _from_invite(self, call: _Live) -> None:
        if call.sip_call_id:
            try:
                self._add(call, await self.desk.from_invite(call.sip_call_id, call.linkedid))
            except Exception as exc:  # a help for the map, never a condition of the call
                log.warning("live location unavailable: %s", exc, extra={"linkedid": call.linkedid})

    def _add(self, call: _Live, found: list[Location]) -> None:
        if not found:
            return
        call.found += found
        chosen = best(call.found)
        self.publish(CallLocated(call.linkedid, tuple(loc.to_json() for loc in call.found),
                                 chosen.to_json() if chosen else None))
