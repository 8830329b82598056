"""Calling a citizen back from the console: Asterisk rings the call taker's softphone first,
then, once the call taker answers, dials the citizen through the telco trunk (the dialplan's
[callback] context). In tests a SIP peer at the trunk address answers.

Each call-back is stored when placed and finished once with its outcome. The engine names the
call-back's first channel itself (Originate's ChannelId), so its row, its AMI events and its
CEL lines share one id from the start. Its end is learned from AMI (the taker leg's Hangup, or
an OriginateResponse saying the softphone never answered) and read from CEL, which has the
whole call: the Dial's status (in the taker leg's HANGUP), when the citizen answered, the
recording. After an engine restart the unfinished rows are settled from CEL the same way.
"""
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from callengine.calls.numbers import to_e164
from callengine.calls.rebuild import Row, _extra, _relative, _seconds, _time  # CEL's line helpers
from callengine.core.clock import Clock
from callengine.queueing.roster import Roster

log = logging.getLogger(__name__)

Originate = Callable[[Mapping[str, str]], Awaitable[Mapping[str, str]]]   # an AMI action and its reply
CelRows = Callable[[str, datetime], Awaitable[list[Row]]]   # one call's CEL lines, once it ended
CONTEXT = "callback"
RING_TAKER_MS = 30_000
CALLBACK_EVENTS = frozenset({"OriginateResponse", "Hangup"})   # the AMI events that end a call-back
UNFINISHED_WINDOW = timedelta(days=1)   # how far back unfinished call-backs are settled after a restart
LOST_AFTER = timedelta(milliseconds=RING_TAKER_MS, minutes=1)   # no trace in CEL by then: never rang
LINKEDID = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUESTER = re.compile(r"[^\x00-\x1f\x7f,]{1,80}")   # it travels in an AMI header and a dialplan argument

ANSWERED, NO_ANSWER, BUSY, CANCELLED, FAILED = "answered", "no-answer", "busy", "cancelled", "failed"
TAKER_NO_ANSWER = "taker-no-answer"
# DIALSTATUS of the Dial to the citizen; "" when the taker hung up before it ran; anything else failed
DIAL_OUTCOMES = {"ANSWER": ANSWERED, "NOANSWER": NO_ANSWER, "BUSY": BUSY, "CANCEL": CANCELLED, "": CANCELLED}
# OriginateResponse's Reason: the control frame that ended the taker's ringing
TAKER_REASONS = {0: "unreachable", 1: "hung up", 3: "no answer", 5: "busy", 8: "congestion"}


class CallbackError(ValueError):
    pass


class UnknownCall(CallbackError):
    """The missed call named by a call-back is not in the store."""


class CallbackUnavailable(RuntimeError):
    """The store cannot take the call-back's row: it is not placed unrecorded."""


@dataclass(frozen=True)
class Outcome:
    """How a call-back ended."""
    outcome: str
    ended_at: datetime
    answered_at: datetime | None = None    # the citizen answered
    talk_s: float | None = None
    dialstatus: str | None = None          # the Dial's DIALSTATUS; None when it never ran
    cause: str | None = None
    recording: str | None = None           # relative to the recordings folder, as calls keep it


@dataclass(frozen=True)
class Callback:
    """One call-back as stored: placed, then finished once (outcome None while it lasts)."""
    linkedid: str                          # its own call in Asterisk: the taker leg's Uniqueid
    account: str                           # the call taker whose softphone rings
    number: str                            # the citizen, E.164
    requested_by: str
    placed_at: datetime
    for_linkedid: str | None = None        # the missed call it answers
    id: int | None = None
    outcome: str | None = None
    ended_at: datetime | None = None
    answered_at: datetime | None = None
    talk_s: float | None = None
    dialstatus: str | None = None
    cause: str | None = None
    recording: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


class CallbackStore(Protocol):
    async def add(self, callback: Callback) -> int: ...
    async def finish(self, linkedid: str, outcome: Outcome) -> bool: ...
    async def unfinished(self, since: datetime) -> list[Callback]: ...


class Callbacks:
    def __init__(self, originate: Originate, roster: Callable[[], Roster], store: CallbackStore,
                 cel_rows: CelRows, clock: Clock, recordings_dir: Path) -> None:
        self.originate = originate
        self.roster = roster
        self.store = store
        self.cel_rows = cel_rows
        self.clock = clock
        self.recordings_dir = recordings_dir
        self.open: dict[str, Callback] = {}    # placed and not yet settled, by linkedid

    async def call_back(self, account: str, number: str, by: str, for_linkedid: str | None = None) -> Callback:
        """Ring `account`'s softphone and connect it to `number`; the call-back as stored."""
        callback = self._new(account, number, by, for_linkedid)
        callback = replace(callback, id=await self._add(callback))
        self.open[callback.linkedid] = callback      # before the originate: its end may come at once
        reply = await self._originate(callback)
        if reply.get("Response") != "Success":
            message = reply.get("Message", "no reason")
            self.open.pop(callback.linkedid, None)
            await self._finish(callback, Outcome(FAILED, self.clock.now(), cause=f"Asterisk refused: {message}"))
            raise CallbackError(f"Asterisk refused the call: {message}")
        return callback

    async def on_event(self, event: Mapping[str, str]) -> None:
        """AMI: a call-back ended when its taker leg hangs up, or when Asterisk could not ring
        the softphone at all (then no channel and no CEL line exist: the Reason is all there is)."""
        kind, linkedid = event.get("Event"), event.get("Uniqueid", "")
        if kind == "Hangup" and linkedid in self.open:
            await self._settle(linkedid)
        elif kind == "OriginateResponse" and event.get("Response") == "Failure":
            await self._settle(event.get("ActionID", ""), _int(event.get("Reason")))

    async def on_connected(self) -> None:
        """After every AMI login: events of the gap are lost, so each unfinished call-back is
        settled from CEL if it ended (or never rang), and followed to its end otherwise."""
        try:
            unfinished = await self.store.unfinished(self.clock.now() - UNFINISHED_WINDOW)
        except Exception as exc:  # driver errors vary by backend: the next login tries again
            log.warning("cannot look for unfinished call-backs: %s", exc)
            return
        for callback in unfinished:
            self.open.setdefault(callback.linkedid, callback)
            rows = await self.cel_rows(callback.linkedid, callback.placed_at)
            lost = not rows and self.clock.now() - callback.placed_at > LOST_AFTER
            if lost or any(r["eventtype"] == "LINKEDID_END" for r in rows):
                await self._settle(callback.linkedid)

    def _new(self, account: str, number: str, by: str, for_linkedid: str | None) -> Callback:
        if account not in self.roster().people:
            raise CallbackError(f"{account!r} is not on the roster")
        e164 = to_e164(number)
        if e164 is None:
            raise CallbackError(f"{number!r} is not a number to call back")
        if for_linkedid is not None and not LINKEDID.fullmatch(for_linkedid):
            raise CallbackError("'linkedid' is not the id of a call")
        if not REQUESTER.fullmatch(by):
            raise CallbackError("'by' must be a name of at most 80 characters, without commas")
        return Callback(linkedid=f"cb-{secrets.token_hex(6)}", account=account, number=e164, requested_by=by,
                        placed_at=self.clock.now(), for_linkedid=for_linkedid)

    async def _add(self, callback: Callback) -> int:
        try:
            return await self.store.add(callback)
        except CallbackError:
            raise
        except Exception as exc:  # driver errors vary by backend
            raise CallbackUnavailable(f"the call-back cannot be recorded now: {exc}") from exc

    async def _originate(self, callback: Callback) -> Mapping[str, str]:
        dial = national(callback.number)
        action = {
            "Action": "Originate", "ActionID": callback.linkedid, "ChannelId": callback.linkedid,
            "Channel": f"PJSIP/{callback.account}", "Context": CONTEXT, "Exten": dial, "Priority": "1",
            "Timeout": str(RING_TAKER_MS), "Async": "true", "CallerID": f"Panggilan balik <{dial}>",
            "Variable": f"CE_CALLBACK_BY={callback.requested_by}"}
        try:
            return await self.originate(action)
        except Exception as exc:  # AMI away or silent (AmiError, its transport's errors): taken as refused
            return {"Response": "Error", "Message": str(exc) or type(exc).__name__}

    async def _settle(self, linkedid: str, reason: int | None = None) -> None:
        callback = self.open.pop(linkedid, None)
        if callback is None:   # not ours, or the other of its two end events came first
            return
        rows = await self.cel_rows(linkedid, callback.placed_at)
        if rows:
            outcome = outcome_from_cel(linkedid, rows, self.recordings_dir)
        else:
            outcome = taker_unreached(reason, self.clock.now())
        await self._finish(callback, outcome)

    async def _finish(self, callback: Callback, outcome: Outcome) -> None:
        try:
            await self.store.finish(callback.linkedid, outcome)
        except Exception as exc:  # the store away: the next AMI login settles it from CEL
            log.warning("call-back outcome not stored: %s", exc, extra={"linkedid": callback.linkedid})
            return
        log.info("call-back ended", extra={"linkedid": callback.linkedid, "for_linkedid": callback.for_linkedid,
                                           "outcome": outcome.outcome, "cause": outcome.cause})


def outcome_from_cel(linkedid: str, rows: list[Row], recordings_dir: Path) -> Outcome:
    """How a call-back ended, from its CEL lines: the taker leg (Uniqueid = linkedid) answered
    or not, its HANGUP holds the Dial's DIALSTATUS, the other channel is the citizen's."""
    taker = [r for r in rows if r["uniqueid"] == linkedid]
    citizen = [r for r in rows if r["uniqueid"] != linkedid]
    ended_at = max(_time(r) for r in rows)
    hangup = _hangup(taker)
    if _first(taker, "ANSWER") is None:
        return Outcome(TAKER_NO_ANSWER, ended_at, cause=_cause(hangup))
    status = hangup.get("dialstatus")
    status = status if isinstance(status, str) else None    # no HANGUP line: CEL never saw the end
    outcome = FAILED if status is None else DIAL_OUTCOMES.get(status, FAILED)
    answer = _first(citizen, "ANSWER") if outcome == ANSWERED else None
    answered_at = _time(answer) if answer else None
    recording = _first(taker, "APP_START", "MixMonitor")
    return Outcome(outcome, ended_at, answered_at=answered_at, talk_s=_seconds(answered_at, ended_at),
                   dialstatus=status or None, cause=_cause(_hangup(citizen) or hangup),
                   recording=_relative(recording["appdata"].split(",")[0], recordings_dir) if recording else None)


def taker_unreached(reason: int | None, at: datetime) -> Outcome:
    """A call-back without a line in CEL: Asterisk could not ring the softphone (the
    OriginateResponse's Reason says why), or nothing at all is known of it."""
    if reason is None:
        return Outcome(FAILED, at, cause="no trace of the call in Asterisk")
    return Outcome(TAKER_NO_ANSWER, at, cause=f"taker's phone: {TAKER_REASONS.get(reason, 'failed')} (reason {reason})")


def national(e164: str) -> str:
    """+62812… → 0812…: the form Indonesian trunks take for calls inside the country."""
    return "0" + e164[3:] if e164.startswith("+62") else e164.lstrip("+")


def _first(rows: list[Row], kind: str, app: str | None = None) -> Row | None:
    return next((r for r in rows if r["eventtype"] == kind and (app is None or r["appname"] == app)), None)


def _hangup(rows: list[Row]) -> dict[str, object]:
    """The extra fields of a channel's HANGUP line: hangupcause, hangupsource, dialstatus."""
    row = _first(rows, "HANGUP")
    return _extra(row) if row else {}


def _cause(hangup: dict[str, object]) -> str | None:
    cause = hangup.get("hangupcause")
    return f"Q.850 cause {cause}" if isinstance(cause, int) else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
