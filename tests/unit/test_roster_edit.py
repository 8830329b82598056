"""Roster edits written into roster.conf: only the edited override lines change, the result is
loaded as the engine loads it, and every refusal leaves the file as it was."""
from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callengine.core.settings import PROJECT_DIR
from callengine.queueing.roster import load_roster
from callengine.rostering.lines import remove_override, set_override
from callengine.rostering.service import RosterEditor, RosterRefused

WITA = ZoneInfo("Asia/Makassar")
SHIPPED = (PROJECT_DIR / "config" / "roster.conf").read_text()
ORDER = ("pagi", "siang", "malam")
# 24 December is cycle day 3 of the shipped rotation: pagi B (taker3, taker4), siang C (taker5,
# taker6), malam A (taker1, taker2)
XMAS_EVE = date(2026, 12, 24)
WITH_OVERRIDES = SHIPPED + "2026-12-20 pagi = taker1 ; cover for a wedding\n2026-12-31 malam = A, B\n\n; end of file\n"


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def editor(tmp_path: Path, text: str = WITH_OVERRIDES, now: datetime | None = None) -> RosterEditor:
    (tmp_path / "roster.conf").write_text(text)
    return RosterEditor(tmp_path / "roster.conf", WITA, FixedClock(now or datetime(2026, 12, 1, tzinfo=timezone.utc)))


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    old, new = before.splitlines(), after.splitlines()
    return [line for line in old if line not in new], [line for line in new if line not in old]


def test_setting_an_override_rewrites_its_line_in_place_and_keeps_its_comment() -> None:
    text = set_override(WITH_OVERRIDES, (date(2026, 12, 20), "pagi"), ["taker2", "taker5"], ORDER)
    assert changed_lines(WITH_OVERRIDES, text) == (["2026-12-20 pagi = taker1 ; cover for a wedding"],
                                                   ["2026-12-20 pagi = taker2, taker5 ; cover for a wedding"])
    assert text.replace("taker2, taker5", "taker1") == WITH_OVERRIDES


def test_a_new_override_goes_among_the_others_in_date_and_shift_order() -> None:
    text = set_override(WITH_OVERRIDES, (date(2026, 12, 20), "siang"), ["taker3"], ORDER)
    lines = text.splitlines()
    assert lines[lines.index("2026-12-20 pagi = taker1 ; cover for a wedding") + 1] == "2026-12-20 siang = taker3"
    assert text.replace("2026-12-20 siang = taker3\n", "") == WITH_OVERRIDES
    first = set_override(WITH_OVERRIDES, (date(2026, 12, 2), "malam"), ["taker3"], ORDER)
    assert first.replace("2026-12-02 malam = taker3\n", "") == WITH_OVERRIDES
    assert first.index("2026-12-02 malam") < first.index("2026-12-20 pagi") and first.index(
        "; 2026-12-25 pagi") < first.index("2026-12-02 malam")       # the section's comments stay above


def test_the_first_override_goes_under_the_sections_comments_and_a_missing_section_is_added() -> None:
    text = set_override(SHIPPED, (XMAS_EVE, "malam"), ["taker3"], ORDER)
    assert text == SHIPPED + "2026-12-24 malam = taker3\n"
    bare = SHIPPED[:SHIPPED.index("[overrides]")].rstrip("\n")    # no section, no final newline
    assert set_override(bare, (XMAS_EVE, "malam"), ["taker3"], ORDER) == (
        bare + "\n\n[overrides]\n2026-12-24 malam = taker3\n")


def test_removing_an_override_drops_only_its_line_and_crlf_files_stay_crlf() -> None:
    assert remove_override(WITH_OVERRIDES, (date(2026, 12, 31), "malam")) == WITH_OVERRIDES.replace(
        "2026-12-31 malam = A, B\n", "")
    crlf = WITH_OVERRIDES.replace("\n", "\r\n")
    added = set_override(crlf, (date(2026, 12, 21), "pagi"), ["taker6"], ORDER)
    assert added.replace("2026-12-21 pagi = taker6\r\n", "") == crlf


def test_a_swap_is_written_as_overrides_comments_kept_and_the_engine_reads_it(tmp_path: Path) -> None:
    roster = editor(tmp_path)
    changes = roster.swap(XMAS_EVE, "taker1", "taker5")
    assert [(c.shift, c.before, c.after) for c in changes] == [("siang", ("taker5", "taker6"), ("taker1", "taker6")),
                                                               ("malam", ("taker1", "taker2"), ("taker5", "taker2"))]
    written = (tmp_path / "roster.conf").read_text()
    assert written == WITH_OVERRIDES.replace("2026-12-31 malam", "2026-12-24 siang = taker1, taker6\n"
                                             "2026-12-24 malam = taker5, taker2\n2026-12-31 malam")
    assert (tmp_path / "roster.conf.bak").read_text() == WITH_OVERRIDES
    engine = load_roster(tmp_path / "roster.conf", WITA)
    assert engine.duty_at(datetime(2026, 12, 24, 16, tzinfo=WITA)).accounts == {"taker1", "taker6"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roster.conf", "roster.conf.bak"]   # no temp file left
    back = roster.swap(XMAS_EVE, "taker1", "taker5")                 # swapped back: the rotation again
    assert [c.override for c in back] == [False, False]
    assert (tmp_path / "roster.conf").read_text() == WITH_OVERRIDES


def test_the_days_show_rotation_and_overrides(tmp_path: Path) -> None:
    roster = editor(tmp_path, now=datetime(2026, 12, 20, 8, tzinfo=WITA))
    [day] = roster.days(date(2026, 12, 20), 1)
    pagi, siang, _ = day["shifts"]
    assert (pagi["override"], pagi["now"], [p["account"] for p in pagi["people"]]) == (True, True, ["taker1"])
    assert (siang["override"], siang["now"], siang["over"]) == (False, False, False)
    assert [p["name"] for p in siang["people"]] == ["Operator Satu", "Operator Dua"]    # cycle day 2: siang A


@pytest.mark.parametrize("edit,code,message", [
    (lambda r: r.set_override(XMAS_EVE, "malam", ()), "empty", "that leaves shift malam on 2026-12-24 with nobody"),
    (lambda r: r.set_override(XMAS_EVE, "malam", ("taker9",)), "unknown",
     "'taker9' is neither a person nor a team of the roster"),
    (lambda r: r.set_override(XMAS_EVE, "sore", ("taker1",)), "unknown", "'sore' is not a shift"),
    (lambda r: r.swap(XMAS_EVE, "taker1", "budi"), "unknown", "'budi' is not on the roster"),
    (lambda r: r.swap(XMAS_EVE, "taker1", "taker2"), "nothing_to_swap", "taker1 and taker2 work the same shifts"),
    (lambda r: r.set_override(date(2026, 11, 30), "malam", ("taker1",)), "past",
     "shift malam on 2026-11-30 ended at 2026-12-01 07:00"),
    # taker3 works pagi of the 24th (B), which runs straight into siang
    (lambda r: r.set_override(XMAS_EVE, "siang", ("taker3",)), "no_rest",
     "that puts taker3 on siang 2026-12-24 and on pagi 2026-12-24, two shifts in a row"),
    (lambda r: r.remove_override(XMAS_EVE, "pagi"), "not_found", "pagi on 2026-12-24 has no override"),
])
def test_each_refusal_says_why_and_writes_nothing(  # type: ignore[no-untyped-def]
        tmp_path: Path, edit, code: str, message: str) -> None:
    roster = editor(tmp_path, now=datetime(2026, 12, 1, 7, tzinfo=WITA))
    with pytest.raises(RosterRefused) as refused:
        edit(roster)
    assert refused.value.code == code and message in str(refused.value)
    assert (tmp_path / "roster.conf").read_text() == WITH_OVERRIDES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roster.conf"]


def test_a_confirmed_hold_over_is_written(tmp_path: Path) -> None:
    roster = editor(tmp_path)
    [change] = roster.set_override(XMAS_EVE, "siang", ("taker3",), in_a_row=True)
    assert change.after == ("taker3",)


def test_a_running_shift_may_change_and_one_the_rotation_plans_in_a_row_is_allowed(tmp_path: Path) -> None:
    # 24 Dec 20:00: siang runs. Team A works malam of the 24th and pagi of the 25th by the rotation.
    roster = editor(tmp_path, now=datetime(2026, 12, 24, 20, tzinfo=WITA))
    assert roster.set_override(XMAS_EVE, "siang", ("taker5",))[0].after == ("taker5",)
    assert [c.shift for c in roster.swap(XMAS_EVE, "taker1", "taker6")] == ["malam"]
    with pytest.raises(RosterRefused, match="ended at 2026-12-24 15:00"):
        roster.swap(XMAS_EVE, "taker1", "taker3")                  # taker3's pagi is over


def test_a_result_the_engine_would_not_load_is_refused_as_check_says_it(tmp_path: Path) -> None:
    broken = WITH_OVERRIDES.replace("2026-12-31 malam = A, B", "2026-12-31 malam = A, Z")
    roster = editor(tmp_path, broken)
    with pytest.raises(RosterRefused) as refused:
        roster.set_override(XMAS_EVE, "malam", ("taker3",))
    assert refused.value.code == "roster_invalid"
    assert f"{tmp_path / 'roster.conf'}: [overrides] 2026-12-31 malam: 'Z' is neither a team nor a person" in str(
        refused.value)
    assert (tmp_path / "roster.conf").read_text() == broken


def test_a_line_this_editor_cannot_read_is_never_silently_outvoted(tmp_path: Path) -> None:
    odd = WITH_OVERRIDES + "20261224 malam = taker4\n"     # ISO basic format: Python reads it, the editor does not
    roster = editor(tmp_path, odd)
    with pytest.raises(RosterRefused, match="cannot read"):
        roster.set_override(XMAS_EVE, "malam", ("taker3",))
    assert (tmp_path / "roster.conf").read_text() == odd


def test_an_edit_of_the_file_meanwhile_wins_over_this_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    roster = editor(tmp_path)
    stage = roster.store.stage

    def someone_else_edits(text: str) -> Path:
        (tmp_path / "roster.conf").write_text(WITH_OVERRIDES + "; by hand\n")
        return stage(text)
    monkeypatch.setattr(roster.store, "stage", someone_else_edits)
    with pytest.raises(RosterRefused) as refused:
        roster.set_override(XMAS_EVE, "malam", ("taker3",))
    assert refused.value.code == "conflict"
    assert (tmp_path / "roster.conf").read_text() == WITH_OVERRIDES + "; by hand\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roster.conf"]
