"""The location desk asks the store for a caller's AML reports only when that caller may have
sent one: most callers' phones send none, and the engine is the only door AML comes in by."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from callengine.calls.record import CallRecord
from callengine.location.aml import AmlReport
from callengine.location.desk import LocationDesk, RecentAml
from callengine.location.model import Location

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)
WINDOW = timedelta(minutes=10)
HERE = {"lat": -0.5, "lon": 117.15, "radius_m": 20.0, "source": "aml", "method": "gps", "at": None, "detail": {}}


@dataclass
class Clock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


@dataclass
class Reports:
    """The AML table: (number, received_at), and how often each query was asked."""
    rows: list[tuple[str, datetime]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    away: bool = False

    async def add(self, number: str | None, channel: str, location: Any, raw: Any, at: datetime) -> None:
        self.rows.append((number or "", at))

    async def latest_by_number(self, since: datetime) -> dict[str, datetime]:
        self.asked.append("latest")
        if self.away:
            raise ConnectionError("database away")
        latest: dict[str, datetime] = {}
        for number, at in self.rows:
            if at >= since and number:
                latest[number] = max(at, latest.get(number, at))
        return latest

    async def locations(self, number: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        self.asked.append(number)
        return [HERE for n, at in self.rows if n == number and since <= at <= until]


class Calls:
    async def call_near(self, caller: str, since: datetime, until: datetime) -> str | None:
        return None


def desk_with(reports: Reports, clock: Clock) -> LocationDesk:
    return LocationDesk(Calls(), reports, None, clock, WINDOW)  # type: ignore[arg-type]


def record(caller: str, started: datetime, minutes: float = 2) -> CallRecord:
    return CallRecord(linkedid=f"{caller}.1", caller=caller, caller_raw=caller, dialed="112", started_at=started,
                      answered_at=None, ended_at=started + timedelta(minutes=minutes), category=None, queue=None,
                      wait_s=None, agent=None, talk_s=None, disposition="ended_in_ivr", hangup_cause=16,
                      hangup_cause_text=None, hangup_by="caller", recording=None)


def report(number: str) -> AmlReport:
    return AmlReport(number=number, location=Location(-0.5, 117.15, 20.0, "aml", "gps", None, {}),
                     method="gps", time=None, transport="http", raw={})


async def test_a_caller_without_reports_costs_no_query_once_the_recent_ones_are_known() -> None:
    reports, clock = Reports([("+62811", T0 - timedelta(hours=3))]), Clock()
    desk = desk_with(reports, clock)
    await desk.learn_recent_aml()
    locations, best = await desk.locate(record("+62822", T0))
    assert (locations, best) == ([], None)
    assert reports.asked == ["latest"]


async def test_a_report_before_or_during_the_call_is_found() -> None:
    reports, clock = Reports(), Clock()
    desk = desk_with(reports, clock)
    await desk.learn_recent_aml()
    clock.at = T0 + timedelta(minutes=1)
    await desk.aml(report("+62833"))
    locations, best = await desk.locate(record("+62833", T0))
    assert [loc["source"] for loc in locations] == ["aml"] and best is not None
    assert reports.asked == ["latest", "+62833"]


async def test_a_report_read_from_the_store_at_start_is_found() -> None:
    reports, clock = Reports([("+62844", T0 - timedelta(minutes=5))]), Clock()
    desk = desk_with(reports, clock)
    await desk.learn_recent_aml()
    locations, _ = await desk.locate(record("+62844", T0))
    assert len(locations) == 1


async def test_while_the_store_is_away_every_call_asks_it_and_the_recent_ones_are_read_again_later() -> None:
    reports, clock = Reports([("+62855", T0 - timedelta(minutes=5))], away=True), Clock()
    desk = desk_with(reports, clock)
    await desk.learn_recent_aml()                      # fails: nothing known
    assert desk.recent_aml.known_since is None
    locations, _ = await desk.locate(record("+62855", T0))
    assert len(locations) == 1 and reports.asked[-1] == "+62855"   # asked, as before
    await desk.locate(record("+62866", T0))
    assert reports.asked[-1] == "+62866"
    reports.away, desk._aml_load_tried = False, float("-inf")      # 30 s later
    await desk.locate(record("+62877", T0))
    assert reports.asked[-1] == "latest"                           # read again, and +62877 sent none
    assert desk.recent_aml.known_since is not None


def test_a_call_older_than_what_is_known_asks_the_store() -> None:
    recent = RecentAml(timedelta(hours=2))
    recent.loaded({}, T0)
    assert not recent.may_have("+62811", T0)
    assert recent.may_have("+62811", T0 - timedelta(seconds=1))


def test_silent_numbers_are_forgotten_and_what_is_known_starts_later() -> None:
    recent = RecentAml(timedelta(hours=2))
    recent.loaded({"+62811": T0, "+62822": T0 + timedelta(hours=1)}, T0 - timedelta(hours=2))
    recent.forget_before(T0 + timedelta(hours=2, minutes=30))
    assert recent.latest == {"+62822": T0 + timedelta(hours=1)}
    assert recent.known_since == T0 + timedelta(minutes=30)
    assert recent.may_have("+62811", T0)                      # before what is known: ask
    assert not recent.may_have("+62811", T0 + timedelta(minutes=40))
    assert recent.may_have("+62822", T0 + timedelta(minutes=40))
