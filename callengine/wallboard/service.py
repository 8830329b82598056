"""The wallboard's state, gathered and pushed: on every call or assignment event (at most every
REBUILD_S) and every TICK_S besides (deadlines pass with no event), the state is composed again
and published as one `wallboard` Server-Sent Event to every open board. The live part (who
waits, each taker's state) comes from memory and the queue status every time; the day's figures
from the store only after an event that changes them, or TICK_S later (benchmarks/wallboard.py:
reading a busy day on every event cost 0.34 s of CPU each). Waiting times tick in the browser
from their start; the page never polls."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from callengine.core.clock import Clock
from callengine.core.fanout import Fanout
from callengine.db.alerts import AlertRepository, PauseRepository
from callengine.db.assignments import AssignmentRepository
from callengine.db.calls import CallRepository
from callengine.db.tickets import TicketRepository
from callengine.dispatch.live import AssignmentNotice
from callengine.dispatch.model import ACCEPTED, FORWARDED, PROCESSING
from callengine.queueing.roster import Roster
from callengine.queueing.stats import day_stats, day_window
from callengine.wallboard import board
from callengine.web.engine_link import EngineError, EngineLink, LiveEvent
from callengine.web.sse import frame

log = logging.getLogger(__name__)
REBUILD_S = 0.3
TICK_S = 10.0
FIGURES_MAX_AGE = timedelta(seconds=TICK_S)     # SLA clocks and wrap-ups move with no event
MAX_INCIDENTS = 300                             # the map's newest: every frame carries them
FIGURE_EVENTS = frozenset({"call.ended", "call.stored", "queue.alert", "snapshot", "link"})
EVENT = "wallboard"


class Wallboard:
    def __init__(self, link: EngineLink, calls: CallRepository, tickets: TicketRepository,
                 assignments: AssignmentRepository, alerts: AlertRepository, pauses: PauseRepository,
                 roster: Callable[[], Roster], clock: Clock, sources: list[Fanout]) -> None:
        self.link, self.calls, self.tickets, self.assignments = link, calls, tickets, assignments
        self.alerts, self.pauses, self.roster, self.clock = alerts, pauses, roster, clock
        self.sources = sources              # what wakes the board: the link's events, the assignments'
        self.feed = Fanout()
        self.last: dict[str, Any] | None = None
        self.figures: dict[str, Any] | None = None
        self.figures_at = datetime.min.replace(tzinfo=timezone.utc)
        self.stale = True
        self.composing = asyncio.Lock()

    async def state(self) -> dict[str, Any]:
        """The floor now: who waits and each taker's state from memory (the engine's live calls)
        and the queue status; the day's figures from the store, read again only when a call was
        stored, an assignment moved, or FIGURES_MAX_AGE passed (a day of calls is costly to read)."""
        now, roster = self.clock.now(), self.roster()
        if self.stale or self.figures is None or now - self.figures_at > FIGURES_MAX_AGE:
            self.figures, self.figures_at, self.stale = await self._figures(roster, now), now, False
        figures = self.figures
        floor = board.Floor(self.link.snapshot()["calls"], await self._queues(),
                            {k: v.isoformat() for k, v in (await self.pauses.open_since()).items()},
                            {t["taker"]: t["since"] for t in reversed(figures["unfinished"])})
        return {"at": now.isoformat(), "engine": self.link.connected, **figures,
                "waiting": board.waiting(floor.calls), "takers": board.takers(floor),
                "alerts": sorted([*figures["alerts"], *self._links(floor, now)], key=lambda a: a["at"], reverse=True)}

    async def current(self) -> dict[str, Any]:
        """The last state published, or the first one composed once for every board asking
        (boards reconnecting after a console restart must not each compose their own)."""
        async with self.composing:
            if self.last is None:
                self.last = await self.state()
            return self.last

    async def _figures(self, roster: Roster, now: datetime) -> dict[str, Any]:
        today = _centre_day(roster, now)
        start, end = day_window(roster, today)
        records = await self.calls.between(start - timedelta(days=1), end)
        today_calls = [r for r in records if r.started_at >= start]
        open_work = [a for status in (FORWARDED, ACCEPTED, PROCESSING) for a in await self.assignments.find(status)]
        duty = roster.duty_at(now)
        stats = day_stats(records, roster, today)
        return {
            "shift": {"name": duty.shift, "from": duty.starts.isoformat(), "until": duty.ends.isoformat()},
            "today": {**stats["all"], **board.shares(today_calls), "shifts": stats["shifts"]},
            "shift_figures": {**stats["shifts"].get(duty.shift, {}),
                              **board.shares(r for r in today_calls if r.started_at >= duty.starts)},
            "yesterday": {**day_stats(records, roster, today - timedelta(days=1))["all"],
                          **board.shares(r for r in records if r.started_at < start)},
            "tickets": board.open_work(open_work), "sla": board.sla(open_work, now),
            "unfinished": await self._unfinished(start, {r.linkedid: r.ended_at for r in today_calls}),
            "alerts": [{"at": a["at"].isoformat(), "kind": a["kind"], "message": a["message"]}  # type: ignore[union-attr]
                       for a in await self.alerts.since(start)],
            "incidents": board.incidents(today_calls)[-MAX_INCIDENTS:],
        }

    async def run(self) -> None:
        """Compose and publish on every event (coalesced) and every TICK_S."""
        queues = [source.listen() for source in self.sources]
        try:
            while True:
                await self._publish()
                waits = [asyncio.ensure_future(q.get()) for q in queues]
                done, pending = await asyncio.wait(waits, timeout=TICK_S, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                heard = [task.result() for task in done]
                if any(event is None for event in heard):      # a source closed: listen again
                    queues = [source.listen() for source in self.sources]
                await asyncio.sleep(REBUILD_S)  # wait-ok: one rebuild for a burst of events
                for q in queues:
                    while not q.empty():
                        heard.append(q.get_nowait())
                self.stale = self.stale or not heard or any(_changes_figures(event) for event in heard)
        finally:
            for source, q in zip(self.sources, queues):
                source.leave(q)

    async def _publish(self) -> None:
        try:
            self.last = await self.state()
        except Exception as exc:  # the database away: the boards keep what they show, and say so
            log.warning("wallboard not rebuilt: %s", exc)
            return
        self.feed.send(frame(EVENT, self.last))

    async def _unfinished(self, since: datetime, ended: dict[str, datetime]) -> list[dict[str, Any]]:
        """Today's tickets whose call has ended and whose taker has not finished them (Selesaikan
        tiket), newest first: the taker is in wrap-up since that call's end; a supervisor may hand
        one to someone else."""
        return [{"number": t.number, "taker": t.taker, "since": ended[t.linkedid].isoformat(),
                 "category": t.category}
                for t in await self.tickets.find(since=since, limit=500)
                if t.taker and t.wrapped_up_at is None and t.linkedid in ended]

    async def _queues(self) -> dict[str, Any] | None:
        try:
            return (await self.link.read("/api/live/snapshot")).get("queues")
        except EngineError as exc:
            log.debug("wallboard without the queue status: %s", exc)
            return None

    def _links(self, floor: board.Floor, now: datetime) -> list[dict[str, Any]]:
        """The alerts the store does not hold: the engine or Asterisk away now."""
        if not self.link.connected:
            return [{"at": now.isoformat(), "kind": "engine_away",
                     "message": "the engine is away: calls still reach the queue, this board is not live"}]
        if floor.queues is None:
            return [{"at": now.isoformat(), "kind": "asterisk_away", "message": "Asterisk's queue status is unavailable"}]
        return []


def _changes_figures(event: object) -> bool:
    """An event after which the day's figures must be read again: a call stored or ended, an
    assignment dispatched or moved, an alert, the engine's link coming or going."""
    if isinstance(event, AssignmentNotice):
        return True
    return isinstance(event, LiveEvent) and event.name in FIGURE_EVENTS


def _centre_day(roster: Roster, now: datetime) -> date:
    """The roster's day `now` is in (it starts at the first shift: the night belongs to its evening)."""
    local = now.astimezone(roster.zone).date()
    start, _ = day_window(roster, local)
    return local if now >= start else local - timedelta(days=1)

