"""The citizen's ratings and the requests for them (the call back's schedule, one-time links)."""
from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime, timezone

from sqlalchemy import ColumnElement, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from callengine.db.database import Database
from callengine.db.models import AssignmentRow, RatingRequestRow, RatingRow, TicketRow
from callengine.rating.service import CALLING, LINK, OPEN, PENDING, USED, VOICE, Closed, Rating, RatingRequest

_REQUEST = [getattr(RatingRequestRow, f.name) for f in fields(RatingRequest) if f.name != "ticket_number"]
_RATING = [getattr(RatingRow, f.name) for f in fields(Rating)]
DONE = "selesai"


class RatingRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def closed_unscheduled(self, since: datetime) -> list[Closed]:
        """Tickets selesai (their last assignment closed since `since`) with no call back yet."""
        closed_at = func.max(AssignmentRow.closed_at)
        scheduled = exists().where(RatingRequestRow.ticket_id == TicketRow.id, RatingRequestRow.kind == VOICE)
        query = (select(TicketRow.id, TicketRow.number, TicketRow.caller, TicketRow.callback_number,
                        closed_at.label("closed_at"))
                 .join(AssignmentRow, AssignmentRow.ticket_id == TicketRow.id)
                 .where(TicketRow.status == DONE, AssignmentRow.status == DONE, ~scheduled)
                 .group_by(TicketRow.id, TicketRow.number, TicketRow.caller, TicketRow.callback_number)
                 .having(closed_at >= since).order_by(TicketRow.id))
        async with self.db.connect() as c:
            rows = (await c.execute(query)).all()
        return [Closed(r.id, r.number or "", r.caller, r.callback_number, _utc(r.closed_at)) for r in rows]

    async def add_request(self, request: RatingRequest) -> int:
        values = {k: v for k, v in asdict(request).items() if k not in ("id", "ticket_number")}
        async with self.db.begin() as c:
            return (await c.execute(insert(RatingRequestRow).values(**values)
                                    .returning(RatingRequestRow.id))).scalar_one()

    async def due(self, now: datetime) -> list[RatingRequest]:
        return await self._requests(RatingRequestRow.kind == VOICE, RatingRequestRow.status == PENDING,
                                    RatingRequestRow.next_at <= now)

    async def claim(self, request_id: int, now: datetime) -> bool:
        """pending → calling, one try more; False when another round took it."""
        statement = (update(RatingRequestRow)
                     .where(RatingRequestRow.id == request_id, RatingRequestRow.status == PENDING)
                     .values(status=CALLING, tries=RatingRequestRow.tries + 1, updated_at=now))
        async with self.db.begin() as c:
            return bool((await c.execute(statement)).rowcount)

    async def settle(self, request_id: int, status: str, next_at: datetime | None, last_error: str | None,
                     now: datetime) -> None:
        statement = (update(RatingRequestRow).where(RatingRequestRow.id == request_id)
                     .values(status=status, next_at=next_at, last_error=(last_error or "")[:500] or None,
                             updated_at=now))
        async with self.db.begin() as c:
            await c.execute(statement)

    async def unstick(self, now: datetime) -> int:
        """Calls left `calling` by a console that stopped: due again (their try counted)."""
        statement = (update(RatingRequestRow)
                     .where(RatingRequestRow.kind == VOICE, RatingRequestRow.status == CALLING)
                     .values(status=PENDING, next_at=now, updated_at=now))
        async with self.db.begin() as c:
            return int((await c.execute(statement)).rowcount)

    async def ticket_status(self, ticket_id: int) -> str | None:
        async with self.db.connect() as c:
            return (await c.execute(select(TicketRow.status).where(TicketRow.id == ticket_id))).scalar_one_or_none()

    async def ticket_id(self, number: str) -> int | None:
        async with self.db.connect() as c:
            return (await c.execute(select(TicketRow.id).where(TicketRow.number == number))).scalar_one_or_none()

    async def rate(self, rating: Rating) -> bool:
        """The ticket's rating, once: False when it had one."""
        try:
            async with self.db.begin() as c:
                await c.execute(insert(RatingRow).values(**asdict(rating)))
        except IntegrityError:
            return False
        return True

    async def rating_of(self, ticket_id: int) -> Rating | None:
        async with self.db.connect() as c:
            row = (await c.execute(select(*_RATING).where(RatingRow.ticket_id == ticket_id))).mappings().first()
        return Rating(**{**row, "at": _utc(row["at"])}) if row else None

    async def requests_of(self, ticket_id: int) -> list[RatingRequest]:
        return await self._requests(RatingRequestRow.ticket_id == ticket_id)

    async def link(self, token_hash: str) -> RatingRequest | None:
        found = await self._requests(RatingRequestRow.kind == LINK, RatingRequestRow.token_hash == token_hash)
        return found[0] if found else None

    async def use_link(self, request_id: int, rating: Rating, now: datetime) -> bool:
        """The link used and the rating stored, in one transaction; False when the link was used
        (or the ticket rated) meanwhile."""
        try:
            async with self.db.begin() as c:
                used = await c.execute(update(RatingRequestRow)
                                       .where(RatingRequestRow.id == request_id, RatingRequestRow.status == OPEN)
                                       .values(status=USED, updated_at=now))
                if not used.rowcount:
                    return False
                await c.execute(insert(RatingRow).values(**asdict(rating)))
        except IntegrityError:
            return False
        return True

    async def _requests(self, *conditions: ColumnElement[bool]) -> list[RatingRequest]:
        query = (select(*_REQUEST, TicketRow.number.label("ticket_number"))
                 .join(TicketRow, TicketRow.id == RatingRequestRow.ticket_id)
                 .where(*conditions).order_by(RatingRequestRow.id))
        async with self.db.connect() as c:
            rows = (await c.execute(query)).mappings().all()
        return [RatingRequest(**{k: (_utc(v) if isinstance(v, datetime) else v) for k, v in row.items()})
                for row in rows]


def _utc(moment: datetime) -> datetime:
    """Aware UTC (the columns come back so; an aggregate over them on SQLite may come back naive)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
