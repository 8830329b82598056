"""Call-backs: a row each, written when placed and finished once with its outcome."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, fields
from datetime import datetime

from sqlalchemy import ColumnElement, insert, select, update

from callengine.calls.callback import Callback, Outcome, UnknownCall
from callengine.db.database import Database
from callengine.db.models import CallbackRow, CallRow

_COLUMNS = [getattr(CallbackRow, f.name) for f in fields(Callback)]


class CallbackRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, callback: Callback) -> int:
        """Store a call-back being placed; its id. UnknownCall when the missed call it names
        has no record."""
        values = {k: v for k, v in asdict(callback).items() if k != "id"}
        async with self.db.begin() as c:
            if callback.for_linkedid is not None:
                known = select(CallRow.linkedid).where(CallRow.linkedid == callback.for_linkedid)
                if (await c.execute(known)).first() is None:
                    raise UnknownCall(f"no call {callback.for_linkedid!r} to call back")
            return (await c.execute(insert(CallbackRow).values(**values).returning(CallbackRow.id))).scalar_one()

    async def finish(self, linkedid: str, outcome: Outcome) -> bool:
        """Its outcome, written once: False when it was finished already (or is unknown)."""
        statement = (update(CallbackRow).where(CallbackRow.linkedid == linkedid, CallbackRow.outcome.is_(None))
                     .values(**asdict(outcome)))
        async with self.db.begin() as c:
            return bool((await c.execute(statement)).rowcount)

    async def get(self, linkedid: str) -> Callback | None:
        """The call-back whose own call (in Asterisk) is `linkedid`."""
        found = await self._where(CallbackRow.linkedid == linkedid)
        return found[0] if found else None

    async def unfinished(self, since: datetime) -> list[Callback]:
        """Call-backs placed since then whose outcome is not known yet, oldest first."""
        return await self._where(CallbackRow.outcome.is_(None), CallbackRow.placed_at >= since)

    async def for_calls(self, linkedids: Iterable[str]) -> list[Callback]:
        """The call-backs of these missed calls (a ticket's), oldest first."""
        wanted = list(linkedids)
        return await self._where(CallbackRow.for_linkedid.in_(wanted)) if wanted else []

    async def for_call(self, linkedid: str) -> list[Callback]:
        return await self.for_calls([linkedid])

    async def _where(self, *conditions: ColumnElement[bool]) -> list[Callback]:
        query = select(*_COLUMNS).where(*conditions).order_by(CallbackRow.placed_at, CallbackRow.id)
        async with self.db.connect() as c:
            return [Callback(**row) for row in (await c.execute(query)).mappings()]
