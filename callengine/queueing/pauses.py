"""Pausing a call taker by hand (a break, a briefing): checked against the roster and the
configured reasons, applied to the 112 queue, and kept with who and when."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from callengine.core.clock import Clock
from callengine.db.alerts import PauseRepository
from callengine.queueing.members import QueueControl
from callengine.queueing.roster import Roster


class PauseError(ValueError):
    """The request names no one on the roster or a reason not configured."""


class Pauses:
    def __init__(self, queue: str, reasons: Sequence[str], roster: Callable[[], Roster], pbx: QueueControl,
                 pauses: PauseRepository, clock: Clock) -> None:
        self.queue, self.reasons, self.roster = queue, tuple(reasons), roster
        self.pbx, self.pauses, self.clock = pbx, pauses, clock

    async def set(self, account: str, paused: bool, reason: str, by: str) -> None:
        check_pause(self.roster(), self.reasons, account, paused, reason)
        await self.pbx.pause(self.queue, account, paused, reason if paused else "")
        if paused:
            await self.pauses.start(account, reason, by, self.clock.now())
        else:
            await self.pauses.end(account, by, self.clock.now())


def check_pause(roster: Roster, reasons: Sequence[str], account: str, paused: bool, reason: str) -> None:
    if account not in roster.people:
        raise PauseError(f"{account!r} is not on the roster")
    if paused and reason not in reasons:
        raise PauseError(f"reason {reason!r} is not one of {', '.join(reasons)} ([queue] pause_reasons)")
