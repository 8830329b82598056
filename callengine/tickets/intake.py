"""From the tracker's finished record to the writer: its location first (bounded in time),
then the store. What is between the two is pending, so a rebuild from CEL never races it."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from callengine.calls.record import CallRecord
from callengine.tickets.writer import RecordWriter

Locate = Callable[[CallRecord], Awaitable[None]]


class RecordIntake:
    def __init__(self, locate: Locate, writer: RecordWriter, submitted: Callable[[], None] = lambda: None) -> None:
        self.locate = locate
        self.writer = writer
        self.submitted = submitted
        self.locating: set[str] = set()

    async def __call__(self, record: CallRecord) -> None:
        self.locating.add(record.linkedid)
        try:
            await self.locate(record)
            await self.writer.submit(record)
        finally:
            self.locating.discard(record.linkedid)
        self.submitted()

    def pending(self) -> set[str]:
        """Records between the tracker and the database (locating, queued, spooled)."""
        return self.locating | self.writer.waiting()
