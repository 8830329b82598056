"""Group AMI events by Linkedid; when the last channel of a call hangs up, build its record.

The tracker knows AMI event names and fields (plain dicts), but nothing of the AMI client,
the database or tickets: finished records go to an async sink.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callengine.calls.record import CallRecord, Event, build_record, is_emergency
from callengine.clock import Clock

log = logging.getLogger(__name__)

RecordSink = Callable[[CallRecord], Awaitable[None]]
KEPT_EVENTS = frozenset({
    "Newchannel", "Hangup", "UserEvent", "QueueCallerJoin", "QueueCallerLeave",
    "QueueCallerAbandon", "AgentCalled", "AgentConnect", "AgentComplete", "AgentRingNoAnswer",
    "ChannelTalkingStart", "DTMFEnd",
})


IVR_GRACE_S = 3.0  # how long a finished call waits for its IVR session to report
# app_queue publishes AgentComplete through Stasis: now and then it arrives after the last
# Hangup. An answered call waits this long for it (talk time and who hung up are in it).
AGENT_COMPLETE_GRACE_S = 3.0


@dataclass
class _LiveCall:
    events: list[tuple[datetime, Event]] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)
    notes: dict[str, Any] = field(default_factory=dict)
    ivr_done: asyncio.Event | None = None   # set while an IVR session runs for this call
    agent_done: asyncio.Event | None = None  # set once answered by a call taker, until AgentComplete
    finishing: bool = False


class CallTracker:
    def __init__(self, sink: RecordSink, clock: Clock) -> None:
        self.sink = sink
        self.clock = clock
        self.live: dict[str, _LiveCall] = {}

    async def on_event(self, event: Event) -> None:
        kind = event.get("Event")
        linkedid = event.get("Linkedid")
        if kind not in KEPT_EVENTS or not linkedid:
            return
        call = self.live.setdefault(linkedid, _LiveCall())
        call.events.append((self.clock.now(), event))
        uniqueid = event.get("Uniqueid", "")
        if kind == "Newchannel":
            call.channels.add(uniqueid)
        elif kind == "AgentConnect":
            call.agent_done = asyncio.Event()
        elif kind == "AgentComplete" and call.agent_done is not None:
            call.agent_done.set()
        elif kind == "QueueCallerJoin":
            log.info("caller queued", extra={"linkedid": linkedid, "queue": event.get("Queue"),
                                             "position": event.get("Position")})
        elif kind == "Hangup":
            call.channels.discard(uniqueid)
            if not call.channels:
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

    async def finish(self, linkedid: str) -> None:
        call = self.live.get(linkedid)
        if call is None or call.finishing:
            return
        call.finishing = True
        if call.ivr_done is not None:
            try:
                await asyncio.wait_for(call.ivr_done.wait(), IVR_GRACE_S)
            except asyncio.TimeoutError:
                log.warning("IVR never reported; recording the call without its notes", extra={"linkedid": linkedid})
        if call.agent_done is not None:
            try:
                await asyncio.wait_for(call.agent_done.wait(), AGENT_COMPLETE_GRACE_S)
            except asyncio.TimeoutError:
                log.warning("no AgentComplete for an answered call; talk time from the hangup",
                            extra={"linkedid": linkedid})
        del self.live[linkedid]
        if not call.events or not is_emergency([e for _, e in call.events]):
            return
        record = build_record(linkedid, call.events)
        record.category = call.notes.pop("category", None)
        record.ivr = call.notes
        log.info("call finished", extra={"linkedid": linkedid, "disposition": record.disposition})
        await self.sink(record)

    async def sweep(self, active_linkedids: Iterable[str]) -> None:
        """After an AMI reconnect: calls whose channels all vanished meanwhile are finished now."""
        active = set(active_linkedids)
        for linkedid in [k for k in self.live if k not in active]:
            log.warning("call ended while AMI was away; finishing from the events we have",
                        extra={"linkedid": linkedid})
            await self.finish(linkedid)
