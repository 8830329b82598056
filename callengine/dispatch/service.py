"""The dispatch service: a ticket dispatched to agencies, each assignment moved through its
lifecycle by the agency's responders (or, for them, by the call taker or supervisor who hears
it by radio or phone), and the ticket's status following.

Every change is one unit of work (`DispatchStores.begin`): the assignment, its timeline event,
its SLA deadlines, the ticket's status and the audit row commit together or not at all. It
imports neither aiohttp nor SQLAlchemy: the stores are db/'s repositories in production and
plain fakes in the unit tests.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from callengine.accounts.model import AuditEntry
from callengine.core.clock import Clock
from callengine.dispatch.model import (ACCEPTED, DONE, FORWARDED, PROCESSING, REFUSED, STATUSES, Actor, Assignment,
                                       AssignmentEvent, BadRequest, Conflict, DispatchError, DispatchRules,
                                       NotFound, clean_note, forwarded, moved, ticket_status)
from callengine.tickets.model import Ticket

log = logging.getLogger(__name__)
Tx = Any                                          # a store's unit of work, opaque here
DISPATCHERS = ("calltaker", "supervisor")         # dispatch, reopen, and record any agency's move for it
RESPONDER = "responder"                           # moves only their own agency's assignments forward
RESPONDER_MOVES = (ACCEPTED, PROCESSING, DONE, REFUSED)
MAX_AGENCIES = 20
OPEN = "open"                                     # a filter: diteruskan, diterima and diproses together
OPEN_STATUSES = (FORWARDED, ACCEPTED, PROCESSING)
# what a responder is told of the ticket they are sent to: where, what, and whom to call back
TICKET_BRIEF = ("number", "category", "incident_type", "description", "address", "kelurahan", "kecamatan", "lat",
                "lon", "callback_number", "caller", "caller_name", "victims", "priority", "created_at")


class NotAllowed(DispatchError):
    code = "forbidden"


class AssignmentStore(Protocol):
    async def add(self, assignment: Assignment, conn: Tx = None) -> Assignment: ...
    async def move(self, changed: Assignment, from_status: str, conn: Tx = None) -> bool: ...
    async def get(self, assignment_id: int, conn: Tx = None) -> Assignment | None: ...
    async def of_ticket(self, ticket_id: int, conn: Tx = None) -> list[Assignment]: ...
    async def find(self, status: str | None = None, agency: str | None = None) -> list[Assignment]: ...
    async def add_event(self, event: AssignmentEvent, conn: Tx = None) -> None: ...
    async def events_of(self, assignment_ids: list[int]) -> list[AssignmentEvent]: ...


class TicketStore(Protocol):
    async def by_number(self, number: str, conn: Tx = None) -> Ticket | None: ...
    async def change(self, number: str, values: dict[str, Any], at: datetime, conn: Tx = None) -> Ticket | None: ...


class AuditStore(Protocol):
    async def add(self, entry: AuditEntry, conn: Tx = None) -> None: ...


@dataclass(frozen=True)
class DispatchStores:
    begin: Callable[[], AbstractAsyncContextManager[Tx]]
    assignments: AssignmentStore
    tickets: TicketStore
    audit: AuditStore


class Dispatcher:
    def __init__(self, stores: DispatchStores, rules: DispatchRules, clock: Clock) -> None:
        self.stores, self.rules, self.clock = stores, rules, clock
        # told of each dispatch once it committed (the duty phones' calls start there); it must
        # return at once, and its failure never undoes nor delays the dispatch
        self.on_dispatched: Callable[[Ticket, list[Assignment]], None] | None = None
        # told of each move once it committed (the assignment as moved, its status before, who
        # moved it): the same rules as on_dispatched
        self.on_changed: Callable[[Assignment, str, Actor], None] | None = None

    async def proposal(self, number: str) -> tuple[tuple[str, ...], list[Assignment]]:
        """The agencies the rules propose for the ticket, and the assignments it has already."""
        ticket = await self._ticket(number)
        proposed = self.rules.propose(ticket.category, ticket.incident_type, ticket.kecamatan)
        return proposed, await self.stores.assignments.of_ticket(ticket.id)

    async def dispatch(self, number: str, agencies: object, note: object, actor: Actor) -> list[Assignment]:
        """One new assignment per agency, diteruskan, its SLA deadlines armed from the ticket's
        category. An agency the ticket was dispatched to already is refused (reopen it instead)."""
        if actor.role not in DISPATCHERS:
            raise NotAllowed(f"the role {actor.role!r} does not dispatch")
        codes, text = self._agencies(agencies), clean_note(note)
        now = self.clock.now()
        async with self.stores.begin() as tx:
            ticket = await self._ticket(number, tx)
            sla = self.rules.sla_for(ticket.category)
            already = {a.agency: a for a in await self.stores.assignments.of_ticket(ticket.id, tx)}
            twice = [c for c in codes if c in already]
            if twice:
                raise Conflict(f"{number} is dispatched to {twice[0]} already ({already[twice[0]].status}): "
                               "reopen that assignment instead")
            made = []
            for code in codes:
                made.append(await self.stores.assignments.add(
                    forwarded(ticket.id, number, code, text, actor.name, now, sla), tx))
                await self._event(made[-1], None, text, actor, now, tx)
            status = await self._follow(ticket, now, tx)
            await self.stores.audit.add(AuditEntry(now, actor.name, "dispatch.send", number, {
                "agencies": list(codes), "assignments": [a.id for a in made], "ticket_status": status,
                "device": actor.device}, actor.peer), tx)
        if self.on_dispatched is not None:
            try:
                self.on_dispatched(ticket, made)
            except Exception:  # a notification's trouble is its own: the dispatch stands
                log.exception("dispatch notifications not started", extra={"ticket": number})
        return made

    async def change(self, assignment_id: int, status: object, note: object, actor: Actor) -> Assignment:
        """The assignment moved to `status` (IllegalMove names from and to). A responder sees
        and moves only their agency's (another's is NotFound, as if it did not exist), and
        never reopens."""
        if status not in STATUSES:
            raise BadRequest(f"status: one of {', '.join(STATUSES)}")
        assert isinstance(status, str)
        text = clean_note(note, status)
        current = await self._visible(assignment_id, actor)
        if actor.role == RESPONDER and status not in RESPONDER_MOVES:
            raise NotAllowed(f"a responder does not make an assignment {status}: "
                             "a reopen is the supervisor's or the call taker's")
        now = self.clock.now()
        async with self.stores.begin() as tx:
            ticket = await self._ticket(current.ticket_number, tx)
            changed = moved(current, status, now, self.rules.sla_for(ticket.category))
            if not await self.stores.assignments.move(changed, current.status, tx):
                raise Conflict(f"{current.agency}'s assignment changed meanwhile: reload it and try again")
            await self._event(changed, current.status, text, actor, now, tx)
            follows = await self._follow(ticket, now, tx)
            await self.stores.audit.add(AuditEntry(now, actor.name, "assignment.status",
                                                   f"{current.ticket_number}/{current.agency}", {
                                                       "assignment": current.id, "from": current.status,
                                                       "to": status, "ticket_status": follows,
                                                       "device": actor.device}, actor.peer), tx)
        if self.on_changed is not None:
            try:
                self.on_changed(changed, current.status, actor)
            except Exception:  # a notification's trouble is its own: the move stands
                log.exception("move notifications not started", extra={"assignment": current.id})
        return changed

    async def visible(self, actor: Actor, status: str | None = None) -> list[Assignment]:
        """The assignments `actor` may see, newest first: a responder's agency's, or all; `open`:
        those not yet selesai or ditolak."""
        if status == OPEN:
            found = [a for s in OPEN_STATUSES for a in await self.visible(actor, s)]
            return sorted(found, key=lambda a: a.id, reverse=True)
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status: one of {', '.join(STATUSES)}, or {OPEN}")
        if actor.role == RESPONDER:
            return await self.stores.assignments.find(status, actor.agency or "-") if actor.agency else []
        return await self.stores.assignments.find(status)

    async def last_moves(self, found: list[Assignment]) -> dict[int, AssignmentEvent]:
        """Each assignment's last event: who moved it last, and why (a refusal's reason)."""
        return {e.assignment_id: e for e in await self.stores.assignments.events_of([a.id for a in found])}

    async def briefed(self, actor: Actor, status: str | None = None) -> list[tuple[Assignment, dict[str, Any]]]:
        """A responder's own agency's assignments (as `visible`), each with what they need of its
        ticket (TICKET_BRIEF): the responder's page reads no ticket API, and sees no other agency's."""
        if actor.role != RESPONDER or not actor.agency:
            raise NotAllowed("the ticket's brief is for an agency's responder")
        found = [a for a in await self.visible(actor, status) if a.agency == actor.agency]
        briefs: dict[str, dict[str, Any]] = {}
        for number in dict.fromkeys(a.ticket_number for a in found):
            ticket = await self.stores.tickets.by_number(number)
            data = ticket.to_json() if ticket else {"number": number}
            briefs[number] = {k: data.get(k) for k in TICKET_BRIEF}
        return [(a, briefs[a.ticket_number]) for a in found]

    async def timeline(self, ticket_id: int) -> list[dict[str, Any]]:
        """A ticket's assignments, each with its events in order (for the ticket's JSON)."""
        assignments = await self.stores.assignments.of_ticket(ticket_id)
        events = await self.stores.assignments.events_of([a.id for a in assignments])
        return [{**a.to_json(), "events": [e.to_json() for e in events if e.assignment_id == a.id]}
                for a in assignments]

    def _agencies(self, agencies: object) -> tuple[str, ...]:
        if not isinstance(agencies, list) or not agencies or not all(isinstance(c, str) for c in agencies):
            raise BadRequest("agencies: a non-empty list of agency codes, e.g. [\"DAMKAR\", \"PDAM\"]")
        unknown = [c for c in agencies if c not in self.rules.agencies]
        if unknown:
            raise BadRequest(f"agencies: unknown agency {unknown[0]!r}")
        if len(set(agencies)) != len(agencies) or len(agencies) > MAX_AGENCIES:
            raise BadRequest(f"agencies: each agency once, at most {MAX_AGENCIES}")
        return tuple(agencies)

    async def _ticket(self, number: str, tx: Tx = None) -> Ticket:
        ticket = await self.stores.tickets.by_number(number, tx)
        if ticket is None:
            raise NotFound(f"no ticket {number!r}")
        return ticket

    async def _visible(self, assignment_id: int, actor: Actor) -> Assignment:
        """Read before the change's transaction: a refusal's audit row must outlive its rollback;
        the change itself is conditional on the status read here (else Conflict)."""
        found = await self.stores.assignments.get(assignment_id)
        if found is not None and actor.role == RESPONDER and found.agency != actor.agency:
            # kept for the supervisor, answered as if it did not exist: no other agency's work leaks
            await self.stores.audit.add(AuditEntry(self.clock.now(), actor.name, "refused.not_yours",
                                                   f"assignment/{assignment_id}", {"agency": actor.agency},
                                                   actor.peer))
            found = None
        if found is None:
            raise NotFound(f"no assignment {assignment_id}")
        return found

    async def _event(self, assignment: Assignment, before: str | None, note: str, actor: Actor, at: datetime,
                     tx: Tx) -> None:
        await self.stores.assignments.add_event(AssignmentEvent(assignment.id, at, actor.name, before,
                                                                assignment.status, note, actor.peer,
                                                                actor.device), tx)

    async def _follow(self, ticket: Ticket, at: datetime, tx: Tx) -> str:
        """The ticket's status brought in line with its assignments' (ticket_status)."""
        status = ticket_status([a.status for a in await self.stores.assignments.of_ticket(ticket.id, tx)])
        if status is not None and status != ticket.status:
            await self.stores.tickets.change(ticket.number or "", {"status": status}, at, tx)
        return status or ticket.status

