"""From finished call to stored record and ticket, losing nothing.

The writer takes records off the event path. When the database refuses one, the record goes
to an append-only spool on local disk (fsync'd JSON lines) and the writer moves on; a
replayer writes the spool back once the database answers again. Writes are idempotent on
Linkedid, so a record replayed twice (a crash between commit and spool cleanup) is stored once.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from callengine.calls.record import CallRecord
from callengine.db.database import Database
from callengine.tickets.events import TicketOpened
from callengine.tickets.model import TicketNumbers
from callengine.tickets.records import CallRecords

log = logging.getLogger(__name__)

Publish = Callable[[object], None]


class Spool:
    """Records the database could not take yet. `take` moves the file aside first, so records
    spooled while a replay runs land in a fresh file and are never truncated away."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.draining = path.with_suffix(".draining")
        self.rejected = path.with_suffix(".rejected")

    def append(self, record: CallRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def linkedids(self) -> set[str]:
        """Calls waiting here: a rebuild from CEL must not race their fuller records to the store."""
        found = set()
        for path in (self.path, self.draining):
            if path.exists():
                for line in path.read_text(encoding="utf-8").splitlines():
                    try:
                        found.add(json.loads(line)["linkedid"])
                    except (ValueError, KeyError, TypeError):
                        continue
        return found

    def reject(self, record: CallRecord) -> None:
        """A record the database answers but refuses (bad data): kept for a human, out of the way."""
        with self.rejected.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def pending(self) -> bool:
        return self.path.exists() or self.draining.exists()

    def take(self) -> list[CallRecord]:
        if not self.draining.exists():
            if not self.path.exists():
                return []
            self.path.rename(self.draining)
        records = []
        for number, line in enumerate(self.draining.read_text(encoding="utf-8").splitlines(), 1):
            try:
                records.append(CallRecord.from_json(json.loads(line)))
            except (ValueError, TypeError) as exc:   # a torn last line after a crash: keep it for a human
                log.error("spool line %d unreadable (%s); kept in %s", number, exc, self.rejected)
                with self.rejected.open("a", encoding="utf-8") as out:
                    out.write(line + "\n")
        return records

    def keep(self, records: list[CallRecord]) -> None:
        """A replay stopped halfway: the draining file becomes what is left, atomically."""
        partial = self.draining.with_suffix(".partial")
        with partial.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(self.draining)

    def done(self) -> None:
        self.draining.unlink(missing_ok=True)


class RecordWriter:
    def __init__(self, db: Database, spool: Spool, publish: Publish | None = None,
                 replay_every: float = 2.0, numbers: TicketNumbers | None = None) -> None:
        self.db = db
        self.records = CallRecords(db, numbers)
        self.spool = spool
        self.publish: Publish = publish or (lambda event: None)
        self.replay_every = replay_every
        self.queue: asyncio.Queue[CallRecord] = asyncio.Queue()
        self.queued: dict[str, int] = {}   # linkedid → records submitted and not yet written or spooled
        self.database_down = False   # once a write fails, records go straight to the spool until a replay works

    async def submit(self, record: CallRecord) -> None:
        self.queued[record.linkedid] = self.queued.get(record.linkedid, 0) + 1
        self.queue.put_nowait(record)

    def waiting(self) -> set[str]:
        """Linkedids queued, being written or spooled: their records are on their way."""
        return set(self.queued) | self.spool.linkedids()

    async def run(self) -> None:
        replayer = asyncio.create_task(self._replay_forever())
        try:
            while True:
                record = await self.queue.get()
                try:
                    await self._write(record)
                except asyncio.CancelledError:   # stopped mid-write: commit or not, the spool keeps it
                    self.spool.append(record)
                    raise
                finally:
                    self._done(record)
        finally:
            replayer.cancel()

    async def drain(self, timeout: float) -> None:
        """On shutdown: what the database has not taken in `timeout` goes to the spool."""
        try:
            async with asyncio.timeout(timeout):
                await self.queue.join()
        except TimeoutError:
            while not self.queue.empty():
                record = self.queue.get_nowait()
                self.spool.append(record)
                self._done(record)
            log.error("database too slow at shutdown; call records spooled to %s", self.spool.path)

    def _done(self, record: CallRecord) -> None:
        self.queue.task_done()
        left = self.queued.pop(record.linkedid, 1) - 1
        if left:
            self.queued[record.linkedid] = left

    async def _write(self, record: CallRecord) -> bool:
        if self.database_down:          # no 5 s wait per record while the database is away
            self.spool.append(record)
            log.error("database unavailable; call record spooled",
                      extra={"linkedid": record.linkedid, "spool": str(self.spool.path), "error": "still down"})
            return False
        try:
            ticket = await self.records.save(record)
        except Exception as exc:  # driver errors vary by backend; the record must not be lost
            self.database_down = True
            self.spool.append(record)
            log.error("database unavailable; call record spooled",
                      extra={"linkedid": record.linkedid, "spool": str(self.spool.path), "error": str(exc)})
            return False
        if ticket is None:
            log.info("call record already stored", extra={"linkedid": record.linkedid})
            return True
        latency = (datetime.now(timezone.utc) - record.ended_at).total_seconds()
        log.info("call recorded", extra={"linkedid": record.linkedid, "disposition": record.disposition,
                                         "ticket": ticket.id, "number": ticket.number,
                                         "hangup_to_commit_ms": round(latency * 1000, 1)})
        self.publish(TicketOpened(record, ticket))
        return True

    async def replay(self) -> int:
        """Write spooled records back; stop at the first refusal while the database is away. A
        record the database answers and still refuses is set aside, never blocking the rest."""
        records = self.spool.take()
        if not records:
            self.spool.done()
            self.database_down = self.database_down and not await self.db.ping()
            return 0
        for index, record in enumerate(records):
            try:
                ticket = await self.records.save(record)
            except Exception as exc:  # driver errors vary by backend: is it the database or the record?
                if await self.db.ping():
                    self.spool.reject(record)
                    log.error("call record refused by the database; kept in %s", self.spool.rejected,
                              extra={"linkedid": record.linkedid, "error": str(exc)})
                    continue
                log.warning("spool replay paused: %s", exc)   # still down: keep the rest for the next round
                self.spool.keep(records[index:])
                return index
            if ticket is not None:
                log.info("call recorded", extra={"linkedid": record.linkedid, "disposition": record.disposition,
                                                 "ticket": ticket.id, "number": ticket.number, "from_spool": True})
                self.publish(TicketOpened(record, ticket))
        self.spool.done()
        self.database_down = False
        return len(records)

    async def _replay_forever(self) -> None:
        while True:
            if self.spool.pending() or self.database_down:
                await self.replay()
            await asyncio.sleep(self.replay_every)
