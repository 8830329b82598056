"""SLA clocks: each assignment's deadlines (accept_by, process_by, armed at the dispatch and
re-armed at a reopen, stored with it) watched against the one clock, and a missed one escalated:
level 1 to the agency's heads (agencies.conf `notify`), then, `[sla] escalate_after` past the
deadline and still missed, level 2 to the supervisor on duty (the roster's).

Nothing is held in memory between rounds: every round reads the overdue assignments and the
escalations already raised from the store, so a restart re-arms every clock, and the store keeps
each escalation once (assignment, stage, level, deadline), so no round and no restart doubles
one. Each escalation commits with its delivery-log rows and its audit row. The console channel
is the only one built: its rows are written sent; e-mail rows are left pending for their sender
only when that channel is configured.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from callengine.accounts.model import AuditEntry
from callengine.core.clock import Clock
from callengine.core.conf import ConfigError
from callengine.dispatch.model import ACCEPTED, FORWARDED, PROCESSING, REFUSED, Assignment, DispatchRules
from callengine.queueing.roster import Roster, lazy_roster

log = logging.getLogger(__name__)
ACCEPT, PROCESS = "accept", "process"
STAGES = (ACCEPT, PROCESS)
STAGE_STATUS = {ACCEPT: ACCEPTED, PROCESS: PROCESSING}      # the status that meets the stage
HEADS, SUPERVISOR = 1, 2
CONSOLE, EMAIL = "console", "email"
PENDING, SENT, FAILED = "pending", "sent", "failed"
MET, MISSED, OPEN, REFUSED_IN_TIME = "met", "missed", "open", "refused"
WAITING = (FORWARDED, ACCEPTED)                 # the statuses in which a deadline can still be missed
EMAIL_ADDRESS = re.compile(r"<([^<>@\s]+@[^<>@\s]+\.[^<>@\s]+)>")
SYSTEM = "sla"                                  # the audit's actor for what the watcher does


@dataclass(frozen=True)
class Escalation:
    assignment_id: int
    stage: str                       # accept or process
    level: int                       # 1 the agency's heads, 2 the supervisor on duty
    deadline: datetime
    raised_at: datetime
    delay_s: float                   # how late the stage was when this was raised
    notified: tuple[str, ...]        # the heads as agencies.conf names them, or supervisor accounts
    id: int = 0
    ticket_number: str = ""
    agency: str = ""

    @property
    def key(self) -> tuple[int, str, int, datetime]:
        return self.assignment_id, self.stage, self.level, self.deadline

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "assignment_id": self.assignment_id, "ticket_number": self.ticket_number,
                "agency": self.agency, "stage": self.stage, "level": self.level,
                "deadline": self.deadline.isoformat(), "raised_at": self.raised_at.isoformat(),
                "delay_s": round(self.delay_s, 1), "notified": list(self.notified)}


@dataclass(frozen=True)
class Notification:
    """One line of the delivery log: a message to one recipient on one channel."""
    channel: str
    recipient: str
    subject: str
    body: str
    status: str
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As the ticket shows it: without the body (a webhook's is the whole signed event)."""
        return {"channel": self.channel, "recipient": self.recipient, "subject": self.subject,
                "status": self.status, "attempts": self.attempts, "last_error": self.last_error,
                "created_at": self.created_at.isoformat(), "sent_at": _iso(self.sent_at)}


class SlaStore(Protocol):
    async def overdue(self, now: datetime) -> list[Assignment]: ...
    async def raised(self, assignment_ids: list[int]) -> list[Escalation]: ...
    async def escalate(self, escalation: Escalation, notifications: list[Notification],
                       audit: AuditEntry) -> Escalation | None: ...
    async def dispatched_between(self, start: datetime, end: datetime) -> list[Assignment]: ...
    async def waiting_escalations(self) -> list[tuple[Escalation, Assignment]]: ...
    async def recent_escalations(self, since: datetime) -> list[Escalation]: ...
    async def deliveries(self, assignment_ids: list[int]) -> list[tuple[int, Notification]]: ...


def missed(assignment: Assignment, now: datetime) -> list[tuple[str, datetime]]:
    """The stages whose deadline has passed while the assignment still waits for them."""
    if assignment.status not in WAITING:
        return []
    stages = [(PROCESS, assignment.process_by)]
    if assignment.status == FORWARDED:
        stages.insert(0, (ACCEPT, assignment.accept_by))
    return [(stage, deadline) for stage, deadline in stages if deadline <= now]


def outcome(assignment: Assignment, stage: str, now: datetime) -> str:
    """met or missed (done in time or late, or still waiting past the deadline), open (waiting,
    not yet late), refused (ditolak in time, without reaching the stage)."""
    deadline = assignment.accept_by if stage == ACCEPT else assignment.process_by
    done = assignment.accepted_at if stage == ACCEPT else assignment.processing_at
    if done is not None:
        return MET if done <= deadline else MISSED
    if assignment.status == REFUSED and assignment.closed_at is not None:
        return REFUSED_IN_TIME if assignment.closed_at <= deadline else MISSED
    return MISSED if now >= deadline else OPEN


def still_waiting(escalation: Escalation, assignment: Assignment) -> bool:
    """An escalation is open while its stage is still unmet on the deadline it was raised for
    (a reopen re-arms the deadline: its old escalations are closed, new ones may follow)."""
    if escalation.stage == ACCEPT:
        return assignment.status == FORWARDED and assignment.accept_by == escalation.deadline
    return assignment.status in WAITING and assignment.process_by == escalation.deadline


def supervisors_on_duty(roster: Roster, at: datetime) -> list[str]:
    """The supervisors rostered on the shift running at `at`; if the shift has none, every
    supervisor of the roster (someone must hear of it)."""
    try:
        rostered = roster.duty_at(at).accounts
    except ConfigError:
        rostered = frozenset()
    on_duty = sorted(a for a in rostered if a in roster.people and roster.people[a].role == "supervisor")
    return on_duty or sorted(roster.supervisors)


def roster_supervisors(path: Path, zone: ZoneInfo) -> Callable[[datetime], list[str]]:
    """supervisors_on_duty on the roster file, read at first use and re-read when it changes; a
    roster that cannot be read names nobody (the escalation still shows on the console)."""
    roster = lazy_roster(path, zone)

    def on_duty(at: datetime) -> list[str]:
        try:
            return supervisors_on_duty(roster(), at)
        except (ConfigError, OSError) as exc:
            log.error("the roster cannot say who supervises now: %s", exc)
            return []
    return on_duty


class SlaWatcher:
    """Each round: the overdue assignments from the store, each missed stage escalated at the
    levels now due and not raised yet."""

    def __init__(self, store: SlaStore, rules: DispatchRules, clock: Clock,
                 supervisors: Callable[[datetime], Sequence[str]], escalate_after: timedelta, zone: ZoneInfo,
                 channels: frozenset[str] = frozenset({CONSOLE})) -> None:
        self.store, self.rules, self.clock, self.supervisors = store, rules, clock, supervisors
        self.escalate_after, self.zone, self.channels = escalate_after, zone, channels

    async def round(self) -> list[Escalation]:
        """The escalations raised now (those another round or process raised are skipped)."""
        now = self.clock.now()
        overdue = await self.store.overdue(now)
        known = {e.key for e in await self.store.raised([a.id for a in overdue])} if overdue else set()
        made = []
        for assignment in overdue:
            for stage, deadline in missed(assignment, now):
                for level, due in ((HEADS, deadline), (SUPERVISOR, deadline + self.escalate_after)):
                    if now < due:
                        break
                    if (assignment.id, stage, level, deadline) in known:
                        continue
                    raised = await self._raise(assignment, stage, level, deadline, now)
                    if raised is not None:
                        made.append(raised)
        return made

    async def run(self, every_s: float) -> None:
        """A round at start and every `every_s` seconds; a failed round (the database away) is
        logged and the next one tries again."""
        while True:
            try:
                for escalation in await self.round():
                    log.warning("SLA missed: %s %s %s escalated to level %d (%s)", escalation.ticket_number,
                                escalation.agency, escalation.stage, escalation.level,
                                ", ".join(escalation.notified) or "nobody named",
                                extra={"assignment": escalation.assignment_id, "stage": escalation.stage,
                                       "level": escalation.level, "delay_s": round(escalation.delay_s, 1)})
            except Exception as exc:  # driver errors vary by backend; the next round tries again
                log.error("SLA round failed: %s", exc)
            await asyncio.sleep(every_s)  # wait-ok: the watcher's pace; deadlines are read from the store

    async def _raise(self, assignment: Assignment, stage: str, level: int, deadline: datetime,
                     now: datetime) -> Escalation | None:
        agency = self.rules.agencies.get(assignment.agency)
        if level == HEADS:
            notified = tuple(agency.notify) if agency else ()
        else:
            notified = tuple(self.supervisors(now))
        escalation = Escalation(assignment.id, stage, level, deadline, now, (now - deadline).total_seconds(),
                                notified, ticket_number=assignment.ticket_number, agency=assignment.agency)
        subject, body = self._message(escalation, agency.name if agency else assignment.agency)
        audit = AuditEntry(now, SYSTEM, "sla.escalation", f"{assignment.ticket_number}/{assignment.agency}", {
            "assignment": assignment.id, "stage": stage, "level": level, "deadline": deadline.isoformat(),
            "delay_s": round(escalation.delay_s, 1), "notified": list(notified)}, None)
        return await self.store.escalate(escalation, self._deliveries(escalation, subject, body, now), audit)

    def _message(self, escalation: Escalation, agency_name: str) -> tuple[str, str]:
        late = int(escalation.delay_s // 60)
        waiting = "belum diterima" if escalation.stage == ACCEPT else "belum diproses"
        whom = "kepala instansi" if escalation.level == HEADS else "supervisor"
        subject = (f"SLA terlewat: {escalation.ticket_number} {escalation.agency} {waiting} "
                   f"(eskalasi {escalation.level}, {whom})")
        body = (f"Tiket {escalation.ticket_number} untuk {agency_name} {waiting}. Batas waktu "
                f"{escalation.deadline.astimezone(self.zone):%d-%m-%Y %H:%M:%S %Z}, terlambat {late} menit "
                f"{int(escalation.delay_s % 60)} detik.")
        return subject, body

    def _deliveries(self, escalation: Escalation, subject: str, body: str, now: datetime) -> list[Notification]:
        """The console's rows (shown there: sent); e-mail rows pending for their sender, only when
        that channel is configured and the head gives an address."""
        if escalation.level == HEADS:
            found = [Notification(CONSOLE, f"agency:{escalation.agency}", subject, body, SENT, now, now)]
            if EMAIL in self.channels:
                found += [Notification(EMAIL, address[1], subject, body, PENDING, now)
                          for head in escalation.notified if (address := EMAIL_ADDRESS.search(head))]
            return found
        recipients = [f"user:{account}" for account in escalation.notified] or ["role:supervisor"]
        return [Notification(CONSOLE, recipient, subject, body, SENT, now, now) for recipient in recipients]


class SlaBook:
    """What the console reads: a day's targets and actual times, the escalations, and each
    assignment's escalations on its ticket."""

    def __init__(self, store: SlaStore, clock: Clock, zone: ZoneInfo) -> None:
        self.store, self.clock, self.zone = store, clock, zone

    async def day(self, day: date) -> dict[str, Any]:
        """Each assignment dispatched on that local day: targets, actual times, met/missed/open
        per stage, and its escalations."""
        start = datetime.combine(day, time(), self.zone)
        end = datetime.combine(day + timedelta(days=1), time(), self.zone)
        found = await self.store.dispatched_between(start, end)
        raised = await self.store.raised([a.id for a in found]) if found else []
        now = self.clock.now()
        rows, summary = [], {stage: {MET: 0, MISSED: 0, OPEN: 0, REFUSED_IN_TIME: 0} for stage in STAGES}
        for a in found:
            stages = {stage: outcome(a, stage, now) for stage in STAGES}
            for stage, result in stages.items():
                summary[stage][result] += 1
            rows.append({"id": a.id, "ticket_number": a.ticket_number, "agency": a.agency, "status": a.status,
                         "dispatched_at": a.dispatched_at.isoformat(), "accept_by": a.accept_by.isoformat(),
                         "process_by": a.process_by.isoformat(), **{k: _iso(getattr(a, k)) for k in (
                             "accepted_at", "processing_at", "closed_at")}, **stages,
                         "escalations": [e.to_json() for e in raised if e.assignment_id == a.id]})
        return {"day": day.isoformat(), "assignments": rows, "summary": summary}

    async def escalations(self, open_only: bool, since: datetime | None = None) -> list[dict[str, Any]]:
        """Newest first: those whose stage is still unmet (open_only), or all since `since`."""
        if open_only:
            pairs = await self.store.waiting_escalations()
            chosen = [e for e, a in pairs if still_waiting(e, a)]
        else:
            chosen = await self.store.recent_escalations(since or self.clock.now() - timedelta(days=1))
        return [e.to_json() for e in sorted(chosen, key=lambda e: (e.raised_at, e.id), reverse=True)]

    def with_notices(self, timeline: Callable[[int], Awaitable[list[dict[str, Any]]]]
                     ) -> Callable[[int], Awaitable[list[dict[str, Any]]]]:
        """A ticket's assignments (`timeline`'s) each with its escalations and its delivery log
        (every notification of its dispatch, duty phone and escalations, on every channel)."""
        async def assignments(ticket_id: int) -> list[dict[str, Any]]:
            found = await timeline(ticket_id)
            ids = [a["id"] for a in found]
            raised = await self.store.raised(ids) if found else []
            sent = await self.store.deliveries(ids) if found else []
            return [{**a, "escalations": [e.to_json() for e in raised if e.assignment_id == a["id"]],
                     "deliveries": [n.to_json() for owner, n in sent if owner == a["id"]]}
                    for a in found]
        return assignments


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
