"""The three-shift roster: who is on duty at a given moment, in the centre's time zone.

A shift that crosses midnight (malam 23–07) belongs to the date it starts on, so the
rotation and the overrides of 24 December decide who works the night into the 25th.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from callengine.core.conf import NAME, ConfigError, ConfigReader

if TYPE_CHECKING:
    from callengine.core.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_SHIFTS = {"pagi": "07:00-15:00", "siang": "15:00-23:00", "malam": "23:00-07:00"}


@dataclass(frozen=True)
class Person:
    account: str
    name: str
    role: str  # "calltaker" or "supervisor"


@dataclass(frozen=True)
class Shift:
    name: str
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def window(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        start = datetime.combine(day, self.start, zone)
        end = datetime.combine(day + timedelta(days=1 if self.crosses_midnight else 0), self.end, zone)
        return start, end


@dataclass(frozen=True)
class Duty:
    """One shift on one date and the call takers rostered for it."""
    shift: str
    day: date
    starts: datetime
    ends: datetime
    accounts: frozenset[str]


@dataclass(frozen=True)
class Roster:
    zone: ZoneInfo
    people: dict[str, Person]
    teams: dict[str, tuple[str, ...]]
    shifts: tuple[Shift, ...]
    rotation_start: date
    rotation: tuple[dict[str, tuple[str, ...]], ...]      # per cycle day: shift → team names or accounts
    overrides: dict[tuple[date, str], tuple[str, ...]]   # (date, shift) → team names or accounts

    @property
    def supervisors(self) -> list[str]:
        return [p.account for p in self.people.values() if p.role == "supervisor"]

    @property
    def calltakers(self) -> list[str]:
        return [p.account for p in self.people.values() if p.role == "calltaker"]

    def duty_at(self, moment: datetime) -> Duty:
        """The shift running at `moment` (any time zone) and who is rostered on it."""
        local = moment.astimezone(self.zone)
        for day in (local.date() - timedelta(days=1), local.date()):
            for shift in self.shifts:
                starts, ends = shift.window(day, self.zone)
                if starts <= local < ends:
                    return Duty(shift.name, day, starts, ends, frozenset(self.rostered(day, shift.name)))
        raise ConfigError(f"no shift covers {local:%H:%M}: the [shifts] leave a gap")

    def rostered(self, day: date, shift: str) -> list[str]:
        """The accounts on `shift` of `day`: its override if it has one, else the rotation's."""
        names = self.overrides.get((day, shift))
        return self.accounts(self.rotated(day, shift) if names is None else names)

    def rotated(self, day: date, shift: str) -> tuple[str, ...]:
        """The rotation's teams or accounts for `shift` of `day`, whatever the overrides say."""
        cycle_day = (day - self.rotation_start).days % len(self.rotation)
        return self.rotation[cycle_day].get(shift, ())

    def accounts(self, names: tuple[str, ...]) -> list[str]:
        """Team names and accounts as the accounts they stand for, in order."""
        return [account for name in names for account in self.teams.get(name, (name,))]


def load_roster(path: Path, zone: ZoneInfo) -> Roster:
    sections = _sections(path)

    def fail(section: str, key: str, why: str) -> ConfigError:
        return ConfigError(f"{path}: [{section}] {key}: {why}")

    people = {a: Person(a, n, "calltaker") for a, n in sections.get("calltakers", {}).items()}
    people.update({a: Person(a, n, "supervisor") for a, n in sections.get("supervisors", {}).items()})
    for person in people.values():
        if not NAME.match(person.account):
            raise fail(f"{person.role}s", person.account,
                       "an account may hold only letters, digits, '.', '_' and '-' (at most 40)")
    teams = {name: _names(value) for name, value in sections.get("teams", {}).items()}
    for team, members in teams.items():
        for account in members:
            if account not in people:
                raise fail("teams", team, f"{account!r} is not in [calltakers] or [supervisors]")
    shifts = tuple(_shift(name, span, fail) for name, span in (sections.get("shifts") or DEFAULT_SHIFTS).items())
    _check_coverage(shifts, path)

    def roster_names(section: str, key: str, value: str) -> tuple[str, ...]:
        names = _names(value)
        for name in names:
            if name not in teams and name not in people:
                raise fail(section, key, f"{name!r} is neither a team nor a person")
        return names

    rotation_section = dict(sections.get("rotation", {}))
    start_raw = rotation_section.pop("start", "2026-01-01")
    try:
        rotation_start = date.fromisoformat(start_raw)
    except ValueError:
        raise fail("rotation", "start", f"{start_raw!r} is not a date (YYYY-MM-DD)") from None
    shift_names = {s.name for s in shifts}
    rotation = []
    for day_key, value in rotation_section.items():
        cycle_day: dict[str, tuple[str, ...]] = {}
        for part in _names(value):              # "pagi A, siang B+C, malam taker5"
            shift, _, who = part.partition(" ")
            if shift not in shift_names:
                raise fail("rotation", day_key, f"{shift!r} is not a shift")
            cycle_day[shift] = roster_names("rotation", day_key, who.replace("+", ","))
        rotation.append(cycle_day)
    if not rotation:
        raise fail("rotation", "1", "the rotation needs at least one day")

    overrides = {}
    for key, value in sections.get("overrides", {}).items():
        raw_day, _, shift = key.partition(" ")
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            raise fail("overrides", key, "expected 'YYYY-MM-DD shift'") from None
        if shift.strip() not in shift_names:
            raise fail("overrides", key, f"{shift.strip()!r} is not a shift")
        overrides[(day, shift.strip())] = roster_names("overrides", key, value)
    return Roster(zone, people, teams, shifts, rotation_start, tuple(rotation), overrides)


def _sections(path: Path) -> dict[str, dict[str, str]]:
    return ConfigReader(path).sections


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _shift(name: str, span: str, fail) -> Shift:  # type: ignore[no-untyped-def]
    try:
        start, end = (time.fromisoformat(part.strip()) for part in span.split("-"))
    except ValueError:
        raise fail("shifts", name, f"{span!r} is not HH:MM-HH:MM") from None
    return Shift(name, start, end)


def _check_coverage(shifts: tuple[Shift, ...], path: Path) -> None:
    """The shifts must tile the day, each starting when the one before ends: 112 is staffed
    around the clock."""
    ordered = sorted(shifts, key=lambda s: s.start)
    for before, after in zip(ordered, ordered[1:] + ordered[:1]):
        if before.end != after.start:
            raise ConfigError(f"{path}: [shifts] {before.name} ends at {before.end:%H:%M} but the next shift, "
                              f"{after.name}, starts at {after.start:%H:%M}: leave no gap and no overlap")
    if sum(1 for s in shifts if s.crosses_midnight) != 1 and len(shifts) > 1:
        raise ConfigError(f"{path}: [shifts] exactly one shift must cross midnight")


def roster_of(settings: Settings) -> Roster:
    """The roster the settings point at (read now; RosterFile follows later edits)."""
    return load_roster(settings.roster_file, settings.timezone)


class RosterFile:
    """The roster, re-read when its file changes. A broken edit is logged and the last good
    roster stays in force: a typo must never empty the 112 queue."""

    def __init__(self, path: Path, zone: ZoneInfo) -> None:
        self.path, self.zone = path, zone
        self._stamp = self._mtime()
        self.roster = load_roster(path, zone)   # a broken roster at start is the admin's to fix now

    def __call__(self) -> Roster:
        stamp = self._mtime()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self.roster = load_roster(self.path, self.zone)
                log.info("roster reloaded", extra={"file": str(self.path)})
            except ConfigError as exc:
                log.error("roster change ignored, the previous roster stays in force: %s", exc)
        return self.roster

    def _mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None


def lazy_roster(path: Path, zone: ZoneInfo) -> Callable[[], Roster]:
    """The roster file read at first use, then as RosterFile keeps it: a process that only
    reads the roster (the console) starts even when the file is broken, and says so when asked."""
    held: list[RosterFile] = []

    def roster() -> Roster:
        if not held:
            held.append(RosterFile(path, zone))
        return held[0]()
    return roster
