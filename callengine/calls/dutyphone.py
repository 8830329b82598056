"""The duty phone's voice call, the engine's side: a ticket dispatched to an agency, the console
asks (`POST /api/live/notify`) for a call to one of the agency's duty phones with the spoken
message it made (a WAV in runtime/voice/, named by its text's hash). Asterisk dials the phone
([notify] voice_dial: through the telco trunk by default); once answered the dialplan's
[dutyphone] context plays the message and reads one digit (1 accepts, anything else repeats,
at most 3 repeats) and raises a UserEvent (and a CEL line) with the result.

The engine names the call's channel itself (Originate's ChannelId), so the OriginateResponse,
the UserEvent and the Hangup all carry one id. It decides nothing about the assignment: it tells
the console, over the live stream, `dispatch.phone_accepted` the moment 1 is pressed and
`dispatch.phone_result` when the call ends (accepted, no-digit, no-answer, busy, rejected,
failed). The console, which owns people's work and the database, accepts the assignment and
decides whether to call again.
"""
from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from callengine.calls.callback import national
from callengine.calls.numbers import to_e164
from callengine.core.clock import Clock
from callengine.core.conf import ConfigError
from callengine.dispatch.config import VoiceSettings, load_voice
from callengine.telephony import dialplan

log = logging.getLogger(__name__)

Originate = Callable[[Mapping[str, str]], Awaitable[Mapping[str, str]]]
Publish = Callable[[object], Awaitable[None]]
DUTYPHONE_EVENTS = frozenset({"OriginateResponse", "UserEvent", "Hangup"})
ACCEPTED, NO_DIGIT, NO_ANSWER, BUSY, REJECTED, FAILED = "accepted", "no-digit", "no-answer", "busy", "rejected", "failed"
# OriginateResponse's Reason when the phone was never answered: the control frame that ended it
REASONS = {0: FAILED, 1: REJECTED, 3: NO_ANSWER, 5: BUSY, 8: FAILED}
# Asterisk 16 may send a failed OriginateResponse before [dutyphone-out]'s UserEvent with the
# Dial's status (busy came out as "failed, reason 0" in 1 of 6 tries): how long the end waits for it
DIAL_WORD_S = 1.0
# the Dial's DIALSTATUS in [dutyphone-out] when the phone was not reached
DIAL_RESULTS = {"NOANSWER": NO_ANSWER, "BUSY": BUSY, "CANCEL": NO_ANSWER}
PROMPT = re.compile(r"[0-9a-f]{16,64}\.wav")        # the console's cache names: a hash, nothing else
AGENCY = re.compile(r"[A-Z][A-Z0-9_]{1,31}")
TICKET = re.compile(r"[A-Za-z0-9-]{1,40}")
CALLER_ID = "Darurat 112 <112>"
# the longest a call can take once answered: 4 plays of a message under a minute, 6 s each to press
ANSWERED_FOR_S = 5 * 60


def voice_settings(path: Path) -> VoiceSettings:
    """agencies.conf [notify] as the engine reads it: a broken file is the console's to refuse
    (it does, at start); the engine logs it and calls through the trunk by default."""
    try:
        return load_voice(path)
    except (ConfigError, OSError) as exc:
        log.warning("duty phone calls use the defaults: %s", exc)
        return VoiceSettings()


class DutyPhoneError(ValueError):
    """A notify command refused: a bad field, or a message file that is not there."""


@dataclass(frozen=True)
class PhoneAccepted:
    """Live event `dispatch.phone_accepted`: 1 pressed on the duty phone."""
    call_id: str
    assignment_id: int
    agency: str
    phone: str
    ticket: str
    at: datetime


@dataclass(frozen=True)
class PhoneResult:
    """Live event `dispatch.phone_result`: how one duty-phone call ended."""
    call_id: str
    assignment_id: int
    agency: str
    phone: str
    ticket: str
    result: str
    answered: bool
    at: datetime
    cause: str | None = None


@dataclass
class SpokenCall:
    """One spoken call placed by the engine (a duty phone's, a citizen's rating call): what every
    such call tracks from its Originate to its end."""
    id: str                    # its channel's Uniqueid (ChannelId), also the ActionID
    phone: str                 # E.164
    ticket: str
    placed_at: datetime
    _: KW_ONLY
    answered: bool = False
    result: str | None = None  # from the dialplan's UserEvent
    unreached: str | None = None   # the Dial's word on a phone not reached (no-answer, busy …)
    cause: str | None = None
    refused: tuple[str, str | None] | None = None   # the OriginateResponse's failure, while the Dial's word is awaited
    watchdog: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass
class DutyCall(SpokenCall):
    assignment_id: int
    agency: str


class SpokenCalls:
    """What the duty phone's call and the citizen's rating call share: a number dialled from a
    Local channel through [dutyphone-out] (so it never becomes a 112 record), the answered half
    landing in `context` with the spoken message, and the call followed by its id through the
    OriginateResponse, the dialplan's UserEvents and the Hangup, then reported on the live
    stream. A subclass says what its context's UserEvent means (`_heard`) and what its end is
    told as (`_ended`)."""
    context = ""
    user_event = ""
    label = "spoken call"
    error: type[ValueError] = ValueError

    def __init__(self, originate: Originate, publish: Publish, clock: Clock, voice_dir: Path,
                 settings: VoiceSettings) -> None:
        self.originate = originate
        self.publish = publish
        self.clock = clock
        self.voice_dir = voice_dir
        self.settings = settings
        self.open: dict[str, SpokenCall] = {}

    def number(self, phone: object) -> str:
        e164 = to_e164(phone) if isinstance(phone, str) else None
        if e164 is None:
            raise self.error(f"{phone!r} is not a phone number")
        return e164

    async def _place(self, call: SpokenCall, message: str, thanks: str) -> None:
        self.open[call.id] = call       # before the originate: its end may come at once
        reply = await self._originate(call, message, thanks)
        if reply.get("Response") != "Success":
            self.open.pop(call.id, None)
            raise self.error(f"Asterisk refused the call: {reply.get('Message', 'no reason')}")
        self._rearm(call, self._expire(call.id))

    def _rearm(self, call: SpokenCall, ending: Coroutine[Any, Any, None]) -> None:
        """`ending` as the call's one watchdog, the one before it cancelled."""
        if call.watchdog is not None:
            call.watchdog.cancel()
        call.watchdog = asyncio.create_task(ending, name=f"{self.label} {call.id}")

    async def _heard(self, call: SpokenCall, event: Mapping[str, str]) -> None:
        """The context's UserEvent (the digit, or none): sets call.result."""
        raise NotImplementedError

    def _ended(self, call: SpokenCall, result: str, cause: str | None) -> object:
        """The live event telling how the call ended."""
        raise NotImplementedError

    async def on_event(self, event: Mapping[str, str]) -> None:
        """AMI: OriginateResponse (answered, or never: why), the dialplan's UserEvents (the Dial's
        status, the digit), the channel's Hangup (the end of an answered call)."""
        kind = event.get("Event")
        if kind == "OriginateResponse":
            call = self.open.get(event.get("ActionID", ""))
            if call is None:
                return
            if event.get("Response") == "Success":
                call.answered = True
            else:
                reason = _int(event.get("Reason"))
                call.refused = (REASONS.get(reason if reason is not None else 0, FAILED),
                                f"reason {reason}" if reason is not None else None)
                if call.unreached is not None:
                    await self._end(call, call.unreached, call.cause)
                else:       # Asterisk may send the Dial's word (busy, no answer) just after: wait for it
                    self._rearm(call, self._settle(call.id))
        elif kind == "UserEvent" and event.get("UserEvent") in (dialplan.DUTYPHONE_EVENT, self.user_event):
            call = self.open.get(event.get("Call", ""))
            if call is None or call.result is not None:
                return
            if event.get("Result") == "dial":       # from [dutyphone-out]: the phone was not reached
                status = event.get("DialStatus", "")
                call.unreached = f"{DIAL_RESULTS.get(status, FAILED)}"
                call.cause = f"DIALSTATUS {status}" if status else None
                if call.refused is not None:        # the OriginateResponse came first
                    await self._end(call, call.unreached, call.cause)
                return
            if event.get("UserEvent") == self.user_event:
                call.answered = True
                await self._heard(call, event)
        elif kind == "Hangup":
            call = self.open.get(event.get("Uniqueid", ""))
            # unanswered: the OriginateResponse says why (no answer, busy) and ends it
            if call is not None and (call.answered or call.result is not None):
                await self._end(call, call.result or NO_DIGIT, _cause(event))

    async def close(self) -> None:
        for call in self.open.values():
            if call.watchdog is not None:
                call.watchdog.cancel()

    def _sound(self, name: object, key: str) -> str:
        """The message's path as the dialplan plays it (no extension), from a bare cache name."""
        if not isinstance(name, str) or not PROMPT.fullmatch(name):
            raise self.error(f"'{key}' must be the name of a spoken message (its hash, .wav)")
        path = self.voice_dir / name
        if not path.is_file():
            raise self.error(f"no spoken message {name} in {self.voice_dir}")
        text = str(path.with_suffix(""))
        if "," in text or "\n" in text:    # the Originate's variables are split on commas
            raise self.error(f"{self.voice_dir} has a comma in its path: the dialplan cannot be given it")
        return text

    async def _originate(self, call: SpokenCall, message: str, thanks: str) -> Mapping[str, str]:
        number, ring = national(call.phone), self.settings.ring.total_seconds()
        action = {
            "Action": "Originate", "ActionID": call.id, "ChannelId": call.id,
            "Channel": f"Local/{number}@{dialplan.DUTYPHONE_OUT_CONTEXT}", "Context": self.context,
            "Exten": "s", "Priority": "1", "Timeout": str(int(ring * 1000) + 5000),
            "Async": "true", "CallerID": CALLER_ID,
            "Variable": ",".join(f"{k}={v}" for k, v in (
                (dialplan.DUTYPHONE_CALL, call.id), (dialplan.DUTYPHONE_DIAL, self.settings.channel(number)),
                (dialplan.DUTYPHONE_RING, str(int(ring))),
                (dialplan.DUTYPHONE_PROMPT, message), (dialplan.DUTYPHONE_CONFIRM, thanks)))}
        try:
            return await self.originate(action)
        except Exception as exc:  # AMI away or silent (AmiError, its transport's errors): taken as refused
            return {"Response": "Error", "Message": str(exc) or type(exc).__name__}

    async def _end(self, call: SpokenCall, result: str, cause: str | None) -> None:
        if self.open.pop(call.id, None) is None:
            return
        if call.watchdog is not None and call.watchdog is not asyncio.current_task():
            call.watchdog.cancel()
        await self._tell(self._ended(call, result, cause))

    async def _expire(self, call_id: str) -> None:
        """No end event (AMI lost meanwhile): the call is given up, so the console may call again."""
        await asyncio.sleep(self.settings.ring.total_seconds() + ANSWERED_FOR_S)  # wait-ok: a call's longest life
        call = self.open.get(call_id)
        if call is not None:
            await self._end(call, call.result or FAILED, "no end seen from Asterisk")

    async def _settle(self, call_id: str) -> None:
        """A refused originate whose Dial said nothing within DIAL_WORD_S: ended with the
        OriginateResponse's own reason (the Local channel never dialled, or its word was lost)."""
        await asyncio.sleep(DIAL_WORD_S)  # wait-ok: the UserEvent's usual lag behind the OriginateResponse
        call = self.open.get(call_id)
        if call is not None and call.refused is not None:
            await self._end(call, *call.refused)

    async def _tell(self, event: object) -> None:
        try:
            await self.publish(event)
        except Exception as exc:  # a listener's trouble must not stop the next call's events
            log.warning("%s event not published: %s", self.label, exc)


class DutyPhones(SpokenCalls):
    context = dialplan.DUTYPHONE_CONTEXT
    user_event = dialplan.DUTYPHONE_EVENT
    label = "duty phone"
    error = DutyPhoneError

    async def call(self, assignment_id: object, agency: object, phone: object, ticket: object, prompt: object,
                   confirm: object = None) -> DutyCall:
        """Dial `phone` and play `prompt` (a WAV of runtime/voice/) when it answers; the call as placed."""
        if not isinstance(assignment_id, int) or isinstance(assignment_id, bool) or assignment_id <= 0:
            raise DutyPhoneError("'assignment_id' must be a positive whole number")
        if not isinstance(agency, str) or not AGENCY.fullmatch(agency):
            raise DutyPhoneError("'agency' must be an agency code such as DAMKAR")
        if not isinstance(ticket, str) or not TICKET.fullmatch(ticket):
            raise DutyPhoneError("'ticket' must be a ticket number")
        e164 = self.number(phone)
        message = self._sound(prompt, "prompt")
        thanks = self._sound(confirm, "confirm") if confirm is not None else ""
        call = DutyCall(f"dp-{secrets.token_hex(6)}", e164, ticket, self.clock.now(), assignment_id=assignment_id,
                        agency=agency)
        await self._place(call, message, thanks)
        log.info("duty phone called", extra={"call": call.id, "assignment": assignment_id, "agency": agency,
                                             "phone": e164, "ticket": ticket})
        return call

    async def _heard(self, call: SpokenCall, event: Mapping[str, str]) -> None:
        assert isinstance(call, DutyCall)
        call.result = ACCEPTED if event.get("Result") == ACCEPTED else NO_DIGIT
        if call.result == ACCEPTED:
            log.info("duty phone accepted", extra={"call": call.id, "assignment": call.assignment_id,
                                                   "phone": call.phone})
            await self._tell(PhoneAccepted(call.id, call.assignment_id, call.agency, call.phone, call.ticket,
                                           self.clock.now()))

    def _ended(self, call: SpokenCall, result: str, cause: str | None) -> object:
        assert isinstance(call, DutyCall)
        log.info("duty phone call ended", extra={"call": call.id, "assignment": call.assignment_id,
                                                 "phone": call.phone, "result": result, "cause": cause})
        return PhoneResult(call.id, call.assignment_id, call.agency, call.phone, call.ticket, result,
                           call.answered, self.clock.now(), cause)


def _cause(event: Mapping[str, str]) -> str | None:
    cause = event.get("Cause")
    return f"Q.850 cause {cause}" if cause else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
