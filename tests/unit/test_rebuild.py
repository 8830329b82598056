"""Records rebuilt from a CEL file captured from the real Asterisk with the engine down."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from callengine.calls.rebuild import finished_calls, read_cel, record_from_cel

CEL = Path(__file__).parent / "transcripts" / "outage.cel"
RECORDINGS = Path("/tmp/ce-c_evitru/rec")
EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)


def rebuilt() -> dict[str, object]:
    calls = read_cel(CEL)
    return {linkedid: record_from_cel(linkedid, rows, RECORDINGS) for linkedid, rows in finished_calls(calls, EPOCH)}


def test_an_answered_call_of_the_fallback_queue() -> None:
    record = rebuilt()["1795447353.0"]
    assert record.source == "cel" and record.ivr == {"rebuilt_from": "cel"}
    assert (record.caller, record.caller_status) == ("+6281234567890", "ok")
    assert (record.disposition, record.queue, record.agent) == ("answered", "112-fallback", "taker1")
    assert record.recording == "2026/11/23/1795447353.0.wav"
    assert record.started_at == datetime.fromtimestamp(1795447353.671674, timezone.utc)
    assert record.wait_s == round(1795447357.776120 - 1795447357.767810, 3)     # join → taker bridged
    assert record.talk_s == round(1795447358.780660 - 1795447357.776120, 3)
    assert (record.hangup_cause, record.hangup_by) == (16, "caller")


def test_a_withheld_caller_who_hangs_up_before_the_queue() -> None:
    record = rebuilt()["1795447358.21"]
    assert (record.caller, record.caller_raw, record.caller_status) == (None, "anonymous", "withheld")
    assert record.disposition == "ended_in_ivr" and record.queue is None and record.agent is None


def test_only_calls_ended_since_the_cutoff_and_bad_lines_are_skipped(tmp_path: Path) -> None:
    cutoff = datetime.fromtimestamp(1795447359, timezone.utc)
    assert [linkedid for linkedid, _ in finished_calls(read_cel(CEL), cutoff)] == ["1795447358.21"]
    broken = tmp_path / "Master.csv"
    broken.write_text(CEL.read_text() + '"CHAN_START","not enough columns"\n')
    assert read_cel(broken).keys() == read_cel(CEL).keys()
    assert read_cel(tmp_path / "missing.csv") == {}


def test_a_call_that_never_reached_the_emergency_context_is_not_a_record() -> None:
    rows = [r for r in read_cel(CEL)["1795447353.0"] if r["appname"] not in ("MixMonitor", "Queue")]
    assert record_from_cel("1795447353.0", rows, RECORDINGS) is None
