"""What a report reads, for the calls started, tickets opened, assignments dispatched and ratings
given within [start, end): the call records (CallRepository.between), the assignments as the SLA
book reads them (SlaRepository), the newest QA scores (ScoreRepository.latest), the tickets and
ratings; and whether a daily summary was already written to the delivery log."""
from __future__ import annotations

from dataclasses import fields
from datetime import datetime

from sqlalchemy import exists, select

from callengine.calls.record import CallRecord
from callengine.db.calls import CallRepository
from callengine.db.database import Database
from callengine.db.escalations import SlaRepository
from callengine.db.models import NotificationRow, RatingRow, TicketRow
from callengine.db.scores import ScoreRepository
from callengine.dispatch.model import Assignment
from callengine.qa.averages import Latest
from callengine.rating.service import Rating
from callengine.tickets.model import Ticket

_TICKET = [getattr(TicketRow, f.name) for f in fields(Ticket)]
_RATING = [getattr(RatingRow, f.name) for f in fields(Rating)]


class ReportRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.call_records, self.sla, self.scores = CallRepository(db), SlaRepository(db), ScoreRepository(db)

    async def calls(self, start: datetime, end: datetime) -> list[CallRecord]:
        return await self.call_records.between(start, end)

    async def assignments(self, start: datetime, end: datetime) -> list[Assignment]:
        return await self.sla.dispatched_between(start, end)

    async def qa_scores(self, start: datetime, end: datetime) -> Latest:
        return await self.scores.latest(start, end)

    async def tickets(self, start: datetime, end: datetime) -> list[Ticket]:
        query = (select(*_TICKET).where(TicketRow.created_at >= start, TicketRow.created_at < end)
                 .order_by(TicketRow.created_at, TicketRow.id))
        async with self.db.connect() as c:
            return [Ticket(**row) for row in (await c.execute(query)).mappings()]

    async def ratings(self, start: datetime, end: datetime) -> list[Rating]:
        query = select(*_RATING).where(RatingRow.at >= start, RatingRow.at < end).order_by(RatingRow.at, RatingRow.id)
        async with self.db.connect() as c:
            return [Rating(**row) for row in (await c.execute(query)).mappings()]

    async def written(self, channel: str, subject: str) -> bool:
        """Whether a message with this subject is in the delivery log (pending, sent or failed)."""
        query = select(exists().where(NotificationRow.channel == channel, NotificationRow.subject == subject))
        async with self.db.connect() as c:
            return bool((await c.execute(query)).scalar_one())
