"""Queue statistics of one day from our own call records: per queue, per shift, per call taker.

A centre's day follows its roster: it starts when the day's first shift starts (07:00 for
pagi) and runs 24 hours, so the night shift that begins on the 24th is counted on the 24th.
Service levels follow NENA: answered within 15 s and within 20 s, as a share of the calls
offered to the queue.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from callengine.calls.record import ABANDONED, ANSWERED, CallRecord
from callengine.queueing.roster import Roster

SERVICE_LEVELS_S = (15, 20)


def day_window(roster: Roster, day: date) -> tuple[datetime, datetime]:
    first = min(roster.shifts, key=lambda s: s.start)
    start, _ = first.window(day, roster.zone)
    return start, start + timedelta(days=1)


def shift_of(roster: Roster, moment: datetime) -> str:
    return roster.duty_at(moment).shift


@dataclass
class Tally:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    within: dict[int, int] = field(default_factory=lambda: {s: 0 for s in SERVICE_LEVELS_S})
    waits_answered: list[float] = field(default_factory=list)
    longest_wait_s: float = 0.0

    def add(self, record: CallRecord) -> None:
        self.offered += 1
        wait = record.wait_s or 0.0
        self.longest_wait_s = max(self.longest_wait_s, wait)
        if record.disposition == ANSWERED:
            self.answered += 1
            self.waits_answered.append(wait)
            for level in SERVICE_LEVELS_S:
                self.within[level] += wait <= level
        elif record.disposition == ABANDONED:
            self.abandoned += 1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"offered": self.offered, "answered": self.answered, "abandoned": self.abandoned}
        for level in SERVICE_LEVELS_S:
            out[f"answered_within_{level}s"] = self.within[level]
            out[f"service_level_{level}s"] = round(self.within[level] / self.offered, 4) if self.offered else None
        out["average_speed_of_answer_s"] = (round(sum(self.waits_answered) / len(self.waits_answered), 1)
                                            if self.waits_answered else None)
        out["longest_wait_s"] = self.longest_wait_s
        return out


def day_stats(records: Iterable[CallRecord], roster: Roster, day: date) -> dict[str, Any]:
    """Only calls that reached a queue count as offered; calls that ended in the IVR do not."""
    start, end = day_window(roster, day)
    queues: dict[str, Tally] = {}
    every = Tally()                       # every queue together: the centre's figure
    shifts: dict[str, Tally] = {s.name: Tally() for s in roster.shifts}
    agents: dict[str, dict[str, float]] = {}
    for record in records:
        if record.queue is None or not start <= record.started_at < end:
            continue
        queues.setdefault(record.queue, Tally()).add(record)
        every.add(record)
        shifts[shift_of(roster, record.started_at)].add(record)
        if record.disposition == ANSWERED and record.agent:
            agent = agents.setdefault(record.agent, {"answered": 0, "talk_s": 0.0})
            agent["answered"] += 1
            agent["talk_s"] += record.talk_s or 0.0
    return {
        "day": day.isoformat(), "from": start.isoformat(), "to": end.isoformat(),
        "all": every.to_json(),
        "queues": {name: tally.to_json() for name, tally in sorted(queues.items())},
        "shifts": {name: tally.to_json() for name, tally in shifts.items()},
        "calltakers": {name: {"answered": int(a["answered"]), "talk_s": round(a["talk_s"], 1)}
                       for name, a in sorted(agents.items())},
    }
