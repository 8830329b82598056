"""The days a report covers: one local day, one calendar month or a range of days, in the centre's
time zone. A day runs 00:00 to 24:00 local time (as ticket numbers and the SLA book count it),
not from the first shift's start as `callengine stats --day` does."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY, MONTH, RANGE = "day", "month", "range"
MONTH_SHAPE = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
DATE_SHAPE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")   # Python 3.11 would also take 20261202
LONGEST = timedelta(days=366)
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")


class PeriodError(ValueError):
    """A period asked for wrongly; `parameter` names the query parameter (or option) at fault."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Period:
    first: date
    last: date            # included
    kind: str             # day, month or range

    def window(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) in the centre's time zone."""
        return (datetime.combine(self.first, time(), zone),
                datetime.combine(self.last + timedelta(days=1), time(), zone))

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def label(self) -> str:
        """As a heading says it: 2 Desember 2026, Desember 2026, 1 Desember 2026 – 10 Desember 2026."""
        if self.kind == MONTH:
            return f"{MONTHS[self.first.month - 1]} {self.first.year}"
        if self.kind == DAY:
            return local_date(self.first)
        return f"{local_date(self.first)} – {local_date(self.last)}"

    @property
    def slug(self) -> str:
        """For file names: 2026-12-02, 2026-12, 2026-12-01_2026-12-10."""
        if self.kind == MONTH:
            return f"{self.first:%Y-%m}"
        return self.first.isoformat() if self.kind == DAY else f"{self.first}_{self.last}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "from": self.first.isoformat(), "to": self.last.isoformat(), "label": self.label}


def local_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def one_day(raw: str, parameter: str = "day") -> Period:
    day = _date(raw, parameter)
    return Period(day, day, DAY)


def one_month(raw: str, parameter: str = "month") -> Period:
    found = MONTH_SHAPE.match(raw)
    if not found:
        raise PeriodError(parameter, f"{parameter} {raw!r} is not a month (YYYY-MM)")
    first = date(int(found[1]), int(found[2]), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(first, following - timedelta(days=1), MONTH)


def days_between(raw_from: str, raw_to: str) -> Period:
    first, last = _date(raw_from, "from"), _date(raw_to, "to")
    if last < first:
        raise PeriodError("to", f"to {raw_to!r} is before from {raw_from!r}")
    if last - first >= LONGEST:
        raise PeriodError("to", f"to {raw_to!r}: at most 366 days in one report")
    return Period(first, last, RANGE)


def period_of(query: Mapping[str, str]) -> Period:
    """From the API's query: `day`, or `month`, or `from` and `to` (dates, both included)."""
    given = [name for name in ("day", "month", "from", "to") if query.get(name)]
    if not given:
        raise PeriodError("day", "day, month, or from and to is missing: day=YYYY-MM-DD, month=YYYY-MM, or "
                                 "from=YYYY-MM-DD&to=YYYY-MM-DD")
    if "day" in given and len(given) == 1:
        return one_day(query["day"])
    if "month" in given and len(given) == 1:
        return one_month(query["month"])
    if set(given) == {"from", "to"}:
        return days_between(query["from"], query["to"])
    if set(given) <= {"from", "to"}:
        missing = "to" if "from" in given else "from"
        raise PeriodError(missing, f"{missing} is missing: a range needs from and to")
    raise PeriodError(given[1], f"{given[1]} with {given[0]}: give only one of day, month, or from and to")


def _date(raw: str, parameter: str) -> date:
    try:
        if DATE_SHAPE.match(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise PeriodError(parameter, f"{parameter} {raw!r} is not a date (YYYY-MM-DD)")
