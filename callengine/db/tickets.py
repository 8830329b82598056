"""Tickets."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from callengine.calls.record import CallRecord
from callengine.db.database import Database
from callengine.db.models import TicketRow
from callengine.tickets.model import NEW, Ticket


class TicketRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open_for(self, record: CallRecord, at: datetime, conn: AsyncConnection | None = None) -> Ticket:
        """The new ticket of a call just stored (in the caller's transaction, with its record)."""
        values = {"linkedid": record.linkedid, "status": NEW, "category": record.category,
                  "caller": record.caller, "created_at": at}
        async with self.db.begin(conn) as c:
            ticket_id = (await c.execute(insert(TicketRow).values(**values).returning(TicketRow.id))).scalar_one()
        return Ticket(id=ticket_id, **values)

    async def newest(self, limit: int = 100) -> list[Ticket]:
        columns = (TicketRow.id, TicketRow.linkedid, TicketRow.status, TicketRow.category, TicketRow.caller,
                   TicketRow.created_at)
        query = select(*columns).order_by(TicketRow.id.desc()).limit(limit)
        async with self.db.connect() as c:
            return [Ticket(**row) for row in (await c.execute(query)).mappings().all()]

    async def set_legal_hold(self, linkedid: str, held: bool) -> bool:
        statement = update(TicketRow).where(TicketRow.linkedid == linkedid).values(legal_hold=held)
        async with self.db.begin() as c:
            return bool((await c.execute(statement)).rowcount)
