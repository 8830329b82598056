"""The schema at start, as soon as the database answers. Until then the engine runs all the
same: the IVR and queue work, and records wait in the spool."""
from __future__ import annotations

import asyncio
import logging

from callengine.db.database import Database

log = logging.getLogger(__name__)
RETRY_S = 5.0
WAIT_AT_START_S = 10.0   # start waits this long for the schema, then goes on without it


class Migrator:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._migrate())
        await asyncio.wait([self.task], timeout=WAIT_AT_START_S)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.db.close()

    async def _migrate(self) -> None:
        while True:
            try:
                await self.db.migrate()
                self.ready.set()
                return
            except Exception as exc:  # driver errors vary by backend
                log.error("database unavailable at start (%s); call records go to the spool", exc)
                await asyncio.sleep(RETRY_S)  # wait-ok: a retry pace
