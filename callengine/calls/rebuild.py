"""Call records rebuilt from Asterisk's own CEL, for calls the engine did not see whole.

While the engine is away the dialplan still answers, records and queues every 112 call, and
Asterisk writes its Channel Event Log to <runtime>/log/cel-custom/Master.csv (columns below,
as config/asterisk/cel_custom.conf maps them). The dialplan adds the facts a record needs
as user events (telephony/dialplan.py): the dialed number and the IVR's outcome. Calls that
ended there unseen, and calls the engine adopted half-way (restart, AMI lost), become
records from these lines, with source "cel".
"""
from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from callengine.calls.numbers import to_e164
from callengine.calls.causes import hangup_cause
from callengine.calls.record import (ABANDONED, ANSWERED, ENDED_IN_IVR, FAILED, CallRecord, caller_hung_up,
                                     caller_status, channel_account)
from callengine.telephony import dialplan

log = logging.getLogger(__name__)

COLUMNS = ("eventtype", "eventtime", "cid_num", "context", "channel", "appname", "appdata", "uniqueid",
           "linkedid", "peer", "extra")
Row = dict[str, str]
LONGEST_CALL = timedelta(days=1)   # a call ending at `since` began at most this long before
TAIL_BLOCK = 64 * 1024             # bisecting stops within this many bytes of the tail's start


def read_cel(path: Path, since: datetime | None = None, lookback: timedelta = LONGEST_CALL) -> dict[str, list[Row]]:
    """CEL rows grouped by Linkedid, in file order; unreadable lines are logged and skipped.
    With `since`, only the tail of the file that can hold calls ending since then (begun at
    most `lookback` earlier) is read: the file is never rotated, and a year of a busy centre
    is gigabytes."""
    calls: dict[str, list[Row]] = {}
    if not path.exists():
        return calls
    with path.open("rb") as raw:
        start = 0 if since is None else _tail_offset(raw, (since - lookback).timestamp())
        raw.seek(start)
        source = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        for number, values in enumerate(csv.reader(source), 1):
            if len(values) != len(COLUMNS):
                log.warning("CEL line %d after byte %d has %d columns, expected %d; skipped",
                            number, start, len(values), len(COLUMNS))
                continue
            row = dict(zip(COLUMNS, values))
            calls.setdefault(row["linkedid"], []).append(row)
    return calls


def _tail_offset(source: BinaryIO, since: float) -> int:
    """A line start before every line stamped `since` or later, at most a block earlier:
    Asterisk appends CEL lines in time order, so the file can be bisected by byte offset.
    A line that cannot be read counts as late, so the read starts early rather than late."""
    low, high = 0, source.seek(0, io.SEEK_END)
    while high - low > TAIL_BLOCK:
        mid = (low + high) // 2
        source.seek(mid)
        source.readline()                        # the rest of the line mid fell into
        line_start = source.tell()
        stamp = _line_time(source.readline())
        if stamp is not None and stamp < since:
            low = line_start
        else:
            high = mid
    return low


def _line_time(line: bytes) -> float | None:
    try:
        values = next(csv.reader([line.decode("utf-8", errors="replace")]))
        return float(values[COLUMNS.index("eventtime")])
    except (StopIteration, IndexError, ValueError):
        return None


def finished_calls(calls: dict[str, list[Row]], since: datetime) -> Iterator[tuple[str, list[Row]]]:
    """Calls whose last channel is gone (LINKEDID_END) at or after `since`."""
    for linkedid, rows in calls.items():
        end = next((r for r in rows if r["eventtype"] == "LINKEDID_END"), None)
        if end is not None and _time(end) >= since:
            yield linkedid, rows


def record_from_cel(linkedid: str, rows: Iterable[Row], recordings_dir: Path) -> CallRecord | None:
    """The record of one 112 call from its CEL rows; None for calls that never reached the
    emergency context."""
    rows = list(rows)
    caller = [r for r in rows if r["uniqueid"] == linkedid]
    started = next((r for r in caller if r["eventtype"] == "CHAN_START"), None)
    if started is None or not any(r["context"] in dialplan.EMERGENCY_CONTEXTS for r in caller):
        return None
    recording = _app(caller, "MixMonitor")
    queued = _app(caller, "Queue")
    hangup = next((r for r in caller if r["eventtype"] == "HANGUP"), caller[-1])
    agent_enter = next((r for r in rows if r["eventtype"] == "BRIDGE_ENTER" and r["uniqueid"] != linkedid), None)
    started_at, ended_at = _time(started), _time(hangup)
    joined_at = _time(queued) if queued else None
    answered_at = _time(agent_enter) if agent_enter else None
    extra = _extra(hangup)
    call, ivr = _user_event(caller, dialplan.CALL_CEL_EVENT), _user_event(caller, dialplan.IVR_CEL_EVENT)
    raw = started["cid_num"]
    record = CallRecord(
        linkedid=linkedid, caller=to_e164(raw), caller_raw=raw, dialed=call.get("dialed") or None,
        started_at=started_at, answered_at=answered_at, ended_at=ended_at, category=ivr.get("category") or None,
        queue=queued["appdata"].split(",")[0] if queued else None,
        wait_s=_seconds(joined_at, answered_at or ended_at), agent=_account(agent_enter),
        talk_s=_seconds(answered_at, ended_at),
        disposition=_disposition(agent_enter, queued, recording),
        hangup_cause=_int(extra.get("hangupcause")), hangup_cause_text=None,
        hangup_by=_hangup_by(extra.get("hangupsource", ""), started["channel"], agent_enter),
        recording=_relative(recording["appdata"].split(",")[0], recordings_dir) if recording else None,
        ivr={**_ivr_notes(ivr), "rebuilt_from": "cel"}, source="cel", sip_call_id=call.get("callid") or None)
    record.caller_status = caller_status(raw, record.caller)
    record.hangup_cause, _ = hangup_cause(record.hangup_cause, None, caller_hung_up(record))
    record.ghost = not ivr.get("ivr_digits") and agent_enter is None
    return record


def _disposition(agent_enter: Row | None, queued: Row | None, recording: Row | None) -> str:
    if agent_enter:
        return ANSWERED
    if queued:
        return ABANDONED
    return ENDED_IN_IVR if recording else FAILED   # FAILED: never got as far as the recording


def _user_event(rows: list[Row], name: str) -> dict[str, str]:
    """The fields of the dialplan's last CELGenUserEvent of this name ({} if none)."""
    found = [r for r in rows if r["eventtype"] == name]
    if not found:
        return {}
    extra = _extra(found[-1]).get("extra")
    return dialplan.decode_notes(extra) if isinstance(extra, str) else {}


def _ivr_notes(ivr: dict[str, str]) -> dict[str, Any]:
    """The IVR's notes as the live record keeps them."""
    notes: dict[str, Any] = {}
    if "ivr_path" in ivr:
        notes["ivr_path"] = [step for step in ivr["ivr_path"].split("/") if step]
    for key in ("ivr_digits", "ivr_language"):
        if key in ivr:
            notes[key] = ivr[key]
    if (priority := _int(ivr.get("priority"))) is not None:
        notes["priority"] = priority
    if ivr.get("prank_history"):
        notes["prank_history"] = True
    return notes


def _int(value: object) -> int | None:
    try:
        return int(value) if value not in (None, "") else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _app(rows: list[Row], name: str) -> Row | None:
    return next((r for r in rows if r["eventtype"] == "APP_START" and r["appname"] == name), None)


def _time(row: Row) -> datetime:
    return datetime.fromtimestamp(float(row["eventtime"]), timezone.utc)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def _extra(row: Row) -> dict[str, object]:
    try:
        value = json.loads(row["extra"]) if row["extra"] else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _account(row: Row | None) -> str | None:
    return channel_account(row["channel"]) if row is not None else None


def _hangup_by(source: object, caller_channel: str, agent_enter: Row | None) -> str | None:
    if source == caller_channel:
        return "caller"
    if agent_enter is not None and source == agent_enter["channel"]:
        return "agent"
    return None


def _relative(path: str, recordings_dir: Path) -> str | None:
    try:
        return str(Path(path).relative_to(recordings_dir))
    except ValueError:
        return None


class CelTail:
    """Follows the end of the CEL file: the calls that ended (LINKEDID_END) in lines appended
    since the last look. Cheap enough to run every few seconds on a file of any size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset: int | None = None   # None: start at the end on the first look

    def skip_to_end(self) -> None:
        """What is in the file now has been looked at some other way (a full rebuild)."""
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def ended(self) -> list[tuple[str, datetime]]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if self.offset is None or size < self.offset:   # first look, or the file was rotated
            self.offset = 0 if self.offset is not None else size
        with self.path.open("rb") as raw:
            raw.seek(self.offset)
            chunk = raw.read(size - self.offset)
        complete = chunk[:chunk.rfind(b"\n") + 1]        # a line being written waits for the next look
        self.offset += len(complete)
        ended = []
        for line in complete.splitlines():
            if b'"LINKEDID_END"' not in line:
                continue
            values = next(csv.reader([line.decode("utf-8", errors="replace")]), [])
            if len(values) == len(COLUMNS):
                row = dict(zip(COLUMNS, values))
                ended.append((row["linkedid"], _time(row)))
        return ended
