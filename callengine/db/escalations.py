"""The SLA's view of the store: the assignments whose deadlines passed, the escalations (each
kept once: assignment, stage, level, deadline) and the notifications' delivery log."""
from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, insert, or_, select, update

from callengine.accounts.model import AuditEntry
from callengine.db.assignments import AssignmentRepository
from callengine.db.audit import AuditRepository
from callengine.db.database import Database
from callengine.db.models import AssignmentRow, EscalationRow, NotificationRow, TicketRow
from callengine.dispatch.model import ACCEPTED, FORWARDED, Assignment
from callengine.dispatch.sla import PENDING, Escalation, Notification
from callengine.notify.outbox import Outgoing, OutboxRow

_ESCALATION_COLUMNS = (EscalationRow.id, EscalationRow.assignment_id, EscalationRow.stage, EscalationRow.level,
                       EscalationRow.deadline, EscalationRow.raised_at, EscalationRow.delay_s, EscalationRow.notified,
                       TicketRow.number.label("ticket_number"), AssignmentRow.agency)
_NOTIFICATION_FIELDS = [f.name for f in fields(Notification)]


class SlaRepository(AssignmentRepository):
    """Assignments as the SLA watcher and its report read them, and what the watcher writes."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.audit = AuditRepository(db)

    async def overdue(self, now: datetime) -> list[Assignment]:
        """Those still waiting for a stage whose deadline has passed, oldest first."""
        return await self._where(None, or_(
            and_(AssignmentRow.status == FORWARDED, AssignmentRow.accept_by <= now),
            and_(AssignmentRow.status.in_((FORWARDED, ACCEPTED)), AssignmentRow.process_by <= now)))

    async def dispatched_between(self, start: datetime, end: datetime) -> list[Assignment]:
        return await self._where(None, AssignmentRow.dispatched_at >= start, AssignmentRow.dispatched_at < end)

    async def raised(self, assignment_ids: list[int]) -> list[Escalation]:
        """Their escalations, in the order they were raised."""
        if not assignment_ids:
            return []
        return await self._escalations(EscalationRow.assignment_id.in_(assignment_ids))

    async def recent_escalations(self, since: datetime) -> list[Escalation]:
        return await self._escalations(EscalationRow.raised_at >= since)

    async def waiting_escalations(self) -> list[tuple[Escalation, Assignment]]:
        """The escalations of assignments still waiting for a stage, each with its assignment."""
        waiting = await self._where(None, AssignmentRow.status.in_((FORWARDED, ACCEPTED)))
        by_id = {a.id: a for a in waiting}
        return [(e, by_id[e.assignment_id]) for e in await self.raised(list(by_id))]

    async def escalate(self, escalation: Escalation, notifications: list[Notification],
                       audit: AuditEntry) -> Escalation | None:
        """Stored with its delivery-log rows and its audit row in one transaction; None (and
        nothing written) when that escalation was raised already, by another round or process."""
        values = {k: v for k, v in asdict(escalation).items() if k not in ("id", "ticket_number", "agency")}
        values["notified"] = list(escalation.notified)
        statement = (self.db.insert(EscalationRow).values(**values)
                     .on_conflict_do_nothing(index_elements=["assignment_id", "stage", "level", "deadline"])
                     .returning(EscalationRow.id))
        async with self.db.begin() as c:
            new_id = (await c.execute(statement)).scalar_one_or_none()
            if new_id is None:
                return None
            if notifications:
                await c.execute(insert(NotificationRow), [
                    {**asdict(n), "assignment_id": escalation.assignment_id, "escalation_id": new_id}
                    for n in notifications])
            await self.audit.add(audit, c)
        return Escalation(**{**asdict(escalation), "id": new_id})

    async def notifications_of(self, escalation_ids: list[int]) -> list[tuple[int, Notification]]:
        """The delivery log of those escalations: (escalation id, row), in the order written."""
        query = (select(NotificationRow.escalation_id, *(getattr(NotificationRow, k) for k in _NOTIFICATION_FIELDS))
                 .where(NotificationRow.escalation_id.in_(escalation_ids)).order_by(NotificationRow.id))
        async with self.db.connect() as c:
            rows = (await c.execute(query)).mappings()
            return [(row["escalation_id"], Notification(**{k: row[k] for k in _NOTIFICATION_FIELDS})) for row in rows]

    async def deliveries(self, assignment_ids: list[int]) -> list[tuple[int, Notification]]:
        """Every channel's delivery-log rows of those assignments (dispatch, duty phone,
        escalation): (assignment id, row), in the order written."""
        if not assignment_ids:
            return []
        query = (select(NotificationRow.assignment_id, *(getattr(NotificationRow, k) for k in _NOTIFICATION_FIELDS))
                 .where(NotificationRow.assignment_id.in_(assignment_ids)).order_by(NotificationRow.id))
        async with self.db.connect() as c:
            rows = (await c.execute(query)).mappings()
            return [(row["assignment_id"], Notification(**{k: row[k] for k in _NOTIFICATION_FIELDS})) for row in rows]

    async def _escalations(self, *conditions: ColumnElement[bool]) -> list[Escalation]:
        query = (select(*_ESCALATION_COLUMNS).join(AssignmentRow, AssignmentRow.id == EscalationRow.assignment_id)
                 .join(TicketRow, TicketRow.id == AssignmentRow.ticket_id)
                 .where(*conditions).order_by(EscalationRow.raised_at, EscalationRow.id))
        async with self.db.connect() as c:
            return [Escalation(**{**row, "notified": tuple(row["notified"] or ())})
                    for row in (await c.execute(query)).mappings()]


class DeliveryLog:
    """One channel's rows of the delivery log (`notifications`) outside an escalation: the
    duty-phone calls of a dispatch (channel voice), one row per phone, updated per attempt."""

    def __init__(self, db: Database, channel: str) -> None:
        self.db = db
        self.channel = channel

    async def open(self, assignment_id: int, notification: Notification) -> int:
        statement = insert(NotificationRow).values(assignment_id=assignment_id, escalation_id=None,
                                                   **asdict(notification)).returning(NotificationRow.id)
        async with self.db.begin() as c:
            return int((await c.execute(statement)).scalar_one())

    async def update(self, row_id: int, status: str, attempts: int, last_error: str | None,
                     sent_at: datetime | None) -> None:
        async with self.db.begin() as c:
            await c.execute(update(NotificationRow).where(NotificationRow.id == row_id).values(
                status=status, attempts=attempts, last_error=(last_error or None) and last_error[:500],
                sent_at=sent_at))

    async def of_assignment(self, assignment_id: int) -> list[dict[str, Any]]:
        query = (select(*NotificationRow.__table__.columns)
                 .where(NotificationRow.assignment_id == assignment_id, NotificationRow.channel == self.channel)
                 .order_by(NotificationRow.id))
        async with self.db.connect() as c:
            return [dict(row) for row in (await c.execute(query)).mappings()]


class OutboxRepository(DeliveryLog):
    """The delivery log as the outbox's queue (notify/outbox.py): the written channels' rows,
    added pending in one transaction, read back oldest first per channel, updated per try."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, "")

    async def add(self, rows: list[Outgoing]) -> list[int]:
        statement = insert(NotificationRow).returning(NotificationRow.id)
        ids = []
        async with self.db.begin() as c:
            for row in rows:
                values = {**asdict(row.notification), "assignment_id": row.assignment_id,
                          "escalation_id": row.escalation_id}
                ids.append(int((await c.execute(statement.values(**values))).scalar_one()))
        return ids

    async def pending(self, channel: str, limit: int) -> list[OutboxRow]:
        query = (select(NotificationRow.id, NotificationRow.channel, NotificationRow.recipient,
                        NotificationRow.subject, NotificationRow.body, NotificationRow.attempts,
                        NotificationRow.assignment_id, NotificationRow.escalation_id)
                 .where(NotificationRow.channel == channel, NotificationRow.status == PENDING)
                 .order_by(NotificationRow.id).limit(limit))
        async with self.db.connect() as c:
            return [OutboxRow(**{**row, "attempts": row["attempts"] or 0}) for row in (await c.execute(query)).mappings()]
