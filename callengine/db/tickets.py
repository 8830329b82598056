"""Tickets."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from callengine.calls.record import CallRecord
from callengine.db.database import Database
from callengine.db.models import TicketCounterRow, TicketRow
from callengine.tickets.model import NEW, Ticket, TicketNumbers


class TicketRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open_for(self, record: CallRecord, at: datetime, numbers: TicketNumbers | None = None,
                       conn: AsyncConnection | None = None) -> Ticket:
        """The new ticket of a call just stored (in the caller's transaction, with its record),
        numbered from the day's sequence when `numbers` is given."""
        values: dict[str, object] = {"linkedid": record.linkedid, "status": NEW, "category": record.category,
                                     "caller": record.caller, "created_at": at}
        async with self.db.begin(conn) as c:
            if numbers is not None:
                day = numbers.day(at)
                values["number"] = numbers.number(day, await self._next(day, c))
            ticket_id = (await c.execute(insert(TicketRow).values(**values).returning(TicketRow.id))).scalar_one()
        return Ticket(id=ticket_id, **values)  # type: ignore[arg-type]

    async def _next(self, day: str, conn: AsyncConnection) -> int:
        """The day's next sequence number; the row lock (or SQLite's one writer) keeps it unique."""
        statement = self.db.insert(TicketCounterRow).values(day=day, last=1)
        statement = statement.on_conflict_do_update(index_elements=["day"],
                                                    set_={"last": TicketCounterRow.last + 1})
        return int((await conn.execute(statement.returning(TicketCounterRow.last))).scalar_one())

    async def newest(self, limit: int = 100) -> list[Ticket]:
        columns = (TicketRow.id, TicketRow.linkedid, TicketRow.status, TicketRow.category, TicketRow.caller,
                   TicketRow.created_at, TicketRow.number)
        query = select(*columns).order_by(TicketRow.id.desc()).limit(limit)
        async with self.db.connect() as c:
            return [Ticket(**row) for row in (await c.execute(query)).mappings().all()]

    async def set_legal_hold(self, linkedid: str, held: bool) -> bool:
        statement = update(TicketRow).where(TicketRow.linkedid == linkedid).values(legal_hold=held)
        async with self.db.begin() as c:
            return bool((await c.execute(statement)).rowcount)

    async def find(self, caller: str | None = None, since: datetime | None = None, status: str | None = None,
                   limit: int = 100) -> list[Ticket]:
        """Newest first, filtered by the caller's number, the opening time and the status."""
        query = select(*_COLUMNS).where(*_conditions(caller, since, status)).order_by(TicketRow.id.desc()).limit(limit)
        async with self.db.connect() as c:
            return [Ticket(**row) for row in (await c.execute(query)).mappings().all()]

    async def by_number(self, number: str) -> Ticket | None:
        async with self.db.connect() as c:
            row = (await c.execute(select(*_COLUMNS).where(TicketRow.number == number))).mappings().first()
        return Ticket(**row) if row else None


_COLUMNS = (TicketRow.id, TicketRow.linkedid, TicketRow.status, TicketRow.category, TicketRow.caller,
            TicketRow.created_at, TicketRow.number)


def _conditions(caller: str | None, since: datetime | None, status: str | None) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if caller:
        found.append(TicketRow.caller == caller)
    if since:
        found.append(TicketRow.created_at >= since)
    if status:
        found.append(TicketRow.status == status)
    return found
