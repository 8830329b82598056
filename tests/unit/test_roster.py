"""The roster decides who is on duty, in the centre's own time zone, across midnight."""
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callengine.core.conf import ConfigError
from callengine.core.settings import PROJECT_DIR
from callengine.queueing.roster import load_roster

ROSTER = PROJECT_DIR / "config" / "roster.conf"


@pytest.mark.parametrize("zone,utc_offset", [("Asia/Jakarta", 7), ("Asia/Makassar", 8), ("Asia/Jayapura", 9)])
def test_boundaries_follow_local_time_in_wib_wita_wit(zone: str, utc_offset: int) -> None:
    roster = load_roster(ROSTER, ZoneInfo(zone))
    # 07:00 local on 2 Nov (cycle day 2) is `utc_offset` hours earlier in UTC
    at_seven = datetime(2026, 11, 1, 23, 0, tzinfo=timezone.utc) + timedelta(hours=8 - utc_offset)
    just_before = at_seven - timedelta(seconds=1)
    night, morning = roster.duty_at(just_before), roster.duty_at(at_seven)
    assert (night.shift, night.day, night.accounts) == ("malam", date(2026, 11, 1), {"taker5", "taker6"})
    assert (morning.shift, morning.day, morning.accounts) == ("pagi", date(2026, 11, 2), {"taker5", "taker6"})
    assert morning.starts == at_seven


def test_the_night_shift_belongs_to_the_day_it_starts() -> None:
    roster = load_roster(ROSTER, ZoneInfo("Asia/Makassar"))
    wita = ZoneInfo("Asia/Makassar")
    before_midnight = roster.duty_at(datetime(2026, 11, 3, 23, 30, tzinfo=wita))
    after_midnight = roster.duty_at(datetime(2026, 11, 4, 0, 30, tzinfo=wita))
    assert before_midnight == after_midnight
    assert before_midnight.accounts == {"taker1", "taker2"}           # cycle day 3: malam A
    assert before_midnight.ends == datetime(2026, 11, 4, 7, 0, tzinfo=wita)


def test_the_rotation_cycles_and_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "roster.conf"
    path.write_text(ROSTER.read_text() + "2026-11-04 pagi = taker1, B\n")
    roster = load_roster(path, ZoneInfo("Asia/Makassar"))
    wita = ZoneInfo("Asia/Makassar")
    assert roster.duty_at(datetime(2026, 11, 4, 8, 0, tzinfo=wita)).accounts == {"taker1", "taker3", "taker4"}
    assert roster.duty_at(datetime(2026, 11, 7, 8, 0, tzinfo=wita)).accounts == {"taker1", "taker2"}  # day 1 again
    assert roster.supervisors == ["spv1"]


@pytest.mark.parametrize("change,message", [
    (("pagi = 07:00-15:00", "pagi = 07:00-14:00"), "pagi ends at 14:00 but the next shift, siang, starts at 15:00"),
    (("pagi = 07:00-15:00", "pagi = 7 pagi"), "[shifts] pagi: '7 pagi' is not HH:MM-HH:MM"),
    (("1 = pagi A", "1 = pagi Z"), "[rotation] 1: 'Z' is neither a team nor a person"),
    (("1 = pagi A", "1 = sore A"), "[rotation] 1: 'sore' is not a shift"),
    (("A = taker1, taker2", "A = taker1, taker9"), "[teams] A: 'taker9' is not in [calltakers] or [supervisors]"),
    (("start = 2026-11-01", "start = 1 Nov"), "[rotation] start: '1 Nov' is not a date"),
])
def test_roster_errors_are_precise(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = tmp_path / "roster.conf"
    path.write_text(ROSTER.read_text().replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_roster(path, ZoneInfo("Asia/Jakarta"))
    assert message in str(caught.value)
