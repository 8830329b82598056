"""Dispatch to the agencies (OPD): the agencies and the rules that propose them, and each
agency's assignment of a ticket with its lifecycle, on plain data.

An assignment moves diteruskan → diterima → diproses → selesai, or to ditolak (with a reason)
from any open status; a closed one (selesai, ditolak) is reopened to diteruskan with a reason,
which re-arms its SLA clocks. The ticket's status follows from its assignments (ticket_status).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

FORWARDED, ACCEPTED, PROCESSING, DONE, REFUSED = "diteruskan", "diterima", "diproses", "selesai", "ditolak"
STATUSES = (FORWARDED, ACCEPTED, PROCESSING, DONE, REFUSED)
MOVES = {FORWARDED: (ACCEPTED, REFUSED), ACCEPTED: (PROCESSING, REFUSED), PROCESSING: (DONE, REFUSED),
         DONE: (FORWARDED,), REFUSED: (FORWARDED,)}
NEEDS_REASON = (REFUSED, FORWARDED)     # a refusal goes back to the supervisor, who must know why; so must a reopen
PROGRESS = (FORWARDED, ACCEPTED, PROCESSING, DONE)
MAX_NOTE = 1000


class DispatchError(Exception):
    """A dispatch or status change refused; `code` is the API's error id."""
    code = "refused"


class NotFound(DispatchError, LookupError):
    code = "not_found"


class IllegalMove(DispatchError):
    code = "illegal_transition"

    def __init__(self, agency: str, current: str, wanted: str) -> None:
        allowed = " or ".join(MOVES.get(current, ())) or "nothing"
        super().__init__(f"{agency}'s assignment is {current}: it cannot become {wanted} (from {current}: {allowed})")
        self.current, self.wanted = current, wanted


class Conflict(DispatchError):
    code = "conflict"


class BadRequest(DispatchError):
    code = "bad_field"


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    kind: str
    duty_phones: tuple[str, ...]          # E.164, the first called first
    notify: tuple[str, ...]               # "role and name <e-mail or phone>", plain strings for now
    notify_duty_hours_only: bool
    duty_hours: tuple[time, time]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "duty_phones": list(self.duty_phones), "notify": list(self.notify),
                "duty_hours": "-".join(t.strftime("%H:%M") for t in self.duty_hours)}


@dataclass(frozen=True)
class Sla:
    """How long after the dispatch an agency must have accepted it and be on its way."""
    accept: timedelta
    process: timedelta


@dataclass(frozen=True)
class DispatchRules:
    agencies: dict[str, Agency]
    rules: dict[str, dict[str | None, tuple[str, ...]]]   # category → incident type (None: all) → agencies
    posts: dict[str, dict[str, str]]                      # kecamatan → agency → its nearest post there
    sla: dict[str, Sla]                                   # category → targets; "default" for the others

    def propose(self, category: str | None, incident_type: str | None, kecamatan: str | None) -> tuple[str, ...]:
        """The agencies a ticket goes to by the rules: its incident type's list, else its
        category's `all`; each replaced by its nearest post in the ticket's kecamatan. A ticket
        without a category (the operator took it) matches its incident type in any category."""
        found: tuple[str, ...] = ()
        for name in ([category] if category else list(self.rules)) if incident_type else ():
            found = self.rules.get(name, {}).get(incident_type, ())
            if found:
                break
        if not found and category:
            found = self.rules.get(category, {}).get(None, ())
        posts = self.posts.get(kecamatan or "", {})
        return tuple(dict.fromkeys(posts.get(code, code) for code in found))

    def sla_for(self, category: str | None) -> Sla:
        return self.sla.get(category or "", self.sla["default"])


@dataclass(frozen=True)
class Actor:
    """Who changes an assignment, and from where: the timeline and the audit keep both."""
    name: str
    role: str
    agency: str | None = None
    peer: str | None = None          # the client's address
    device: str | None = None        # its user agent (or, later, the duty phone that pressed 1)


@dataclass(frozen=True)
class Assignment:
    id: int
    ticket_id: int
    ticket_number: str
    agency: str
    status: str
    note: str                        # the dispatcher's note to the agency
    dispatched_by: str
    dispatched_at: datetime          # the last time it was forwarded: the SLA clocks count from here
    accept_by: datetime
    process_by: datetime
    accepted_at: datetime | None = None
    processing_at: datetime | None = None
    closed_at: datetime | None = None      # selesai or ditolak
    updated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class AssignmentEvent:
    """One line of an assignment's timeline: its dispatch (from_status None) or a status change."""
    assignment_id: int
    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    note: str
    peer: str | None
    device: str | None

    def to_json(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()
                if k != "assignment_id"}


def forwarded(ticket_id: int, number: str, agency: str, note: str, by: str, at: datetime, sla: Sla) -> Assignment:
    """A new assignment, its SLA deadlines armed (id 0 until stored)."""
    return Assignment(0, ticket_id, number, agency, FORWARDED, note, by, at, at + sla.accept, at + sla.process,
                      updated_at=at)


def moved(assignment: Assignment, to: str, at: datetime, sla: Sla) -> Assignment:
    """The assignment after the move `to`, or IllegalMove naming both statuses."""
    if to not in MOVES.get(assignment.status, ()):
        raise IllegalMove(assignment.agency, assignment.status, to)
    if to == FORWARDED:     # reopened: forwarded again, as if dispatched now
        return replace(assignment, status=to, dispatched_at=at, accept_by=at + sla.accept,
                       process_by=at + sla.process, accepted_at=None, processing_at=None, closed_at=None,
                       updated_at=at)
    stamp = {ACCEPTED: "accepted_at", PROCESSING: "processing_at"}.get(to, "closed_at")
    return replace(assignment, status=to, updated_at=at, **{stamp: at})


def ticket_status(statuses: list[str]) -> str | None:
    """The ticket's status from its assignments' (None without any: it keeps its own, baru).
    It is as far as its slowest agency: any diteruskan → diteruskan, else any diterima →
    diterima, else any diproses → diproses, else selesai. A refused assignment does not hold
    the others back (the supervisor sees it in the ditolak list); all refused → ditolak."""
    working = [s for s in statuses if s != REFUSED]
    if not statuses:
        return None
    return min(working, key=PROGRESS.index) if working else REFUSED


def clean_note(note: object, to: str | None = None) -> str:
    """The note as stored: a string of at most MAX_NOTE characters, required for a refusal or
    a reopen."""
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise BadRequest("note: must be a string")
    text = note.strip()
    if len(text) > MAX_NOTE:
        raise BadRequest(f"note: at most {MAX_NOTE} characters")
    if to in NEEDS_REASON and not text:
        raise BadRequest(f"note: {'a reopen' if to == FORWARDED else 'a refusal'} needs its reason")
    return text
