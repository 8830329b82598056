"""Reports on plain data: the period asked for (each bad one named by its parameter), figures as
Indonesians write them, [reports] checked, and the daily summary written once a day from
daily_at on, whatever restarts, through fakes of the delivery log and the outbox."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callengine.notify.outbox import Outgoing
from callengine.queueing.roster import Duty
from callengine.reports.config import ReportSettings, load_reports, reports_problems
from callengine.reports.daily import DailySummary
from callengine.reports.figures import COUNT, NUMBER, SHARE, shown
from callengine.reports.period import DAY, MONTH, RANGE, Period, PeriodError, period_of
from callengine.reports.service import Reports

WITA = ZoneInfo("Asia/Makassar")


def test_a_period_is_a_local_day_a_calendar_month_or_a_range_of_days() -> None:
    day = period_of({"day": "2026-12-02"})
    assert day == Period(date(2026, 12, 2), date(2026, 12, 2), DAY) and day.label == "2 Desember 2026"
    assert day.window(WITA) == (datetime(2026, 12, 1, 16, tzinfo=timezone.utc), datetime(2026, 12, 2, 16, tzinfo=timezone.utc))
    february = period_of({"month": "2028-02"})
    assert (february.last, february.kind, february.label, february.slug) == (date(2028, 2, 29), MONTH, "Februari 2028", "2028-02")
    assert len(period_of({"month": "2026-12"}).days()) == 31
    span = period_of({"from": "2026-11-30", "to": "2026-12-01"})
    assert span.kind == RANGE and span.days() == [date(2026, 11, 30), date(2026, 12, 1)]
    assert span.slug == "2026-11-30_2026-12-01"


@pytest.mark.parametrize("query, parameter", [
    ({"day": "2026-02-30"}, "day"), ({"day": "20261202"}, "day"), ({"month": "2026-13"}, "month"),
    ({"month": "2026-12-01"}, "month"), ({"from": "2026-12-01"}, "to"), ({"to": "2026-12-01"}, "from"),
    ({"from": "2026-12-02", "to": "2026-12-01"}, "to"), ({"from": "2024-12-31", "to": "2026-01-01"}, "to"),
    ({"day": "2026-12-01", "from": "2026-12-01"}, "from"), ({}, "day")])
def test_a_bad_period_names_its_parameter(query: dict[str, str], parameter: str) -> None:
    with pytest.raises(PeriodError) as caught:
        period_of(query)
    assert caught.value.parameter == parameter and str(caught.value).startswith(parameter)


def test_figures_are_shown_as_indonesians_write_them() -> None:
    assert [shown(1234, COUNT), shown(0.875, SHARE), shown(17.66, NUMBER), shown(4.0, NUMBER), shown(None, SHARE)] == [
        "1.234", "87,5 %", "17,66", "4", "-"]


def test_reports_settings_are_checked(tmp_path: Path) -> None:
    conf = tmp_path / "callengine.conf"
    agencies = tmp_path / "agencies.conf"
    agencies.write_text("[notify]\nemail = no\n")
    conf.write_text("[general]\ncity = X\n")
    assert load_reports(conf) == ReportSettings() and reports_problems(conf, agencies) == []
    conf.write_text("[reports]\ndaily_at = 06:30\ndaily_to = a@kota.go.id, b@kota.go.id\n")
    assert load_reports(conf) == ReportSettings(time(6, 30), ("a@kota.go.id", "b@kota.go.id"))
    assert "[notify] email is not yes" in reports_problems(conf, agencies)[0]
    for bad, named in (("daily_at = 7:00", "daily_at"), ("daily_to = kepala", "daily_to"), ("daily = 07:00", "daily")):
        conf.write_text(f"[reports]\n{bad}\n")
        [problem] = reports_problems(conf, agencies)
        assert f"[reports] {named}:" in problem


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class Store:
    """The report's data (an empty day) and the delivery log's subjects."""

    def __init__(self) -> None:
        self.log: list[Outgoing] = []

    async def calls(self, start: datetime, end: datetime) -> list[object]:
        return []

    tickets = assignments = ratings = qa_scores = calls

    async def written(self, channel: str, subject: str) -> bool:
        return any(r.notification.channel == channel and r.notification.subject == subject for r in self.log)

    async def put(self, rows: list[Outgoing]) -> list[int]:
        self.log += rows
        return list(range(len(rows)))


class Roster:
    shifts = ()

    def duty_at(self, moment: datetime) -> Duty:
        raise AssertionError("no call to place in a shift")


def daily(store: Store, clock: Clock) -> DailySummary:
    reports = Reports(store, Roster, clock, WITA, "Samarinda")  # type: ignore[arg-type]
    return DailySummary(reports, store, store, ReportSettings(time(7), ("a@kota.go.id", "b@kota.go.id")), clock,
                        WITA, "Samarinda")


async def test_the_daily_summary_is_written_once_a_day_from_daily_at_on_whatever_restarts() -> None:
    store, clock = Store(), Clock(datetime(2026, 12, 2, 6, 59, tzinfo=WITA))
    assert await daily(store, clock).round() == 0                     # before 07:00 local
    clock.at += timedelta(minutes=1)
    assert await daily(store, clock).round() == 2                     # one row per head
    assert [(r.notification.recipient, r.notification.subject) for r in store.log] == [
        ("a@kota.go.id", "Ringkasan harian 112 Samarinda 2026-12-01"),
        ("b@kota.go.id", "Ringkasan harian 112 Samarinda 2026-12-01")]
    assert "Panggilan masuk; Nilai: 0" in store.log[0].notification.body
    clock.at += timedelta(hours=9)
    assert await daily(store, clock).round() == 0                     # a restarted console: the log knows
    clock.at = datetime(2026, 12, 3, 7, 5, tzinfo=WITA)
    assert await daily(store, clock).round() == 2 and store.log[-1].notification.subject.endswith("2026-12-02")
