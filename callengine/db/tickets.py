"""Tickets."""
from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from callengine.calls.record import CallRecord
from callengine.db.database import Database
from callengine.db.models import TicketCounterRow, TicketRow
from callengine.tickets.model import NEW, Ticket, TicketNumbers


class TicketRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        # the statements of every call, built once with their values bound at execution
        tickets, counters = TicketRow.__table__, TicketCounterRow.__table__
        self._insert = insert(tickets).returning(tickets.c.id)
        self._insert_once = db.insert(tickets).on_conflict_do_nothing(index_elements=["linkedid"]).returning(tickets.c.id)
        self._next_number = (db.insert(counters).values(day=bindparam("day"), last=1)
                             .on_conflict_do_update(index_elements=["day"], set_={"last": counters.c.last + 1})
                             .returning(counters.c.last))
        self._fill = update(tickets).where(tickets.c.id == bindparam("ticket_id"))
        self._of_call = select(*_COLUMNS).where(TicketRow.linkedid == bindparam("call"))

    async def open_for(self, record: CallRecord, at: datetime, numbers: TicketNumbers | None = None,
                       conn: AsyncConnection | None = None) -> Ticket:
        """The new ticket of a call just stored (in the caller's transaction, with its record),
        numbered from the day's sequence when `numbers` is given."""
        values: dict[str, object] = {"linkedid": record.linkedid, "status": NEW, "category": record.category,
                                     "caller": record.caller, "created_at": at, "taker": record.agent,
                                     "answered_at": record.answered_at}
        async with self.db.begin(conn) as c:
            if numbers is not None:
                day = numbers.day(at)
                values["number"] = numbers.number(day, await self._next(day, c))
            ticket_id = (await c.execute(self._insert, values)).scalar_one()
        return Ticket(id=ticket_id, **values)  # type: ignore[arg-type]

    async def open_at_answer(self, linkedid: str, caller: str | None, category: str | None, taker: str,
                             at: datetime, numbers: TicketNumbers | None = None,
                             conn: AsyncConnection | None = None) -> Ticket | None:
        """The ticket of a call a call taker just answered, before its record exists; None when
        the call has one already (answered again after a transfer, or its record came first)."""
        values: dict[str, object] = {"linkedid": linkedid, "status": NEW, "category": category, "caller": caller,
                                     "created_at": at, "taker": taker or None, "answered_at": at}
        async with self.db.begin(conn) as c:
            if await self._of(linkedid, c) is not None:
                return None
            if numbers is not None:
                day = numbers.day(at)
                values["number"] = numbers.number(day, await self._next(day, c))
            ticket_id = (await c.execute(self._insert_once, values)).scalar_one_or_none()
        return None if ticket_id is None else Ticket(id=ticket_id, **values)  # type: ignore[arg-type]

    async def attach(self, record: CallRecord, conn: AsyncConnection | None = None) -> Ticket | None:
        """The ticket opened at answer for this call, now that its record is stored (in the
        record's transaction): what the IVR learned fills what the answer did not know; None
        when the call has no ticket yet."""
        async with self.db.begin(conn) as c:
            ticket = await self._of(record.linkedid, c)
            if ticket is None:
                return None
            known = {"caller": ticket.caller or record.caller, "category": ticket.category or record.category,
                     "taker": ticket.taker or record.agent, "answered_at": ticket.answered_at or record.answered_at}
            await c.execute(self._fill, {**known, "ticket_id": ticket.id})
        return replace(ticket, **known)

    async def change(self, number: str, values: dict[str, Any], at: datetime,
                     conn: AsyncConnection | None = None) -> Ticket | None:
        """The desk's form written into the ticket (`values`: FORM_FIELDS, wrapped_up_at, taker)."""
        async with self.db.begin(conn) as c:
            done = await c.execute(update(TicketRow).where(TicketRow.number == number).values(**values, updated_at=at))
            return await self._by(TicketRow.number == number, c) if done.rowcount else None

    async def _of(self, linkedid: str, conn: AsyncConnection) -> Ticket | None:
        row = (await conn.execute(self._of_call, {"call": linkedid})).mappings().first()
        return Ticket(**row) if row else None

    async def _by(self, condition: ColumnElement[bool], conn: AsyncConnection) -> Ticket | None:
        row = (await conn.execute(select(*_COLUMNS).where(condition))).mappings().first()
        return Ticket(**row) if row else None

    async def _next(self, day: str, conn: AsyncConnection) -> int:
        """The day's next sequence number; the row lock (or SQLite's one writer) keeps it unique."""
        return int((await conn.execute(self._next_number, {"day": day})).scalar_one())

    async def newest(self, limit: int = 100) -> list[Ticket]:
        query = select(*_COLUMNS).order_by(TicketRow.id.desc()).limit(limit)
        async with self.db.connect() as c:
            return [Ticket(**row) for row in (await c.execute(query)).mappings().all()]

    async def set_legal_hold(self, linkedid: str, held: bool, conn: AsyncConnection | None = None) -> Ticket | None:
        """The call's ticket, held or released; None when the call has no ticket."""
        statement = update(TicketRow).where(TicketRow.linkedid == linkedid).values(legal_hold=held)
        async with self.db.begin(conn) as c:
            done = await c.execute(statement)
            return await self._by(TicketRow.linkedid == linkedid, c) if done.rowcount else None

    async def find(self, caller: str | None = None, since: datetime | None = None, status: str | None = None,
                   limit: int = 100, linkedid: str | None = None) -> list[Ticket]:
        """Newest first, filtered by the caller's number, the opening time, the status and the call."""
        conditions = _conditions(caller, since, status)
        if linkedid:
            conditions.append(TicketRow.linkedid == linkedid)
        query = select(*_COLUMNS).where(*conditions).order_by(TicketRow.id.desc()).limit(limit)
        async with self.db.connect() as c:
            return [Ticket(**row) for row in (await c.execute(query)).mappings().all()]

    async def by_number(self, number: str, conn: AsyncConnection | None = None) -> Ticket | None:
        async with self.db.connect(conn) as c:
            return await self._by(TicketRow.number == number, c)

    async def by_linkedid(self, linkedid: str) -> Ticket | None:
        async with self.db.connect() as c:
            return await self._by(TicketRow.linkedid == linkedid, c)


_COLUMNS = tuple(getattr(TicketRow, f.name) for f in fields(Ticket))


def _conditions(caller: str | None, since: datetime | None, status: str | None) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if caller:
        found.append(TicketRow.caller == caller)
    if since:
        found.append(TicketRow.created_at >= since)
    if status:
        found.append(TicketRow.status == status)
    return found
