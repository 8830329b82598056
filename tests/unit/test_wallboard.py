"""The wallboard's composition: each taker's one state, who waits (longest first, with the prank
warning), which SLA stages are at risk or missed, the open work by agency."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from callengine.dispatch.model import Assignment
from callengine.wallboard import board

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)


def member(account: str, registered: bool = True, paused: bool = False, reason: str | None = None) -> dict[str, object]:
    return {"account": account, "name": account.title(), "shift": "pagi", "registered": registered,
            "paused": paused, "reason": reason}


def test_each_taker_has_one_state() -> None:
    calls = [{"linkedid": "1.1", "state": "answered", "agent": "t1", "caller": "+62811", "answered_at": "x",
              "started_at": "2026-12-02T01:00:00+00:00"},
             {"linkedid": "2.1", "state": "ringing", "ringing": ["t2"], "caller": "+62822",
              "started_at": "2026-12-02T01:00:05+00:00"}]
    queues = {"queues": [{"queue": "112", "members": [member("t1"), member("t2"), member("t3", paused=True,
                                                                                         reason="briefing"),
                                                      member("t4", registered=False), member("t5")]},
                         {"queue": "112-fallback", "members": [member("t1")]}]}
    rows = board.takers(board.Floor(calls, queues, {"t3": "2026-12-02T00:50:00+00:00"},
                                    {"t5": "2026-12-02T00:58:00+00:00", "t1": "2026-12-02T00:40:00+00:00"}))
    assert [(r["account"], r["state"], r.get("with"), r.get("since")) for r in rows] == [
        ("t1", "talking", "+62811", "x"), ("t2", "ringing", "+62822", None),
        ("t3", "paused", None, "2026-12-02T00:50:00+00:00"), ("t4", "unregistered", None, None),
        ("t5", "wrapup", None, "2026-12-02T00:58:00+00:00")]          # t1's older ticket: it talks now
    assert board.takers(board.Floor(calls, None, {})) == []            # the engine away: no members known


def test_who_waits_longest_first_with_the_prank_warning() -> None:
    calls = [{"linkedid": "2.1", "state": "queued", "started_at": "2026-12-02T01:00:05+00:00", "notes": {}},
             {"linkedid": "1.1", "state": "ringing", "started_at": "2026-12-02T01:00:00+00:00",
              "notes": {"prank_history": True}},
             {"linkedid": "3.1", "state": "ivr", "started_at": "2026-12-02T00:59:00+00:00"}]
    assert [(w["linkedid"], w["prank"]) for w in board.waiting(calls)] == [("1.1", True), ("2.1", False)]


def assignment(n: int, status: str, agency: str = "DAMKAR", minutes_ago: float = 0) -> Assignment:
    at = T0 - timedelta(minutes=minutes_ago)
    return Assignment(n, n, f"SMD-{n}", agency, status, "", "taker1", at, at + timedelta(minutes=1),
                      at + timedelta(minutes=5))


def test_sla_at_risk_past_half_its_time_or_missed_most_late_first_and_the_open_work() -> None:
    found = [assignment(1, "diteruskan", minutes_ago=0.2), assignment(2, "diteruskan", minutes_ago=0.6),
             assignment(3, "diteruskan", minutes_ago=3), assignment(4, "diterima", "PDAM", minutes_ago=3),
             assignment(5, "diproses", "PDAM", minutes_ago=9)]
    rows = board.sla(found, T0)
    assert [(r["assignment"], r["stage"], r["missed"], r["left_s"]) for r in rows] == [
        (3, "accept", True, -120), (2, "accept", False, 24), (4, "process", False, 120)]   # 1: 80 % left: fine
    assert board.open_work(found) == {"DAMKAR": {"diteruskan": 3}, "PDAM": {"diproses": 1, "diterima": 1}}


def test_only_events_that_change_the_days_figures_make_the_board_read_the_store_again() -> None:
    from callengine.dispatch.live import AssignmentNotice
    from callengine.wallboard.service import _changes_figures
    from callengine.web.engine_link import LiveEvent

    assert _changes_figures(AssignmentNotice("DAMKAR", b""))
    assert _changes_figures(LiveEvent("call.stored", {})) and _changes_figures(LiveEvent("link", {}))
    assert not _changes_figures(LiveEvent("call.offered", {})) and not _changes_figures(LiveEvent("queue.member", {}))
