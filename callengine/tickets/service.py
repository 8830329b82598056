"""The desk writes a ticket: the taker's form and the wrap-up, each change with its audit row
(and, for a prank classification, the call's prank mark) in one transaction."""
from __future__ import annotations

from typing import Any

from callengine.accounts.model import AuditEntry
from callengine.core.clock import Clock
from callengine.db.audit import AuditRepository
from callengine.db.calls import CallRepository
from callengine.db.database import Database
from callengine.db.tickets import TicketRepository
from callengine.tickets.desk import DeskOptions, FormError, validate
from callengine.tickets.model import Ticket

ANY_TICKET = ("supervisor",)   # call takers write only the tickets they answered, or unassigned ones


class NoTicket(LookupError):
    pass


class NotYours(PermissionError):
    pass


class TicketDesk:
    def __init__(self, db: Database, options: DeskOptions, clock: Clock) -> None:
        self.db, self.options, self.clock = db, options, clock
        self.tickets, self.calls, self.audit = TicketRepository(db), CallRepository(db), AuditRepository(db)

    async def write(self, number: str, data: dict[str, Any], actor: str, role: str, peer: str | None) -> Ticket:
        """The form's fields written (FormError names a refused one); a ticket classified
        prank marks its call as `callengine calls mark-prank` does (at hangup if the call is
        still going), and unmarks it when classified otherwise."""
        now = self.clock.now()
        ticket = await self._writable(number, actor, role, peer, "tickets.update")
        values = validate(data, ticket, self.options)
        async with self.db.begin() as conn:
            duplicate = values.get("duplicate_of")
            if duplicate is not None and await self.tickets.by_number(duplicate, conn) is None:
                raise FormError("duplicate_of", f"no ticket {duplicate!r}")
            changed = await self.tickets.change(number, values, now, conn)
            if "classification" in values and (ticket.classification == "prank") != (values["classification"] == "prank"):
                await self.calls.mark_prank(ticket.linkedid, values["classification"] == "prank", conn)
            await self.audit.add(AuditEntry(now, actor, "tickets.update", number, {"fields": sorted(values)}, peer),
                                 conn)
        assert changed is not None
        return changed

    async def wrap_up(self, number: str, actor: str, role: str, peer: str | None) -> Ticket:
        """The taker is done with the ticket after the call: it leaves their desk."""
        now = self.clock.now()
        await self._writable(number, actor, role, peer, "tickets.wrapup")
        async with self.db.begin() as conn:
            changed = await self.tickets.change(number, {"wrapped_up_at": now}, now, conn)
            await self.audit.add(AuditEntry(now, actor, "tickets.wrapup", number, {}, peer), conn)
        assert changed is not None
        return changed

    async def reassign(self, number: str, taker: str, reason: str, actor: str, peer: str | None) -> Ticket:
        """A supervisor hands an unfinished ticket to another call taker (its taker went off shift,
        or is needed on the phones): it leaves one desk for the other, with the reason kept."""
        now = self.clock.now()
        ticket = await self.tickets.by_number(number)
        if ticket is None:
            raise NoTicket(number)
        if ticket.wrapped_up_at is not None:
            raise FormError(f"ticket {number} is finished: there is nothing left to hand over")
        if not reason.strip():
            raise FormError("reason: say why the ticket changes hands")
        async with self.db.begin() as conn:
            changed = await self.tickets.change(number, {"taker": taker}, now, conn)
            await self.audit.add(AuditEntry(now, actor, "tickets.reassign", number, {
                "from": ticket.taker, "to": taker, "reason": reason.strip()[:500]}, peer), conn)
        assert changed is not None
        return changed

    async def _writable(self, number: str, actor: str, role: str, peer: str | None, action: str) -> Ticket:
        ticket = await self.tickets.by_number(number)
        if ticket is None:
            raise NoTicket(number)
        if role not in ANY_TICKET and ticket.taker not in (None, actor):
            await self.audit.add(AuditEntry(self.clock.now(), actor, "refused.not_yours", number,
                                            {"action": action, "taker": ticket.taker}, peer))
            raise NotYours(f"ticket {number} is {ticket.taker}'s")
        return ticket
