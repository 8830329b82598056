"""The desk's ticket opens when a call taker answers: the engine follows each call's start (its
caller) and IVR (its category) on the bus, and on `CallAnswered` opens the ticket with the
taker's account and the moment they answered. The call's record attaches to it at hangup
(CallRecords.save); if the database is away at the answer, the hangup opens it instead."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from callengine.calls.events import CallAnswered, CallEnded, CallStarted, IvrDone
from callengine.tickets.records import CallRecords

log = logging.getLogger(__name__)
FOLLOWED = (CallStarted, IvrDone, CallAnswered, CallEnded)


@dataclass
class _Facts:
    caller: str | None = None
    category: str | None = None


@dataclass
class TicketOpener:
    records: CallRecords
    calls: dict[str, _Facts] = field(default_factory=dict)

    async def on_event(self, event: object) -> None:
        if isinstance(event, CallStarted):
            self.calls.setdefault(event.linkedid, _Facts()).caller = event.caller
        elif isinstance(event, IvrDone):
            self.calls.setdefault(event.linkedid, _Facts()).category = event.category
        elif isinstance(event, CallEnded):
            self.calls.pop(event.record.linkedid, None)
        elif isinstance(event, CallAnswered):
            facts = self.calls.get(event.linkedid, _Facts())
            try:
                ticket = await self.records.open_at_answer(event.linkedid, facts.caller, facts.category,
                                                           event.agent, event.at)
            except Exception as exc:  # driver errors vary; the hangup opens the ticket then
                log.warning("ticket not opened at answer: %s", exc, extra={"linkedid": event.linkedid})
                return
            if ticket is not None:
                log.info("ticket opened at answer", extra={"linkedid": event.linkedid, "number": ticket.number,
                                                           "taker": event.agent})
