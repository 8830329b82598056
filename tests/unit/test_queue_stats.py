"""Queue statistics of a scripted day, against figures computed by hand."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callengine.calls.record import CallRecord
from callengine.queueing.roster import load_roster
from callengine.queueing.stats import day_stats, day_window

WITA = ZoneInfo("Asia/Makassar")
ROSTER = """
[calltakers]
taker1 = Satu
taker2 = Dua
[rotation]
1 = pagi taker1, siang taker2, malam taker1
"""


def call(at: str, disposition: str, wait: float | None, agent: str | None = None, talk: float | None = None,
         queue: str | None = "112", day: int = 23) -> CallRecord:
    started = datetime.fromisoformat(f"2026-11-{day:02d}T{at}").replace(tzinfo=WITA).astimezone(timezone.utc)
    return CallRecord(f"{day}.{at}", "+6281234567890", "081234567890", "112", started,
                      started + timedelta(seconds=wait or 0) if disposition == "answered" else None,
                      started + timedelta(seconds=60), None, queue, wait, agent, talk, disposition, 16,
                      "Normal Clearing", "caller", None)


@pytest.fixture
def roster(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "roster.conf"
    path.write_text(ROSTER)
    return load_roster(path, WITA)


def test_a_scripted_day_matches_hand_computed_figures(roster) -> None:  # type: ignore[no-untyped-def]
    day = [
        call("06:59:59", "answered", 3, "taker1", 40),            # yesterday's night shift: not counted
        call("07:00:00", "answered", 4, "taker1", 60),            # pagi
        call("09:30:00", "answered", 15, "taker1", 30),           # pagi, exactly 15 s: within
        call("14:59:00", "answered", 18, "taker1", 90),           # pagi, within 20 s only
        call("15:10:00", "abandoned", 25),                        # siang
        call("16:00:00", "answered", 40, "spv1", 120),            # siang, overflowed to a supervisor
        call("22:00:00", "ended_in_ivr", None, queue=None),       # never offered to a queue
        call("23:30:00", "answered", 2, "taker1", 10),            # malam
        call("06:00:00", "abandoned", 7, day=24),                 # malam, after midnight: still the 23rd
        call("07:00:00", "answered", 1, "taker1", 5, day=24),     # the 24th: not counted
    ]
    stats = day_stats(day, roster, date(2026, 11, 23))
    assert (stats["from"], stats["to"]) == ("2026-11-23T07:00:00+08:00", "2026-11-24T07:00:00+08:00")
    q = stats["queues"]["112"]
    assert (q["offered"], q["answered"], q["abandoned"]) == (7, 5, 2)
    assert (q["answered_within_15s"], q["answered_within_20s"]) == (3, 4)
    assert (q["service_level_15s"], q["service_level_20s"]) == (round(3 / 7, 4), round(4 / 7, 4))
    assert q["average_speed_of_answer_s"] == round((4 + 15 + 18 + 40 + 2) / 5, 1)     # 15.8
    assert q["longest_wait_s"] == 40
    shifts = stats["shifts"]
    assert [(s["offered"], s["answered"], s["abandoned"]) for s in shifts.values()] == [(3, 3, 0), (2, 1, 1), (2, 1, 1)]
    assert shifts["siang"]["service_level_15s"] == 0.0 and shifts["pagi"]["service_level_20s"] == 1.0
    assert stats["calltakers"] == {"spv1": {"answered": 1, "talk_s": 120.0},
                                   "taker1": {"answered": 4, "talk_s": 190.0}}


def test_an_empty_day_has_no_rates(roster) -> None:  # type: ignore[no-untyped-def]
    stats = day_stats([], roster, date(2026, 11, 23))
    assert stats["queues"] == {} and stats["calltakers"] == {}
    assert stats["shifts"]["pagi"]["service_level_15s"] is None
    assert stats["shifts"]["pagi"]["average_speed_of_answer_s"] is None


def test_the_day_follows_the_first_shift_in_any_zone(tmp_path: Path) -> None:
    path = tmp_path / "roster.conf"
    path.write_text(ROSTER)
    start, end = day_window(load_roster(path, ZoneInfo("Asia/Jayapura")), date(2026, 11, 23))
    assert start.isoformat() == "2026-11-23T07:00:00+09:00" and end - start == timedelta(days=1)
