"""Recordings after commit: each new ticket's recording gets its browser copy, duration,
waveform and checksum, computed in the low-priority worker processes and kept on its record.
Recordings a previous run had no time to process are picked up once the database answers."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from callengine.audio.recordings import RecordingError, process_recording
from callengine.audio.worker import recording_workers
from callengine.core.clock import Clock
from callengine.db.calls import CallRepository
from callengine.tickets.events import TicketOpened

log = logging.getLogger(__name__)
CATCH_UP = timedelta(days=7)   # how far back unprocessed recordings are looked for at start


class RecordingProcessor:
    def __init__(self, calls: CallRepository, recordings_dir: Path, clock: Clock,
                 database_ready: asyncio.Event) -> None:
        self.calls = calls
        self.recordings_dir = recordings_dir
        self.clock = clock
        self.database_ready = database_ready
        self.workers = recording_workers()
        self.tasks: set[asyncio.Task[None]] = set()

    async def on_ticket_opened(self, event: TicketOpened) -> None:
        if event.record.recording:
            self._later(event.record.linkedid, event.record.recording)

    async def start(self) -> None:
        self._spawn(self._catch_up())

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.workers.shutdown(wait=False, cancel_futures=True)

    async def _catch_up(self) -> None:
        await self.database_ready.wait()
        try:
            pending = await self.calls.unprocessed_recordings(self.clock.now() - CATCH_UP)
        except Exception as exc:  # the database left again: the next start catches up
            log.warning("unprocessed recordings not looked up: %s", exc)
            return
        for linkedid, relative in pending:
            self._later(linkedid, relative)

    def _later(self, linkedid: str, relative: str) -> None:
        self._spawn(self.process(linkedid, relative))

    def _spawn(self, work: object) -> None:
        task = asyncio.create_task(work)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def process(self, linkedid: str, relative: str) -> None:
        """Browser copy, duration, waveform and checksum of the call's recording, kept on its record."""
        try:
            loop = asyncio.get_running_loop()
            facts = await loop.run_in_executor(self.workers, process_recording, self.recordings_dir, relative)
            await self.calls.set_recording_facts(linkedid, asdict(facts))
        except RecordingError as exc:  # e.g. a caller gone before any audio: the WAV stays as it is
            log.warning("recording not processed: %s", exc, extra={"linkedid": linkedid})
        except Exception as exc:  # a store outage: the WAV stays; facts can be rebuilt later
            log.error("recording facts not stored: %s", exc, extra={"linkedid": linkedid})
        else:
            log.info("recording processed", extra={"linkedid": linkedid, "duration_s": facts.duration_s,
                                                   "browser_copy": facts.browser_copy})
