"""The cell tower table (OpenCelliD)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from callengine.db.database import Database
from callengine.db.models import cells

KEY = ("radio", "mcc", "net", "area", "cell")
COLUMNS = tuple(c.name for c in cells.columns)   # the order of an upserted row's values


class CellRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._upsert_sql: str | None = None

    async def upsert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows in COLUMNS order, written or replaced by key, in one transaction."""
        async with self.db.begin() as c:
            await c.exec_driver_sql(self._sql(), list(rows))

    async def find(self, radio: str, mcc: int, net: int, area: int, cell: int) -> Mapping[str, Any] | None:
        query = select(cells).where(cells.c.radio == radio, cells.c.mcc == mcc, cells.c.net == net,
                                    cells.c.area == area, cells.c.cell == cell)
        async with self.db.connect() as c:
            return (await c.execute(query)).mappings().first()

    def _sql(self) -> str:
        """The upsert compiled once for the driver's executemany (SQLAlchemy's per-row work
        costs a third more time)."""
        if self._upsert_sql is None:
            statement = self.db.insert(cells)
            statement = statement.on_conflict_do_update(
                index_elements=list(KEY), set_={n: statement.excluded[n] for n in COLUMNS if n not in KEY})
            compiled = statement.compile(dialect=self.db.engine.dialect)
            if list(compiled.positiontup or []) != list(COLUMNS):   # rows are tuples in table column order
                raise ValueError(f"{self.db.dialect}: unexpected parameter order {compiled.positiontup}")
            self._upsert_sql = str(compiled)
        return self._upsert_sql
