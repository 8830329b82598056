"""The player's marks: the call's moments in seconds from the recording's start, within it."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from callengine.calls.record import CallRecord
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
