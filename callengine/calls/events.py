"""A 112 call's life as it happens, published on the event bus by the call tracker: the screen
pop, the live API and the wallboard follow calls through these."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from callengine.calls.record import CallRecord


@dataclass(frozen=True)
class CallStarted:
    """Answered by Asterisk and recording: the caller as the trunk gave them."""
    linkedid: str
    at: datetime
    caller: str | None
    caller_raw: str
    dialed: str | None
    sip_call_id: str | None


@dataclass(frozen=True)
class IvrDone:
    linkedid: str
    category: str | None
    priority: int | None
    path: tuple[str, ...]


@dataclass(frozen=True)
class CallQueued:
    linkedid: str
    at: datetime
    queue: str
    position: int | None


@dataclass(frozen=True)
class CallOffered:
    """A call taker's softphone rings with this call."""
    linkedid: str
    at: datetime
    queue: str
    agent: str


@dataclass(frozen=True)
class CallAnswered:
    linkedid: str
    at: datetime
    agent: str
    wait_s: float | None


@dataclass(frozen=True)
class CallLocated:
    """Where the caller of a call in progress is, as far as known now (every source so far,
    and the best of them): for the screen pop's map; the record gets its own at the end."""
    linkedid: str
    locations: tuple[dict[str, Any], ...]
    best: dict[str, Any] | None


@dataclass(frozen=True)
class CallEnded:
    record: CallRecord


CallEvent = CallStarted | IvrDone | CallQueued | CallOffered | CallAnswered | CallLocated | CallEnded
CALL_EVENTS: tuple[type, ...] = get_args(CallEvent)
