"""Roster edits and the duty of any day. An edit becomes override lines of roster.conf; the
result is loaded exactly as the engine loads it and refused, with nothing written, when it
would leave a shift with nobody, name someone not on the roster, change a shift that is over,
put someone on two shifts in a row, or change anything but the edited shifts. The engine
re-reads the file when it changes (queueing/roster.py's RosterFile), so a written edit reaches
the queue at the shift keeper's next pass, with no call dropped. Imports neither aiohttp nor
SQLAlchemy."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callengine.core.clock import Clock
from callengine.core.conf import ConfigError
from callengine.queueing.roster import Roster, Shift, load_roster
from callengine.rostering.lines import Key, remove_override, set_override
from callengine.rostering.storage import RosterStore, StaleFile

Edits = dict[Key, tuple[str, ...] | None]     # (date, shift) → its override's names, None: back to the rotation
MAX_DAYS = 62


class RosterRefused(Exception):
    """An edit refused, and why, for the person who asked: nothing was written."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Change:
    day: date
    shift: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    override: bool          # after the change the shift follows an override (not the rotation)

    def to_json(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "shift": self.shift, "before": list(self.before),
                "after": list(self.after), "override": self.override}


class RosterEditor:
    def __init__(self, path: Path, zone: ZoneInfo, clock: Clock) -> None:
        self.store, self.zone, self.clock = RosterStore(path), zone, clock

    def today(self) -> date:
        return self.clock.now().astimezone(self.zone).date()

    def roster(self) -> Roster:
        try:
            return load_roster(self.store.path, self.zone)
        except ConfigError as exc:
            raise RosterRefused("roster_invalid", f"the roster cannot be read now: {exc}") from None

    def days(self, first: date, count: int) -> list[dict[str, Any]]:
        """Who is on duty on each shift of `count` days from `first`: the read model of the page."""
        if not 1 <= count <= MAX_DAYS:
            raise RosterRefused("bad_field", f"days must be 1..{MAX_DAYS}")
        roster, now = self.roster(), self.clock.now()
        return [{"date": day.isoformat(), "shifts": [_duty(roster, day, shift, now) for shift in roster.shifts]}
                for day in (first + timedelta(days=n) for n in range(count))]

    def swap(self, day: date, first: str, second: str, in_a_row: bool = False) -> list[Change]:
        """`first` takes `second`'s shifts of `day` and `second` takes `first`'s, as overrides
        (a shift the swap gives back its rotation loses its override instead). `in_a_row`: the
        supervisor confirmed that someone works two shifts in a row."""
        def edits(roster: Roster) -> Edits:
            for account in (first, second):
                if account not in roster.people:
                    raise RosterRefused("unknown", f"{account!r} is not on the roster")
            if first == second:
                raise RosterRefused("bad_field", "a swap needs two different people")
            swapped = {first: second, second: first}
            found: Edits = {}
            for shift in roster.shifts:
                key = (day, shift.name)
                now = roster.rostered(day, shift.name)
                if (first in now) == (second in now):
                    continue
                after = tuple(dict.fromkeys(swapped.get(a, a) for a in now))
                if set(after) == set(roster.accounts(roster.rotated(day, shift.name))):
                    found[key] = None          # back to the rotation: the override goes
                else:
                    found[key] = after
            if not found:
                raise RosterRefused("nothing_to_swap", f"{first} and {second} work the same shifts on {day} "
                                                       "(or neither works that day): nothing to swap")
            return found
        return self._edit(edits, in_a_row)

    def set_override(self, day: date, shift: str, names: tuple[str, ...], in_a_row: bool = False) -> list[Change]:
        """`shift` of `day` worked by `names` (accounts or teams), whatever the rotation says."""
        def edits(roster: Roster) -> Edits:
            _known_shift(roster, shift)
            for name in names:
                if name not in roster.people and name not in roster.teams:
                    raise RosterRefused("unknown", f"{name!r} is neither a person nor a team of the roster")
            return {(day, shift): tuple(dict.fromkeys(names))}
        return self._edit(edits, in_a_row)

    def remove_override(self, day: date, shift: str) -> list[Change]:
        """`shift` of `day` back to the rotation."""
        def edits(roster: Roster) -> Edits:
            _known_shift(roster, shift)
            if (day, shift) not in roster.overrides:
                raise RosterRefused("not_found", f"{shift} on {day} has no override")
            return {(day, shift): None}
        return self._edit(edits)

    def _edit(self, make: Callable[[Roster], Edits], in_a_row: bool = False) -> list[Change]:
        read = self.store.read()
        try:
            text = read.decode("utf-8")
        except UnicodeDecodeError:
            raise RosterRefused("roster_invalid", f"{self.store.path} is not UTF-8 text: fix it by hand") from None
        before = self.roster()
        edits = make(before)
        self._not_over(before, edits)
        order = [s.name for s in before.shifts]
        for key, names in edits.items():
            text = remove_override(text, key) if names is None else set_override(text, key, names, order)
        staged = self.store.stage(text)
        try:
            try:
                after = load_roster(staged, self.zone)
            except ConfigError as exc:      # as `callengine check` would say it, of the real file
                raise RosterRefused("roster_invalid", str(exc).replace(str(staged), str(self.store.path))) from None
            _only_these(before, after, edits)
            _staffed(after, edits)
            if not in_a_row:
                _rested(before, after, edits)
            self.store.commit(staged, read)
        except StaleFile as exc:
            raise RosterRefused("conflict", f"{exc}: read it again and repeat the edit") from None
        finally:
            self.store.discard(staged)
        return [Change(day, shift, tuple(before.rostered(day, shift)), tuple(after.rostered(day, shift)),
                       (day, shift) in after.overrides) for day, shift in edits]

    def _not_over(self, roster: Roster, edits: Edits) -> None:
        now = self.clock.now()
        for day, name in edits:
            ends = _shift(roster, name).window(day, self.zone)[1]
            if ends <= now:
                raise RosterRefused("past", f"shift {name} on {day} ended at {ends:%Y-%m-%d %H:%M}: "
                                            "a shift that is over stays as it was")


def _duty(roster: Roster, day: date, shift: Shift, now: datetime) -> dict[str, Any]:
    starts, ends = shift.window(day, roster.zone)
    people = [roster.people[a] for a in dict.fromkeys(roster.rostered(day, shift.name))]
    return {"shift": shift.name, "starts": starts.isoformat(), "ends": ends.isoformat(),
            "override": (day, shift.name) in roster.overrides, "over": ends <= now, "now": starts <= now < ends,
            "people": [{"account": p.account, "name": p.name, "role": p.role} for p in people]}


def _known_shift(roster: Roster, shift: str) -> None:
    if shift not in {s.name for s in roster.shifts}:
        raise RosterRefused("unknown", f"{shift!r} is not a shift ({', '.join(s.name for s in roster.shifts)})")


def _shift(roster: Roster, name: str) -> Shift:
    return next(s for s in roster.shifts if s.name == name)


def _only_these(before: Roster, after: Roster, edits: Mapping[Key, tuple[str, ...] | None]) -> None:
    """The written file says what was meant for the edited shifts and nothing else moved (a
    line this editor could not read would otherwise win over the one it wrote)."""
    untouched = {k: v for k, v in before.overrides.items() if k not in edits}
    same = (after.people, after.teams, after.shifts, after.rotation_start, after.rotation) == (
        before.people, before.teams, before.shifts, before.rotation_start, before.rotation)
    meant = all(after.overrides.get(key) == names for key, names in edits.items())
    if not same or not meant or {k: v for k, v in after.overrides.items() if k not in edits} != untouched:
        raise RosterRefused("roster_invalid", "roster.conf holds override lines this editor cannot read "
                                              "(written twice or oddly): edit the file by hand")


def _staffed(after: Roster, edits: Mapping[Key, object]) -> None:
    for day, shift in edits:
        if not after.rostered(day, shift):
            raise RosterRefused("empty", f"that leaves shift {shift} on {day} with nobody")


def _rested(before: Roster, after: Roster, edits: Mapping[Key, object]) -> None:
    """Nobody newly put on a shift that runs straight on from, or into, another of theirs, unless
    the rotation plans it so: sixteen hours at the phone is a slip to catch, or a hold-over the
    supervisor confirms (`in_a_row`) when the next shift's person is missing."""
    for day, name in edits:
        newcomers = set(after.rostered(day, name)) - set(before.rostered(day, name))
        starts, ends = _shift(after, name).window(day, after.zone)
        for other_day in (day - timedelta(days=1), day, day + timedelta(days=1)):
            for other in after.shifts:
                other_starts, other_ends = other.window(other_day, after.zone)
                if other_ends != starts and other_starts != ends:
                    continue
                planned = set(after.accounts(after.rotated(day, name))) & set(
                    after.accounts(after.rotated(other_day, other.name)))
                doubled = sorted(newcomers & set(after.rostered(other_day, other.name)) - planned)
                if doubled:
                    raise RosterRefused("no_rest", f"that puts {doubled[0]} on {name} {day} and on {other.name} "
                                                   f"{other_day}, two shifts in a row with no rest between "
                                                   "(confirm it if that is meant)")
