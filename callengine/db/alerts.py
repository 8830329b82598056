"""Alerts for supervisors and the pauses of call takers."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Update, func, insert, select, update

from callengine.db.database import Database
from callengine.db.models import AlertRow, PauseRow


class AlertRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, at: datetime, kind: str, message: str) -> None:
        async with self.db.begin() as c:
            await c.execute(insert(AlertRow).values(at=at, kind=kind, message=message[:500]))

    async def since(self, since: datetime) -> list[dict[str, object]]:
        query = select(AlertRow.at, AlertRow.kind, AlertRow.message).where(AlertRow.at >= since).order_by(AlertRow.at)
        async with self.db.connect() as c:
            return [dict(row) for row in (await c.execute(query)).mappings()]


class PauseRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, account: str, reason: str, by: str, at: datetime) -> None:
        """Close any open pause of the account (a new reason replaces the old) and open this one."""
        async with self.db.begin() as c:
            await c.execute(_close(account, by, at))
            await c.execute(insert(PauseRow).values(account=account, reason=reason, paused_by=by, started_at=at))

    async def end(self, account: str, by: str, at: datetime) -> bool:
        async with self.db.begin() as c:
            return bool((await c.execute(_close(account, by, at))).rowcount)

    async def open_since(self) -> dict[str, datetime]:
        """Each paused account's current pause start (pauses not ended)."""
        query = select(PauseRow.account, func.max(PauseRow.started_at)).where(PauseRow.ended_at.is_(None)) \
            .group_by(PauseRow.account)
        async with self.db.connect() as c:
            return {row[0]: row[1] for row in await c.execute(query)}

    async def of(self, account: str) -> list[dict[str, object]]:
        columns = (PauseRow.account, PauseRow.reason, PauseRow.paused_by, PauseRow.started_at, PauseRow.ended_at,
                   PauseRow.ended_by)
        query = select(*columns).where(PauseRow.account == account).order_by(PauseRow.id)
        async with self.db.connect() as c:
            return [dict(row) for row in (await c.execute(query)).mappings()]


def _close(account: str, by: str, at: datetime) -> Update:
    return (update(PauseRow).where(PauseRow.account == account, PauseRow.ended_at.is_(None))
            .values(ended_at=at, ended_by=by))
