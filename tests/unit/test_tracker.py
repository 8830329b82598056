"""The call tracker fed with AMI transcripts captured from the real Asterisk (tests/unit/transcripts/)."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from callengine.calls.record import ABANDONED, ANSWERED, ENDED_IN_IVR, CallRecord
from callengine.calls.tracker import CallTracker

TRANSCRIPTS = Path(__file__).parent / "transcripts"


class FrozenClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 22, 7, 0, tzinfo=timezone.utc)


def transcript(name: str) -> list[dict[str, str]]:
    """AMI messages as Asterisk sent them: 'Key: Value' lines, blank line between messages."""
    events = []
    for block in (TRANSCRIPTS / name).read_text().replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "Event" in fields:
            events.append(fields)
    return events


async def replay(events: list[dict[str, str]], tracker: CallTracker | None = None) -> list[CallRecord]:
    records: list[CallRecord] = []

    async def sink(record: CallRecord) -> None:
        records.append(record)

    tracker = tracker or CallTracker(sink, FrozenClock())
    tracker.sink = sink
    for event in events:
        await tracker.on_event(event)
    return records


async def test_caller_hangs_up_in_queue_without_engine_is_abandoned() -> None:
    [record] = await replay(transcript("abandoned_no_engine.ami"))
    assert record.disposition == ABANDONED
    assert record.queue == "112"
    assert record.dialed == "112"
    assert record.answered_at is None and record.agent is None
    assert record.wait_s is not None and record.wait_s >= 0
    assert record.hangup_cause == 16 and record.hangup_by == "caller"
    assert record.recording and record.recording.endswith(f"{record.linkedid}.wav")
    # times come from Asterisk's own timestamps, not from the (frozen) clock
    assert record.started_at < record.ended_at
    assert record.started_at.year == 2026 and record.started_at != FrozenClock().now()


async def test_replaying_a_transcript_twice_gives_two_identical_records_keyed_alike() -> None:
    events = transcript("abandoned_no_engine.ami")
    first = await replay(events)
    second = await replay(events)
    assert [r.to_json() for r in first] == [r.to_json() for r in second]


async def test_ivr_notes_land_on_the_record() -> None:
    events = transcript("abandoned_no_engine.ami")
    records: list[CallRecord] = []

    async def sink(record: CallRecord) -> None:
        records.append(record)

    tracker = CallTracker(sink, FrozenClock())
    linkedid = events[[e.get("Event") for e in events].index("Newchannel")]["Linkedid"]
    hangup = [e.get("Event") for e in events].index("Hangup")
    for event in events[:hangup]:
        await tracker.on_event(event)
    tracker.ivr_started(linkedid)
    finishing = asyncio.create_task(tracker.on_event(events[hangup]))   # caller hangs up mid-IVR
    await asyncio.sleep(0)  # wait-ok: let the hangup reach the tracker before the IVR reports
    assert records == []                                                   # the record waits for the IVR
    tracker.annotate(linkedid, category="kebakaran", ivr_path=["greeting", "menu"])
    await finishing
    assert records[0].category == "kebakaran"
    assert records[0].ivr == {"ivr_path": ["greeting", "menu"]}


async def test_a_call_that_never_reached_the_112_context_makes_no_record() -> None:
    events = [{**e, "Context": "calltakers"} for e in transcript("abandoned_no_engine.ami")
              if e["Event"] in ("Newchannel", "Hangup")]
    assert await replay(events) == []


async def test_a_trunk_call_that_failed_before_its_recording_is_recorded_as_failed() -> None:
    """Answer() failed (e.g. a body Asterisk could not take): the channel lived 2 ms."""
    events = [{**e, "Cause": "127", "Cause-txt": "Interworking, unspecified"} if e["Event"] == "Hangup" else e
              for e in transcript("abandoned_no_engine.ami") if e["Event"] in ("Newchannel", "Hangup")]
    [record] = await replay(events)
    assert (record.disposition, record.hangup_cause, record.recording) == ("failed", 127, None)
    assert record.caller_raw == "sipp"                 # who it was: the one to call back


async def test_hangup_before_the_queue_is_ended_in_ivr() -> None:
    events = [e for e in transcript("abandoned_no_engine.ami") if not e["Event"].startswith("Queue")]
    [record] = await replay(events)
    assert record.disposition == ENDED_IN_IVR and record.queue is None and record.wait_s is None


async def test_sweep_finishes_calls_whose_channels_vanished_while_ami_was_away() -> None:
    events = transcript("abandoned_no_engine.ami")
    cut = [e.get("Event") for e in events].index("Hangup")
    records: list[CallRecord] = []

    async def sink(record: CallRecord) -> None:
        records.append(record)

    tracker = CallTracker(sink, FrozenClock())
    for event in events[:cut]:
        await tracker.on_event(event)
    assert records == []
    await tracker.sweep([], listed_at=time.monotonic())
    assert len(records) == 1 and records[0].disposition == ABANDONED
    assert tracker.live == {}


@pytest.mark.parametrize("name", ["answered.ami"])
async def test_answered_call(name: str) -> None:
    if not (TRANSCRIPTS / name).exists():
        pytest.fail(f"transcript {name} missing")
    [record] = await replay(transcript(name))
    assert record.disposition == ANSWERED
    assert record.agent == "taker1"
    assert record.answered_at is not None and record.started_at <= record.answered_at <= record.ended_at
    assert record.wait_s is not None and record.talk_s is not None and record.talk_s > 0
    assert record.caller == "+6281234567890"


async def test_an_agent_complete_that_arrives_after_the_last_hangup_still_counts() -> None:
    """app_queue publishes AgentComplete through Stasis; now and then it follows the last Hangup."""
    events = transcript("answered.ami")
    complete = next(e for e in events if e["Event"] == "AgentComplete")
    late = [e for e in events if e is not complete] + [complete]
    records: list[CallRecord] = []

    async def sink(record: CallRecord) -> None:
        records.append(record)

    tracker = CallTracker(sink, FrozenClock())
    tasks = []
    for event in late:                       # as panoramisk hands them over: one task per event
        tasks.append(asyncio.create_task(tracker.on_event(event)))
        await asyncio.sleep(0)  # wait-ok: a bare yield, as panoramisk's loop gives one between events
    await asyncio.gather(*tasks)
    [record] = records
    assert record.hangup_by == "caller" and record.talk_s == float(complete["TalkTime"])


@pytest.mark.parametrize("drop", [(), ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon")],
                         ids=["in-the-queue", "in-the-ivr"])
async def test_asterisk_22s_unknown_cause_for_a_caller_who_hangs_up_is_normal_clearing(drop: tuple[str, ...]) -> None:
    """Asterisk 22 says 0 "Unknown" where 16 said 16 "Normal Clearing" (callengine/calls/causes.py)."""
    events = [{**e, "Cause": "0", "Cause-txt": "Unknown"} if e["Event"] == "Hangup" else e
              for e in transcript("abandoned_no_engine.ami") if e["Event"] not in drop]
    [record] = await replay(events)
    assert (record.hangup_cause, record.hangup_cause_text) == (16, "Normal Clearing")


async def test_the_tracker_publishes_the_call_as_it_happens() -> None:
    from callengine.calls.events import CallAnswered, CallEnded, CallOffered, CallQueued, CallStarted, IvrDone

    published: list[object] = []
    async def keep(record: CallRecord) -> None:
        pass

    tracker = CallTracker(keep, FrozenClock(), publish=published.append)
    events = transcript("answered.ami")
    linkedid = next(e["Linkedid"] for e in events if e["Event"] == "Newchannel")
    tracker.ivr_started(linkedid)
    for event in events:
        if event["Event"] == "QueueCallerJoin":
            tracker.annotate(linkedid, category="kebakaran", priority=10, ivr_path=["greeting", "connecting"])
        await tracker.on_event(event)
    kinds = [type(e) for e in published]
    assert kinds[:2] == [CallStarted, IvrDone] and kinds[-1] is CallEnded
    assert kinds.index(CallQueued) < kinds.index(CallOffered) < kinds.index(CallAnswered) < kinds.index(CallEnded)
    started, offered = published[0], next(e for e in published if isinstance(e, CallOffered))
    assert started.caller == "+6281234567890" and started.dialed == "112"          # type: ignore[attr-defined]
    assert offered.agent == "taker1" and offered.queue == "112"                      # type: ignore[attr-defined]
    assert published[-1].record.linkedid == linkedid                                 # type: ignore[attr-defined]


def test_a_call_back_leaving_through_the_trunk_is_not_a_112_call() -> None:
    from callengine.calls.record import is_emergency

    taker = {"Event": "Newchannel", "Uniqueid": "cb-1", "Linkedid": "cb-1", "Context": "callback",
             "Channel": "PJSIP/taker1-00000001"}
    out = {"Event": "Newchannel", "Uniqueid": "1.2", "Linkedid": "cb-1", "Context": "from-trunk",
           "Channel": "PJSIP/trunk-00000002"}
    citizen = {"Event": "Newchannel", "Uniqueid": "1.3", "Linkedid": "1.3", "Context": "from-trunk"}
    assert not is_emergency([taker, out, {"Event": "Hangup", "Uniqueid": "1.2", "Linkedid": "cb-1"}])
    assert is_emergency([citizen, {"Event": "Hangup", "Uniqueid": "1.3", "Linkedid": "1.3"}])
