"""One 112 call as the centre remembers it, built from the ordered AMI events of one Linkedid."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from callengine.calls.causes import hangup_cause
from callengine.calls.numbers import is_withheld, to_e164
from callengine.telephony import dialplan

ANSWERED = "answered"
ABANDONED = "abandoned"      # hung up while waiting in the queue
ENDED_IN_IVR = "ended_in_ivr"  # hung up before reaching the queue
FAILED = "failed"            # reached the emergency context but never got as far as the recording

Event = dict[str, str]


@dataclass
class CallRecord:
    linkedid: str
    caller: str | None
    caller_raw: str
    dialed: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    category: str | None
    queue: str | None
    wait_s: float | None
    agent: str | None
    talk_s: float | None
    disposition: str
    hangup_cause: int | None
    hangup_cause_text: str | None
    hangup_by: str | None
    recording: str | None
    ghost: bool = False          # no DTMF and no voice from the caller: a silent or pocket call
    prank: bool = False          # marked by a call taker
    location: dict[str, Any] | None = None          # the best of `locations`
    ivr: dict[str, Any] = field(default_factory=dict)
    caller_status: str = "ok"    # ok, withheld (anonymous, restricted) or invalid (garbage from the trunk)
    locations: list[dict[str, Any]] = field(default_factory=list)   # every location received, with its source
    recording_facts: dict[str, Any] | None = None   # duration, checksum, browser copy: added after commit
    source: str = "ami"          # ami: followed live; cel: rebuilt from Asterisk's CEL after an engine outage
    sip_call_id: str | None = None  # the INVITE's Call-ID: ties SIP captures (location) to the call
    # what the queue and the phones did, for the QA player's timeline (times ISO 8601 UTC):
    # {"rings": [{"at", "agent", "no_answer"}], "holds": [{"start", "end" (None: held to the end), "by"}]};
    # empty when rebuilt from CEL, which has no queue events
    moments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in TIMES:
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in TIMES:
            if values.get(key) is not None:
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)


TIMES = ("started_at", "answered_at", "ended_at")


def event_time(event: Event, fallback: datetime) -> datetime:
    """The AMI Timestamp (timestampevents=yes), else the time we received the event."""
    stamp = event.get("Timestamp")
    if stamp:
        try:
            return datetime.fromtimestamp(float(stamp), timezone.utc)
        except ValueError:
            pass
    return fallback


def is_emergency(events: Sequence[Event]) -> bool:
    """Only calls that reached the 112 contexts become records, however they ended. A call's
    first channel must be born there: a call-back's leg out through the trunk also lands in
    the trunk's context, but it is a later channel of a call the engine placed."""
    return any(e.get("Event") == "QueueCallerJoin" or
               (e.get("Event") == "UserEvent" and e.get("UserEvent") == dialplan.RECORDING_EVENT) or
               (e.get("Event") == "Newchannel" and e.get("Context") in dialplan.EMERGENCY_CONTEXTS
                and e.get("Uniqueid") == e.get("Linkedid"))
               for e in events)


def build_record(linkedid: str, events: Sequence[tuple[datetime, Event]]) -> CallRecord:
    """Interpret the events of one Linkedid, in arrival order, into its record."""
    first_seen, _ = events[0]
    timeline = [(event_time(e, seen), e) for seen, e in events]
    caller_channel = next((e for _, e in timeline if e.get("Uniqueid") == linkedid), timeline[0][1])
    started_at = next((t for t, e in timeline if e.get("Event") == "Newchannel" and e.get("Uniqueid") == linkedid),
                      timeline[0][0])
    ended_at = max(t for t, _ in timeline)
    rec = CallRecord(
        linkedid=linkedid, caller=None, caller_raw=caller_channel.get("CallerIDNum", ""), dialed=None,
        started_at=started_at, answered_at=None, ended_at=ended_at, category=None, queue=None,
        wait_s=None, agent=None, talk_s=None, disposition=FAILED, hangup_cause=None,
        hangup_cause_text=None, hangup_by=None, recording=None)
    rec.caller = to_e164(rec.caller_raw)
    rec.caller_status = caller_status(rec.caller_raw, rec.caller)
    joined_at: datetime | None = None
    rec.moments = call_moments(linkedid, timeline)
    for at, e in timeline:
        kind = e.get("Event")
        if kind == "UserEvent" and e.get("UserEvent") == dialplan.RECORDING_EVENT:
            rec.disposition = ENDED_IN_IVR if rec.disposition == FAILED else rec.disposition
            rec.recording = e.get("Recording") or None
            rec.dialed = e.get("Dialed") or None
            rec.sip_call_id = e.get("Callid") or e.get("CallID") or None
        elif kind == "QueueCallerJoin":
            rec.queue, joined_at = e.get("Queue"), at
            rec.disposition = ABANDONED
        elif kind == "AgentConnect":
            rec.answered_at, rec.disposition = at, ANSWERED
            rec.agent = agent_account(e)
            rec.wait_s = _seconds(e.get("HoldTime"))
        elif kind == "AgentComplete":
            rec.talk_s = _seconds(e.get("TalkTime"))
            rec.hangup_by = {"caller": "caller", "agent": "agent", "transfer": "transfer"}.get(e.get("Reason", ""))
        elif kind == "QueueCallerAbandon":
            rec.wait_s = _seconds(e.get("HoldTime"))
        elif kind == "Hangup" and e.get("Uniqueid") == linkedid:
            rec.hangup_cause = _int(e.get("Cause"))
            rec.hangup_cause_text = e.get("Cause-txt") or None
    if rec.disposition == ABANDONED and rec.wait_s is None and joined_at is not None:
        rec.wait_s = round((ended_at - joined_at).total_seconds(), 3)
    if rec.disposition == ANSWERED and rec.talk_s is None and rec.answered_at is not None:
        rec.talk_s = round((ended_at - rec.answered_at).total_seconds(), 3)
    if rec.disposition == ABANDONED:
        rec.hangup_by = "caller"
    rec.hangup_cause, rec.hangup_cause_text = hangup_cause(rec.hangup_cause, rec.hangup_cause_text,
                                                           caller_hung_up(rec))
    rec.ghost = not any(e.get("Event") in ("ChannelTalkingStart", "DTMFEnd") and e.get("Uniqueid") == linkedid
                        for _, e in timeline)
    return rec


def call_moments(linkedid: str, timeline: Sequence[tuple[datetime, Event]]) -> dict[str, list[dict[str, Any]]]:
    """Each ring of a call taker (app_queue's AgentCalled; AgentRingNoAnswer when they let it
    ring out) and each hold (Hold/Unhold, raised on the channel whose phone pressed hold).
    MusicOnHoldStart is no hold: it also plays to the caller waiting in the queue."""
    rings: list[dict[str, Any]] = []
    holds: list[dict[str, Any]] = []
    held: dict[str, dict[str, Any]] = {}     # open holds by the Uniqueid of the channel that holds
    for at, e in timeline:
        kind, channel = e.get("Event"), e.get("Uniqueid", "")
        if kind == "AgentCalled":
            rings.append({"at": at.isoformat(), "agent": agent_account(e), "no_answer": False})
        elif kind == "AgentRingNoAnswer":
            rung = next((r for r in reversed(rings) if r["agent"] == agent_account(e)), None)
            if rung is not None:
                rung["no_answer"] = True
        elif kind == "Hold" and channel not in held:   # a repeated Hold (a re-INVITE refresh) is the same hold
            by = "caller" if channel == linkedid else channel_account(e.get("Channel", ""))
            held[channel] = {"start": at.isoformat(), "end": None, "by": by}
            holds.append(held[channel])
        elif kind == "Unhold" and channel in held:
            held.pop(channel)["end"] = at.isoformat()
    return {"rings": rings, "holds": holds} if rings or holds else {}


def caller_hung_up(record: CallRecord) -> bool:
    """Before a call taker only the caller ends a 112 call: the dialplan never hangs up on one."""
    return record.hangup_by == "caller" or record.disposition in (ABANDONED, ENDED_IN_IVR)


def caller_status(raw: str, e164: str | None) -> str:
    if e164 is not None:
        return "ok"
    return "withheld" if is_withheld(raw) else "invalid"


def agent_account(event: Event) -> str | None:
    """The call taker's account of an app_queue event: PJSIP/taker1 → taker1."""
    interface = event.get("Interface") or ""
    account = interface.split("/", 1)[1] if "/" in interface else interface
    return account or event.get("MemberName") or None


def channel_account(channel: str) -> str | None:
    """The account of a phone's channel: PJSIP/taker1-00000001 → taker1."""
    return channel.split("/", 1)[-1].rsplit("-", 1)[0] or None


def _seconds(raw: str | None) -> float | None:
    value = _int(raw)
    return float(value) if value is not None else None


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None
