"""Assignments (a ticket dispatched to one agency) and their timeline events."""
from __future__ import annotations

from dataclasses import asdict, fields, replace

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from callengine.db.database import Database
from callengine.db.models import AssignmentEventRow, AssignmentRow, TicketRow
from callengine.dispatch.model import Assignment, AssignmentEvent, Conflict

_STORED = [f.name for f in fields(Assignment) if f.name not in ("id", "ticket_number")]
_COLUMNS = (AssignmentRow.id, *(getattr(AssignmentRow, name) for name in _STORED),
            TicketRow.number.label("ticket_number"))
_EVENT_COLUMNS = [getattr(AssignmentEventRow, f.name) for f in fields(AssignmentEvent)]
_CHANGING = ("status", "dispatched_at", "accept_by", "process_by", "accepted_at", "processing_at", "closed_at",
             "updated_at")


class AssignmentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, assignment: Assignment, conn: AsyncConnection | None = None) -> Assignment:
        """Stored (in the caller's transaction, with its dispatch's event and audit row); with its id."""
        values = {name: getattr(assignment, name) for name in _STORED}
        try:
            async with self.db.begin(conn) as c:
                statement = insert(AssignmentRow).values(**values).returning(AssignmentRow.id)
                new_id = (await c.execute(statement)).scalar_one()
        except IntegrityError:   # one assignment per agency and ticket: a simultaneous dispatch won
            raise Conflict(f"{assignment.ticket_number or 'the ticket'} was dispatched to {assignment.agency} "
                           "meanwhile: reload it") from None
        return replace(assignment, id=new_id)

    async def move(self, changed: Assignment, from_status: str, conn: AsyncConnection | None = None) -> bool:
        """`changed` written only if the row is still `from_status`: of two people moving it at
        once, one wins and the other is told (False)."""
        statement = (update(AssignmentRow)
                     .where(AssignmentRow.id == changed.id, AssignmentRow.status == from_status)
                     .values(**{name: getattr(changed, name) for name in _CHANGING}))
        async with self.db.begin(conn) as c:
            return bool((await c.execute(statement)).rowcount)

    async def get(self, assignment_id: int, conn: AsyncConnection | None = None) -> Assignment | None:
        found = await self._where(conn, AssignmentRow.id == assignment_id)
        return found[0] if found else None

    async def of_ticket(self, ticket_id: int, conn: AsyncConnection | None = None) -> list[Assignment]:
        """In the order they were dispatched."""
        return await self._where(conn, AssignmentRow.ticket_id == ticket_id)

    async def find(self, status: str | None = None, agency: str | None = None,
                   limit: int = 500) -> list[Assignment]:
        """Newest first, filtered by status and agency."""
        conditions: list[ColumnElement[bool]] = []
        if status:
            conditions.append(AssignmentRow.status == status)
        if agency:
            conditions.append(AssignmentRow.agency == agency)
        return await self._where(None, *conditions, newest_first=True, limit=limit)

    async def add_event(self, event: AssignmentEvent, conn: AsyncConnection | None = None) -> None:
        async with self.db.begin(conn) as c:
            await c.execute(insert(AssignmentEventRow).values(**asdict(event)))

    async def events_of(self, assignment_ids: list[int]) -> list[AssignmentEvent]:
        """Their events in the order they happened."""
        if not assignment_ids:
            return []
        query = (select(*_EVENT_COLUMNS).where(AssignmentEventRow.assignment_id.in_(assignment_ids))
                 .order_by(AssignmentEventRow.at, AssignmentEventRow.id))
        async with self.db.connect() as c:
            return [AssignmentEvent(**row) for row in (await c.execute(query)).mappings()]

    async def _where(self, conn: AsyncConnection | None, *conditions: ColumnElement[bool],
                     newest_first: bool = False, limit: int | None = None) -> list[Assignment]:
        order = AssignmentRow.id.desc() if newest_first else AssignmentRow.id
        query = (select(*_COLUMNS).join(TicketRow, TicketRow.id == AssignmentRow.ticket_id)
                 .where(*conditions).order_by(order).limit(limit))
        async with self.db.connect(conn) as c:
            return [Assignment(**row) for row in (await c.execute(query)).mappings()]
