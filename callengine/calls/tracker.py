"""Group AMI events by Linkedid; when the last channel of a call hangs up, build its record.

The tracker knows AMI event names and fields (plain dicts), but nothing of the AMI client,
the database or tickets: finished records go to an async sink.

A call the tracker saw born (the Newchannel of its first channel) is *witnessed*: its record
is built from the events. A call it did not see whole (adopted after an engine restart, or
live while AMI was lost) is finished from Asterisk's CEL through `recover`, which knows the
whole call, and only falls back to the events when CEL has nothing.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callengine.calls.events import CallAnswered, CallEnded, CallOffered, CallQueued, CallStarted, IvrDone
from callengine.calls.numbers import to_e164
from callengine.calls.record import CallRecord, Event, agent_account, build_record, event_time, is_emergency
from callengine.core.clock import Clock
from callengine.telephony import dialplan

log = logging.getLogger(__name__)

RecordSink = Callable[[CallRecord], Awaitable[None]]
Publish = Callable[[object], None]
# The record of a call from Asterisk's own log: (linkedid, earliest time it can have begun).
Recover = Callable[[str, datetime], Awaitable[CallRecord | None]]
KEPT_EVENTS = frozenset({
    "Newchannel", "Hangup", "UserEvent", "QueueCallerJoin", "QueueCallerLeave",
    "QueueCallerAbandon", "AgentCalled", "AgentConnect", "AgentComplete", "AgentRingNoAnswer",
    "ChannelTalkingStart", "DTMFEnd", "Hold", "Unhold",
})
FINISHED_MEMORY = 10_000   # linkedids of finished calls remembered: a late event must not revive one


IVR_GRACE_S = 3.0  # how long a finished call waits for its IVR session to report
# app_queue publishes AgentComplete through Stasis: now and then it arrives after the last
# Hangup. An answered call waits this long for it (talk time and who hung up are in it).
AGENT_COMPLETE_GRACE_S = 3.0


@dataclass
class _LiveCall:
    since: datetime                      # the earliest time the call can have begun
    witnessed: bool                      # the tracker saw its first channel born
    seen: float = field(default_factory=time.monotonic)
    events: list[tuple[datetime, Event]] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)
    notes: dict[str, Any] = field(default_factory=dict)
    ivr_done: asyncio.Event | None = None   # set while an IVR session runs for this call
    agent_done: asyncio.Event | None = None  # set once answered by a call taker, until AgentComplete
    finishing: bool = False


@dataclass(frozen=True)
class LiveChannels:
    """What Asterisk says of one live call (CoreShowChannels): its channels and since when."""
    uniqueids: frozenset[str]
    since: datetime


class CallTracker:
    def __init__(self, sink: RecordSink, clock: Clock, recover: Recover | None = None,
                 publish: Publish | None = None) -> None:
        self.sink = sink
        self.clock = clock
        self.recover = recover
        self.publish: Publish = publish or (lambda event: None)
        self.live: dict[str, _LiveCall] = {}
        self.finished: OrderedDict[str, None] = OrderedDict()

    async def on_event(self, event: Event) -> None:
        kind = event.get("Event")
        linkedid = event.get("Linkedid")
        if kind not in KEPT_EVENTS or not linkedid or linkedid in self.finished:
            return
        uniqueid = event.get("Uniqueid", "")
        call = self.live.get(linkedid)
        if call is None:
            now = self.clock.now()
            born = kind == "Newchannel" and uniqueid == linkedid
            call = self.live[linkedid] = _LiveCall(since=event_time(event, now), witnessed=born)
        seen = self.clock.now()
        call.events.append((seen, event))
        if kind == "Newchannel":
            call.channels.add(uniqueid)
        elif kind == "UserEvent" and event.get("UserEvent") == dialplan.RECORDING_EVENT:
            self._started(linkedid, call, event, event_time(event, seen))
        elif kind == "AgentCalled":
            self.publish(CallOffered(linkedid, event_time(event, seen), event.get("Queue", ""),
                                     agent_account(event) or ""))
        elif kind == "AgentConnect":
            call.agent_done = asyncio.Event()
            self.publish(CallAnswered(linkedid, event_time(event, seen), agent_account(event) or "",
                                      _float(event.get("HoldTime"))))
        elif kind == "AgentComplete" and call.agent_done is not None:
            call.agent_done.set()
        elif kind == "QueueCallerJoin":
            log.info("caller queued", extra={"linkedid": linkedid, "queue": event.get("Queue"),
                                             "position": event.get("Position")})
            self.publish(CallQueued(linkedid, event_time(event, seen), event.get("Queue", ""),
                                    _int(event.get("Position"))))
        elif kind == "Hangup":
            call.channels.discard(uniqueid)
            # a call not seen whole may hold channels we never heard of: its caller's hangup ends it
            if not call.channels or (not call.witnessed and uniqueid == linkedid):
                await self.finish(linkedid)

    def ivr_started(self, linkedid: str) -> None:
        """The call's record waits (briefly) for this IVR session's notes, even if the caller hangs up first."""
        call = self.live.get(linkedid)
        if call is not None:
            call.ivr_done = asyncio.Event()

    def annotate(self, linkedid: str, **notes: Any) -> None:
        """Facts learned outside AMI (the IVR's category, path and timing) for the call's record."""
        call = self.live.get(linkedid)
        if call is None:
            log.warning("notes for a call no longer tracked", extra={"linkedid": linkedid})
            return
        call.notes.update(notes)
        if call.ivr_done is not None:
            call.ivr_done.set()
        self.publish(IvrDone(linkedid, notes.get("category"), notes.get("priority"),
                             tuple(notes.get("ivr_path", ()))))

    def _started(self, linkedid: str, call: _LiveCall, event: Event, at: datetime) -> None:
        first = next((e for _, e in call.events if e.get("Uniqueid") == linkedid), event)
        raw = first.get("CallerIDNum", "")
        self.publish(CallStarted(linkedid, at, to_e164(raw), raw, event.get("Dialed") or None,
                                 event.get("Callid") or event.get("CallID") or None))

    def events_lost(self) -> None:
        """AMI was away (a reconnect): every call followed so far may have missed events."""
        for call in self.live.values():
            call.witnessed = False

    def adopt(self, calls: Mapping[str, LiveChannels]) -> int:
        """Take on the live calls Asterisk lists that the tracker does not follow yet (after an
        engine restart, or calls begun while AMI was away); returns how many."""
        adopted = 0
        for linkedid, live in calls.items():
            if linkedid in self.finished:
                continue
            call = self.live.get(linkedid)
            if call is None:
                call = self.live[linkedid] = _LiveCall(since=live.since, witnessed=False)
                adopted += 1
            if not call.witnessed:
                call.since = min(call.since, live.since)
                call.channels |= live.uniqueids
        return adopted

    async def sweep(self, active: Iterable[str], listed_at: float) -> None:
        """Calls followed since before Asterisk listed its channels (monotonic `listed_at`)
        whose caller's channel was not in the list ended unseen: finish them now."""
        channels = set(active)
        for linkedid, call in list(self.live.items()):
            if linkedid not in channels and call.seen < listed_at and not call.finishing:
                log.warning("call ended while AMI was away; finishing it", extra={"linkedid": linkedid})
                call.witnessed = False
                await self.finish(linkedid)

    async def finish(self, linkedid: str) -> None:
        call = self.live.get(linkedid)
        if call is None or call.finishing:
            return
        call.finishing = True
        await self._wait_for_late_facts(linkedid, call)
        del self.live[linkedid]
        self._remember(linkedid)
        record = await self._record(linkedid, call)
        if record is None:
            return
        log.info("call finished", extra={"linkedid": linkedid, "disposition": record.disposition,
                                         "source": record.source})
        self.publish(CallEnded(record))
        await self.sink(record)

    async def _wait_for_late_facts(self, linkedid: str, call: _LiveCall) -> None:
        if call.ivr_done is not None:
            try:
                await asyncio.wait_for(call.ivr_done.wait(), IVR_GRACE_S)
            except asyncio.TimeoutError:
                log.warning("IVR never reported; recording the call without its notes", extra={"linkedid": linkedid})
        if call.agent_done is not None and call.witnessed:
            try:
                await asyncio.wait_for(call.agent_done.wait(), AGENT_COMPLETE_GRACE_S)
            except asyncio.TimeoutError:
                log.warning("no AgentComplete for an answered call; talk time from the hangup",
                            extra={"linkedid": linkedid})

    async def _record(self, linkedid: str, call: _LiveCall) -> CallRecord | None:
        """From the events if the call was seen whole, else from CEL (the events as a last resort)."""
        record = None
        if not call.witnessed and self.recover is not None:
            record = await self.recover(linkedid, call.since)
        if record is None:
            if not call.events or not is_emergency([e for _, e in call.events]):
                return None
            record = build_record(linkedid, call.events)
        category = call.notes.pop("category", None)
        record.category = category or record.category
        if call.notes:      # this engine ran the IVR: its notes are the fuller ones
            record.ivr = call.notes if record.source == "ami" else {**record.ivr, **call.notes}
        return record

    def _remember(self, linkedid: str) -> None:
        self.finished[linkedid] = None
        if len(self.finished) > FINISHED_MEMORY:
            self.finished.popitem(last=False)


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def _float(raw: str | None) -> float | None:
    value = _int(raw)
    return float(value) if value is not None else None
