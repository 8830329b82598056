"""A finished call stored: its record and its ticket, in one transaction, once. An answered
call's ticket was opened at the answer (TicketOpener): the record attaches to it; a call nobody
answered gets its ticket here."""
from __future__ import annotations

from datetime import datetime, timezone

from callengine.calls.record import CallRecord
from callengine.db.calls import CallRepository
from callengine.db.database import Database
from callengine.db.tickets import TicketRepository
from callengine.tickets.model import Ticket, TicketNumbers


class CallRecords:
    def __init__(self, db: Database, numbers: TicketNumbers | None = None) -> None:
        self.db = db
        self.numbers = numbers
        self.calls, self.tickets = CallRepository(db), TicketRepository(db)

    async def save(self, record: CallRecord, at: datetime | None = None) -> Ticket | None:
        """The call's ticket (opened at answer, or now); None when the call was stored already
        (a replay is a no-op). A ticket the taker classified prank before the hangup marks its call."""
        async with self.db.begin() as conn:
            if not await self.calls.add(record, conn):
                return None
            ticket = await self.tickets.attach(record, conn)
            if ticket is None:
                return await self.tickets.open_for(record, at or datetime.now(timezone.utc), self.numbers, conn)
            if ticket.classification == "prank":
                await self.calls.mark_prank(record.linkedid, True, conn)
            return ticket

    async def open_at_answer(self, linkedid: str, caller: str | None, category: str | None, taker: str,
                             at: datetime) -> Ticket | None:
        """The ticket of a call just answered; None when it has one already."""
        return await self.tickets.open_at_answer(linkedid, caller, category, taker, at, self.numbers)
