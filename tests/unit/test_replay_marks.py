"""The player's marks: the call's moments in seconds from the recording's start, within it."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from callengine.calls.record import CallRecord, build_record
from callengine.qa.replay import Mark, marks

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)
ANSWERED = CallRecord("1.1", "+6281111111111", "081111111111", "112", T0, T0 + timedelta(seconds=21),
                      T0 + timedelta(seconds=80), "kebakaran", "112", 9.0, "taker1", 59.0, "answered", 16,
                      "Normal Clearing", "caller", "2026/12/02/1.1.wav",
                      ivr={"ivr_path": ["greeting", "menu"], "ivr_digits": "2", "ivr_s": 11.5})


def test_an_answered_call_has_its_ivr_menu_queue_answer_and_end() -> None:
    assert marks(ANSWERED, 80.0) == [Mark(0.0, "ivr", "greeting/menu"), Mark(11.5, "menu", "2"),
                                     Mark(12.0, "queue", "112"), Mark(21.0, "answer", "taker1"),
                                     Mark(80.0, "end", "answered")]


def test_an_abandoned_call_and_a_recording_shorter_than_the_call() -> None:
    gone = replace(ANSWERED, answered_at=None, agent=None, talk_s=None, disposition="abandoned", wait_s=30.0)
    assert [(m.kind, m.at_s) for m in marks(gone)] == [("ivr", 0.0), ("menu", 11.5), ("queue", 11.5), ("end", 80.0)]
    assert [m.kind for m in marks(ANSWERED, 30.0)] == ["ivr", "menu", "queue", "answer"]     # the end: past it
    assert [m.kind for m in marks(replace(ANSWERED, ivr={}))] == ["queue", "answer", "end"]


def _event(kind: str, at_s: float, uniqueid: str = "1.1", **fields: str) -> dict[str, str]:
    return {"Event": kind, "Timestamp": f"{T0.timestamp() + at_s:.6f}", "Uniqueid": uniqueid, "Linkedid": "1.1",
            **fields}


TAKER1, TAKER2 = "PJSIP/taker1-00000002", "PJSIP/taker2-00000001"
# As Asterisk 16 sends them (tests/integration/test_qa_browser.py saw them): app_queue's events on
# the caller's channel; Hold/Unhold on the channel of the phone that pressed hold; the queue's
# music (MusicOnHoldStart) on the caller's, in the queue and while held: no hold of its own.
RINGS_AND_HOLDS = [
    _event("Newchannel", 0, Context="emergency", CallerIDNum="081111111111"),
    _event("QueueCallerJoin", 12, Queue="112"),
    _event("MusicOnHoldStart", 12),
    _event("AgentCalled", 12.5, Interface="PJSIP/taker2", DestChannel=TAKER2),
    _event("AgentRingNoAnswer", 17.5, Interface="PJSIP/taker2"),
    _event("AgentCalled", 18.5, Interface="PJSIP/taker1", DestChannel=TAKER1),
    _event("AgentConnect", 21, Interface="PJSIP/taker1", HoldTime="9"),
    _event("Hold", 30, "1.3", Channel=TAKER1),
    _event("MusicOnHoldStart", 30.01),
    _event("Hold", 31, "1.3", Channel=TAKER1),               # a refreshed re-INVITE: the same hold
    _event("Unhold", 40.25, "1.3", Channel=TAKER1),
    _event("Hold", 50, "1.3", Channel=TAKER1),
    _event("Hangup", 80, "1.3", Channel=TAKER1),             # the call ends on hold
    _event("Hangup", 80, Cause="16"),
]


def test_rings_and_holds_are_kept_on_the_record_and_marked() -> None:
    record = build_record("1.1", [(T0, e) for e in RINGS_AND_HOLDS])
    at = lambda s: (T0 + timedelta(seconds=s)).isoformat()  # noqa: E731
    assert record.moments == {
        "rings": [{"at": at(12.5), "agent": "taker2", "no_answer": True},
                  {"at": at(18.5), "agent": "taker1", "no_answer": False}],
        "holds": [{"start": at(30), "end": at(40.25), "by": "taker1"}, {"start": at(50), "end": None, "by": "taker1"}]}
    assert CallRecord.from_json(record.to_json()) == record                       # the spool keeps them
    assert [(m.kind, m.at_s, m.detail) for m in marks(record) if m.kind in ("ring", "answer", "hold", "unhold")] == [
        ("ring", 12.5, "taker2"), ("ring", 18.5, "taker1"), ("answer", 21.0, "taker1"),
        ("hold", 30.0, "taker1"), ("unhold", 40.25, "taker1"), ("hold", 50.0, "taker1")]
    assert [m.kind for m in marks(record, 45.0)][-2:] == ["hold", "unhold"]      # the second hold: past the recording


def test_a_record_without_moments_loads_with_none() -> None:
    """Spooled before the moments were kept, or rebuilt from CEL (which has no queue events)."""
    old = {k: v for k, v in ANSWERED.to_json().items() if k != "moments"}
    assert CallRecord.from_json(old).moments == {} and marks(CallRecord.from_json(old)) == marks(ANSWERED)
