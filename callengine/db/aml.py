"""AML reports as received."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select

from callengine.db.database import Database
from callengine.db.models import AmlRow


# built once, values bound at execution (building a statement costs more than running it)
_LOCATIONS = (select(AmlRow.location).where(AmlRow.number == bindparam("number"), AmlRow.received_at >= bindparam("since"),
                                            AmlRow.received_at <= bindparam("until")).order_by(AmlRow.id))


class AmlRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, number: str | None, channel: str, location: dict[str, Any] | None,
                  raw: dict[str, str], at: datetime) -> None:
        async with self.db.begin() as c:
            await c.execute(insert(AmlRow).values(number=number or "", channel=channel, received_at=at,
                                                  location=location or {}, raw=raw))

    async def locations(self, number: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        async with self.db.connect() as c:
            found = await c.execute(_LOCATIONS, {"number": number, "since": since, "until": until})
            return [loc for loc in found.scalars() if loc]

    async def latest_by_number(self, since: datetime) -> dict[str, datetime]:
        """Each number that sent a report since then, with its latest report's time."""
        query = (select(AmlRow.number, func.max(AmlRow.received_at)).where(AmlRow.received_at >= since)
                 .group_by(AmlRow.number))
        async with self.db.connect() as c:
            return {number: at for number, at in (await c.execute(query)).all() if number}
