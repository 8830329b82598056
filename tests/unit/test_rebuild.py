"""Records rebuilt from a CEL file captured from the real Asterisk with the engine down."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path

import pytest

from callengine.calls import rebuild
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
    rows = [{**r, "context": "calltakers"} for r in read_cel(CEL)["1795447353.0"]]
    assert record_from_cel("1795447353.0", rows, RECORDINGS) is None


def test_a_call_that_failed_before_its_recording_is_a_record_with_its_cause() -> None:
    """A trunk call whose Answer() failed: CHAN_START, ANSWER, HANGUP (cause 127) and no more."""
    rows = [r for r in read_cel(CEL)["1795447353.0"] if r["uniqueid"] == "1795447353.0" and
            r["eventtype"] in ("CHAN_START", "ANSWER", "HANGUP", "CHAN_END", "LINKEDID_END")]
    rows = [{**r, "extra": '{"hangupcause":127,"hangupsource":"","dialstatus":""}'} if r["eventtype"] == "HANGUP"
            else r for r in rows]
    record = record_from_cel("1795447353.0", rows, RECORDINGS)
    assert record is not None
    assert (record.disposition, record.hangup_cause, record.recording, record.queue) == ("failed", 127, None, None)
    assert record.caller == "+6281234567890"


def test_the_dialplan_user_events_give_the_dialed_number_and_the_ivr_outcome() -> None:
    linkedid = "1795447358.21"
    rows = read_cel(CEL)[linkedid]
    start = rows[0]
    user = [{**start, "eventtype": "CallEngineCall", "appname": "CELGenUserEvent",
             "extra": '{"extra":"dialed=112&callid=abc%40127.0.0.2"}'},
            {**start, "eventtype": "CallEngineIvr", "appname": "CELGenUserEvent",
             "extra": '{"extra":"category=kebakaran&priority=10&ivr_path=greeting%2Fconnecting&ivr_digits=2'
                      '&ivr_language=id"}'}]
    record = record_from_cel(linkedid, [start, *user, *rows[1:]], RECORDINGS)
    assert record is not None
    assert (record.dialed, record.sip_call_id, record.category) == ("112", "abc@127.0.0.2", "kebakaran")
    assert record.ivr == {"ivr_path": ["greeting", "connecting"], "ivr_digits": "2", "ivr_language": "id",
                          "priority": 10, "rebuilt_from": "cel"}
    assert record.ghost is False


def shifted(days: float, tag: str) -> str:
    """The outage transcript moved `days` later, its ids tagged so every copy is its own call."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for values in csv.reader(CEL.read_text().splitlines()):
        values[1] = f"{float(values[1]) + days * 86400:.6f}"
        values[7], values[8] = f"{values[7]}{tag}", f"{values[8]}{tag}"
        writer.writerow(values)
    return out.getvalue()


@pytest.mark.parametrize("block", [rebuild.TAIL_BLOCK, 256])
def test_only_the_tail_of_a_long_cel_file_is_read(tmp_path: Path, caplog, monkeypatch, block: int) -> None:  # type: ignore[no-untyped-def]
    """A CEL file of 60 days (never rotated) with a broken line in its old part: reading the
    last week finds the same calls as reading it all, a call in progress at the cutoff
    included, and never touches the old part."""
    monkeypatch.setattr(rebuild, "TAIL_BLOCK", block)   # 256: the bisection ends right at the cutoff
    path = tmp_path / "Master.csv"
    with path.open("w") as cel:
        for day in range(60):
            cel.write(shifted(day - 60, f"-{day}"))
            if day == 10:
                cel.write('"CHAN_START","old and broken"\n')
    since = datetime.fromtimestamp(1795447356 - 7 * 86400, timezone.utc)   # inside the day's first call
    everything = dict(finished_calls(read_cel(path), since))
    assert "old and broken" not in caplog.text and "has 2 columns" in caplog.text
    caplog.clear()
    tail = dict(finished_calls(read_cel(path, since), since))
    assert tail == everything and len(tail) == 7 * 2     # two calls a day ended in the last 7 days
    assert tail["1795447353.0-53"][0]["eventtype"] == "CHAN_START"   # began before the cutoff
    assert "columns" not in caplog.text                  # the broken line of day 10 was never read
    assert read_cel(path, datetime.fromtimestamp(0, timezone.utc)) == read_cel(path)


def test_asterisk_22s_unknown_cause_for_a_caller_who_hangs_up_is_normal_clearing() -> None:
    rows = [{**r, "extra": r["extra"].replace('"hangupcause":16', '"hangupcause":0')}
            for r in read_cel(CEL)["1795447358.21"]]
    assert any('"hangupcause":0' in r["extra"] for r in rows)
    record = record_from_cel("1795447358.21", rows, RECORDINGS)
    assert record is not None and record.hangup_cause == 16
