"""Calls the engine did not see whole: adopted after a restart or an AMI outage, finished from
CEL; calls that ended unseen, found in CEL's tail. Real CEL lines (transcripts/outage.cel),
plain fakes for AMI and the store."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from callengine.calls.record import CallRecord
from callengine.calls.recovery import CallRecovery, _live_calls
from callengine.calls.tracker import CallTracker, LiveChannels

CEL = Path(__file__).parent / "transcripts" / "outage.cel"
ANSWERED, WITHHELD = "1795447353.0", "1795447358.21"   # the transcript's two calls
RECORDINGS = Path("/tmp/ce-c_evitru/rec")
NOW = datetime.fromtimestamp(1795447360, timezone.utc)


class Clock:
    def now(self) -> datetime:
        return NOW


def lines(linkedid: str | None = None, until: str | None = None) -> str:
    """The transcript's lines (of one call), up to but without the first `until` event."""
    out = []
    for line in CEL.read_text().splitlines(keepends=True):
        if linkedid is not None and f'"{linkedid}",""' not in line and f',"{linkedid}","' not in line:
            continue
        if until is not None and line.startswith(f'"{until}"'):
            break
        out.append(line)
    return "".join(out)


class Centre:
    """A tracker and its recovery over a CEL file; AMI's channel list and the store are fakes."""

    def __init__(self, folder: Path, channels: list[dict[str, str]] | None = None) -> None:
        self.cel = folder / "Master.csv"
        self.cel.write_text("")
        self.records: list[CallRecord] = []
        self.stored: set[str] = set()
        self.channels = channels or []
        self.tracker = CallTracker(self.sink, Clock())
        connected = asyncio.Event()
        self.recovery = CallRecovery(self.tracker, self.cel, RECORDINGS, list_channels=self.list_channels,
                                     connected=connected, known=self.known, pending=set, submit=self.sink,
                                     clock=Clock())
        self.tracker.recover = self.recovery.recover

    async def sink(self, record: CallRecord) -> None:
        self.records.append(record)

    async def list_channels(self) -> list[dict[str, str]]:
        return self.channels

    async def known(self, linkedids: list[str]) -> set[str]:
        return self.stored & set(linkedids)

    def append(self, text: str) -> None:
        with self.cel.open("a") as out:
            out.write(text)


def channel(linkedid: str, uniqueid: str, duration: str = "00:00:07") -> dict[str, str]:
    return {"Event": "CoreShowChannel", "Linkedid": linkedid, "Uniqueid": uniqueid, "Duration": duration}


async def test_a_call_adopted_after_a_restart_is_recorded_whole_from_cel(tmp_path: Path) -> None:
    centre = Centre(tmp_path, [channel(ANSWERED, ANSWERED), channel(ANSWERED, "1795447357.8", "00:00:02")])
    centre.append(lines(ANSWERED, until="HANGUP"))       # the call is live when the engine starts
    await centre.recovery.on_connected()
    assert set(centre.tracker.live) == {ANSWERED} and centre.records == []
    centre.append(lines(ANSWERED)[len(lines(ANSWERED, until="HANGUP")):])   # Asterisk writes its end...
    await centre.tracker.on_event({"Event": "Hangup", "Linkedid": ANSWERED, "Uniqueid": ANSWERED})  # ...and says so
    [record] = centre.records
    assert (record.source, record.disposition, record.agent, record.queue) == ("cel", "answered", "taker1", "112-fallback")
    assert record.started_at == datetime.fromtimestamp(1795447353.671674, timezone.utc)   # its true start
    assert record.recording == f"2026/11/23/{ANSWERED}.wav" and record.talk_s is not None
    assert centre.tracker.live == {}


async def test_a_call_adopted_waits_for_its_end_to_reach_cel(tmp_path: Path) -> None:
    centre = Centre(tmp_path, [channel(WITHHELD, WITHHELD)])
    centre.append(lines(WITHHELD, until="HANGUP"))
    await centre.recovery.on_connected()
    hangup = asyncio.create_task(centre.tracker.on_event(
        {"Event": "Hangup", "Linkedid": WITHHELD, "Uniqueid": WITHHELD}))
    await asyncio.sleep(0.05)  # wait-ok: the record must wait for the lines CEL has not written yet
    assert centre.records == []
    centre.append(lines(WITHHELD)[len(lines(WITHHELD, until="HANGUP")):])
    await hangup
    [record] = centre.records
    assert (record.disposition, record.caller_status, record.hangup_cause) == ("ended_in_ivr", "withheld", 16)


async def test_calls_followed_before_an_ami_outage_are_finished_from_cel_with_the_ivr_notes(tmp_path: Path) -> None:
    centre = Centre(tmp_path, [channel(ANSWERED, ANSWERED)])
    await centre.tracker.on_event({"Event": "Newchannel", "Linkedid": ANSWERED, "Uniqueid": ANSWERED,
                                   "Context": "from-trunk", "CallerIDNum": "081234567890"})
    centre.tracker.annotate(ANSWERED, category="kebakaran", ivr_path=["greeting", "connecting"], ivr_digits="2")
    centre.append(lines(ANSWERED))                        # the answer and the end happened while AMI was away
    centre.channels = []
    await centre.recovery.on_connected()
    [record] = centre.records
    assert (record.source, record.disposition, record.agent, record.category) == ("cel", "answered", "taker1", "kebakaran")
    assert record.ivr["ivr_path"] == ["greeting", "connecting"]


async def test_calls_that_ended_unseen_are_rebuilt_once_from_the_tail(tmp_path: Path) -> None:
    centre = Centre(tmp_path)
    await centre.recovery.on_connected()                  # nothing yet; the tail starts here
    centre.append(lines(ANSWERED))
    centre.append(lines(WITHHELD))
    centre.stored.add(ANSWERED)                           # the store has one of them already
    await centre.recovery.check_tail()
    assert [r.linkedid for r in centre.records] == [WITHHELD]
    await centre.recovery.check_tail()                    # nothing new appended: nothing rebuilt twice
    assert len(centre.records) == 1


async def test_a_late_event_never_revives_a_finished_call(tmp_path: Path) -> None:
    centre = Centre(tmp_path, [channel(WITHHELD, WITHHELD)])
    centre.append(lines(WITHHELD))
    await centre.recovery.on_connected()
    await centre.tracker.on_event({"Event": "Hangup", "Linkedid": WITHHELD, "Uniqueid": WITHHELD})
    await centre.tracker.on_event({"Event": "Hangup", "Linkedid": WITHHELD, "Uniqueid": WITHHELD})
    centre.tracker.adopt({WITHHELD: LiveChannels(frozenset({WITHHELD}), NOW)})
    assert len(centre.records) == 1 and centre.tracker.live == {}


async def test_a_sweep_spares_calls_born_after_the_channel_list() -> None:
    records: list[CallRecord] = []

    async def sink(record: CallRecord) -> None:
        records.append(record)

    tracker = CallTracker(sink, Clock())
    listed_at = time.monotonic()
    await tracker.on_event({"Event": "Newchannel", "Linkedid": "1.1", "Uniqueid": "1.1", "Context": "from-trunk"})
    await tracker.sweep([], listed_at)
    assert "1.1" in tracker.live and records == []


def test_live_channels_grouped_by_call_with_the_oldest_start() -> None:
    calls = _live_calls([channel("9.1", "9.1", "01:02:03"), channel("9.1", "9.2", "00:00:05"),
                         {"Event": "CoreShowChannelsComplete"}, channel("8.1", "8.1", "garbage")], NOW)
    assert calls["9.1"] == LiveChannels(frozenset({"9.1", "9.2"}), NOW - timedelta(hours=1, minutes=2, seconds=3))
    assert calls["8.1"].since == NOW - timedelta(days=1)   # unreadable: as far back as a call lasts
