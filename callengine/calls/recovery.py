"""Nothing lost across an engine restart or an AMI outage.

On every AMI (re)connect the engine adopts each live call Asterisk lists (the tracker then
follows it to its end and builds its record from CEL, which saw it whole), finishes the calls
whose channels vanished meanwhile, and rebuilds from CEL every call that ended unseen. While
connected it keeps looking: every few seconds it reads what CEL appended and rebuilds any
ended call that neither the tracker nor the store knows, and it lists Asterisk's channels to
finish any call whose end it missed. A call ending is a hint to read CEL's tail sooner.
Records are written once: the writer is idempotent on Linkedid, and a call the tracker or
writer still holds is never rebuilt beside it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

from callengine.calls.rebuild import CelTail, LONGEST_CALL, Row, finished_calls, read_cel, record_from_cel
from callengine.calls.record import CallRecord
from callengine.calls.tracker import CallTracker, LiveChannels, RecordSink
from callengine.core.clock import Clock

log = logging.getLogger(__name__)

ListChannels = Callable[[], Awaitable[list[dict[str, str]]]]   # CoreShowChannels' events
KnownLinkedids = Callable[[list[str]], Awaitable[set[str]]]    # which of these the store has
Pending = Callable[[], set[str]]                                  # records on their way to the store
REBUILD_WINDOW = timedelta(days=7)   # how far back CEL is searched on connect
CHECK_INTERVAL_S = 10.0              # how often CEL's tail and Asterisk's channels are looked at
CEL_END_WAIT_S = 3.0                 # how long a call's end may take to reach CEL after its Hangup
CEL_MARGIN = timedelta(seconds=30)   # slack on a call's known start when its CEL lines are read
HINT_PACE_S = 1.0                    # at most one look a second, however many calls end
SETTLING = timedelta(seconds=2)      # a periodic look leaves younger calls to their own events


class CallRecovery:
    def __init__(self, tracker: CallTracker, cel_path: Path, recordings_dir: Path, *, list_channels: ListChannels,
                 connected: asyncio.Event, known: KnownLinkedids, pending: Pending, submit: RecordSink,
                 clock: Clock, interval_s: float = CHECK_INTERVAL_S) -> None:
        self.tracker = tracker
        self.cel_path = cel_path
        self.recordings_dir = recordings_dir
        self.list_channels = list_channels
        self.known = known
        self.pending = pending
        self.submit = submit
        self.clock = clock
        self.interval_s = interval_s
        self.tail = CelTail(cel_path)
        self.connected = connected          # AMI's: the periodic look pauses while it is down
        self.hinted = asyncio.Event()

    async def recover(self, linkedid: str, since: datetime) -> CallRecord | None:
        """The record of one call from CEL; what CEL has by the deadline if its end never comes."""
        rows = await self.cel_rows(linkedid, since)
        record = record_from_cel(linkedid, rows, self.recordings_dir) if rows else None
        if record is None:
            log.warning("call not found in CEL; recording it from the events seen", extra={"linkedid": linkedid})
        return record

    async def cel_rows(self, linkedid: str, since: datetime) -> list[Row]:
        """One call's CEL lines once Asterisk wrote its end (a moment after the last Hangup);
        what CEL has by the deadline if it never does (the call goes on, or left no line)."""
        deadline = time.monotonic() + CEL_END_WAIT_S
        pause = 0.02
        while True:
            rows = (await asyncio.to_thread(read_cel, self.cel_path, since, CEL_MARGIN)).get(linkedid, [])
            if any(r["eventtype"] == "LINKEDID_END" for r in rows) or time.monotonic() >= deadline:
                return rows
            await asyncio.sleep(pause)  # wait-ok: a file has no event to wait on
            pause = min(pause * 2, 0.5)

    async def on_connected(self) -> None:
        """After every AMI login: the events of the gap are lost, so every call is taken from
        Asterisk's own account of it."""
        self.tracker.events_lost()
        await self.check_channels(settling=timedelta())
        self.tail.skip_to_end()          # the rebuild reads up to here and further
        await self.rebuild(self.clock.now() - REBUILD_WINDOW)

    def hint(self) -> None:
        """A call just ended: a good moment to look at CEL's tail before the next round."""
        self.hinted.set()

    async def run(self) -> None:
        """The periodic look at CEL's tail and Asterisk's channels while AMI is up, sooner
        after a hint (at most once a second)."""
        channels_listed = time.monotonic()
        while True:
            await self.connected.wait()
            try:
                async with asyncio.timeout(self.interval_s):
                    await self.hinted.wait()
                await asyncio.sleep(HINT_PACE_S)  # wait-ok: a pace: many calls ending make one look
            except TimeoutError:
                pass
            self.hinted.clear()
            try:
                await self.check_tail()
                if time.monotonic() - channels_listed >= self.interval_s:   # costlier: on the interval only
                    channels_listed = time.monotonic()
                    await self.check_channels(settling=SETTLING)
            except Exception as exc:  # the store or AMI away: the next look tries again
                log.warning("recovery check failed: %s", str(exc) or type(exc).__name__)

    async def check_channels(self, settling: timedelta) -> None:
        """Adopt the live calls older than `settling` that the tracker does not follow; finish
        the followed calls whose caller is gone."""
        listed_at = time.monotonic()
        try:
            replies = await self.list_channels()
        except Exception as exc:  # AMI errors: the next connect or look tries again
            log.warning("cannot list Asterisk's channels: %s", exc)
            return
        now = self.clock.now()
        calls = _live_calls(replies, now)
        adopted = self.tracker.adopt({k: v for k, v in calls.items() if v.since <= now - settling})
        if adopted:
            log.warning("live calls adopted", extra={"adopted": adopted, "live": len(calls)})
        callers = {linkedid for linkedid, live in calls.items() if linkedid in live.uniqueids}
        await self.tracker.sweep(callers, listed_at)

    async def check_tail(self) -> None:
        """Calls that ended in CEL since the last look and that nobody has: rebuild them."""
        ended = await asyncio.to_thread(self.tail.ended)
        busy = self.tracker.live.keys() | self.tracker.finished.keys() | self.pending()
        missing = [(linkedid, at) for linkedid, at in ended if linkedid not in busy]
        if missing:
            await self.rebuild(min(at for _, at in missing))

    async def rebuild(self, since: datetime) -> None:
        """Every 112 call that ended in CEL since `since` and that the store lacks becomes a
        record; retried while the store is away."""
        while True:
            try:
                calls = list(finished_calls(await asyncio.to_thread(read_cel, self.cel_path, since), since))
                known = await self.known([linkedid for linkedid, _ in calls])
                break
            except Exception as exc:  # driver errors vary by backend: try again shortly
                log.warning("cannot check for calls missed while away (%s); retrying", exc)
                await asyncio.sleep(5)  # wait-ok: a retry pace
        known |= self.pending() | self.tracker.live.keys() | self.tracker.finished.keys()
        rebuilt = 0
        for linkedid, rows in calls:
            record = None if linkedid in known else record_from_cel(linkedid, rows, self.recordings_dir)
            if record is not None:
                log.warning("call rebuilt from CEL",   # it ended while the engine was not listening
                            extra={"linkedid": linkedid, "disposition": record.disposition})
                await self.submit(record)
                rebuilt += 1
        log.info("missed calls checked", extra={"cel_calls": len(calls), "rebuilt": rebuilt})


def _live_calls(replies: list[dict[str, str]], now: datetime) -> dict[str, LiveChannels]:
    """CoreShowChannel events grouped by Linkedid, each call's start from its oldest channel."""
    channels: dict[str, set[str]] = {}
    oldest: dict[str, timedelta] = {}
    for event in replies:
        linkedid, uniqueid = event.get("Linkedid"), event.get("Uniqueid")
        if event.get("Event") != "CoreShowChannel" or not linkedid or not uniqueid:
            continue
        channels.setdefault(linkedid, set()).add(uniqueid)
        oldest[linkedid] = max(oldest.get(linkedid, timedelta()), _duration(event.get("Duration", "")))
    return {linkedid: LiveChannels(frozenset(ids), now - oldest[linkedid]) for linkedid, ids in channels.items()}


def _duration(text: str) -> timedelta:
    """CoreShowChannel's Duration, HH:MM:SS (hours may pass 24)."""
    try:
        hours, minutes, seconds = (int(part) for part in text.split(":"))
    except ValueError:
        return LONGEST_CALL      # unreadable: search CEL as far back as a call can last
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)
