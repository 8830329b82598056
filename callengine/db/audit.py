"""The audit: append-only (the database refuses UPDATE and DELETE on it, see migration 0007)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from callengine.accounts.model import AuditEntry
from callengine.db.database import Database
from callengine.db.models import AuditRow


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, entry: AuditEntry, conn: AsyncConnection | None = None) -> None:
        """Kept in the caller's transaction: the change and its audit row commit together."""
        async with self.db.begin(conn) as c:
            await c.execute(insert(AuditRow).values(at=entry.at, actor=entry.actor, action=entry.action,
                                                    target=entry.target, detail=entry.detail, peer=entry.peer))

    async def about(self, targets: Sequence[str], under: Sequence[str] = ()) -> list[AuditEntry]:
        """Oldest first: the rows whose target is one of `targets` or lies under one of `under`
        (a ticket's number: its assignments' rows are `<number>/<agency>`)."""
        wanted = or_(AuditRow.target.in_(targets),
                     *(AuditRow.target.startswith(f"{u}/", autoescape=True) for u in under))
        async with self.db.connect() as c:
            rows = (await c.execute(select(*_COLUMNS).where(wanted).order_by(AuditRow.id))).mappings()
            return [AuditEntry(**row) for row in rows]

    async def newest(self, limit: int, since: datetime | None = None, actor: str | None = None,
                     targets: Sequence[str] = (), under: Sequence[str] = ()) -> list[AuditEntry]:
        """Newest first: since a time, by one person, about some targets (or under them, as `about`)."""
        query = select(*_COLUMNS)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        if actor is not None:
            query = query.where(AuditRow.actor == actor)
        if targets or under:
            query = query.where(or_(AuditRow.target.in_(targets),
                                    *(AuditRow.target.startswith(f"{u}/", autoescape=True) for u in under)))
        async with self.db.connect() as c:
            rows = (await c.execute(query.order_by(AuditRow.id.desc()).limit(limit))).mappings()
            return [AuditEntry(**row) for row in rows]


_COLUMNS = (AuditRow.at, AuditRow.actor, AuditRow.action, AuditRow.target, AuditRow.detail, AuditRow.peer)
