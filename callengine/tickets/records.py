"""A finished call stored: its record and its new ticket, in one transaction, once."""
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
        """The new ticket; None when the call was stored already (a replay is a no-op)."""
        async with self.db.begin() as conn:
            if not await self.calls.add(record, conn):
                return None
            return await self.tickets.open_for(record, at or datetime.now(timezone.utc), self.numbers, conn)
