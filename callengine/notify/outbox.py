"""The outbox: every written notification (e-mail, Telegram, webhook) is a row of the delivery
log (`notifications`) first, pending, committed before anyone tries to send it; then one worker
per channel sends its channel's pending rows, oldest first, and writes each try back (attempts,
last_error; sent, or failed after `send_attempts` or a refusal that no retry can change).

Each channel fails alone: its own worker, its own backoff (doubling from `send_retry_after`
up to `send_retry_max`, per row), a timeout on every try; an SMTP server down delays e-mail and
nothing else, and the dispatch never waits for any of it. Restart-safe: the rows are the queue,
so a restarted console sends what was pending (its backoff starts afresh; the attempts count
on). A message is sent at least once: a crash between the send and its row's update sends it
again at the restart (webhooks carry a stable X-Callengine-Delivery id for that).

It imports neither aiohttp nor SQLAlchemy: the store is db/escalations.py's OutboxRepository
in production, a fake in the unit tests; the senders are email.py, telegram.py, webhooks.py.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from callengine.core.clock import Clock
from callengine.dispatch.sla import FAILED, PENDING, SENT, Notification
from callengine.notify.config import RetrySettings

log = logging.getLogger(__name__)
BATCH = 50                  # rows read per round and channel
POLL_S = 5.0                # a round at least this often: rows written by others (the SLA watcher)
TRY_TIMEOUT_S = 60.0        # the longest one try may take, whatever the sender's own timeouts


@dataclass(frozen=True)
class OutboxRow:
    """A pending row of the delivery log, as a sender gets it."""
    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    attempts: int
    assignment_id: int | None = None
    escalation_id: int | None = None


@dataclass(frozen=True)
class Outgoing:
    """A row to write: the message and what it is about."""
    notification: Notification
    assignment_id: int | None = None
    escalation_id: int | None = None


class Refused(Exception):
    """A try that no retry can change (the recipient refused, the chat does not exist)."""


class Sender(Protocol):
    async def send(self, row: OutboxRow) -> None:
        """Returns when delivered; Refused for a final refusal; any other exception is retried."""


class OutboxStore(Protocol):
    async def add(self, rows: list[Outgoing]) -> list[int]: ...
    async def pending(self, channel: str, limit: int) -> list[OutboxRow]: ...
    async def update(self, row_id: int, status: str, attempts: int, last_error: str | None,
                     sent_at: datetime | None) -> None: ...


class Outbox:
    def __init__(self, store: OutboxStore, senders: dict[str, Sender], clock: Clock, retry: RetrySettings,
                 monotonic: Callable[[], float] = time.monotonic, poll_s: float = POLL_S,
                 try_timeout_s: float = TRY_TIMEOUT_S) -> None:
        self.store, self.senders, self.clock, self.retry = store, senders, clock, retry
        self.monotonic, self.poll_s, self.try_timeout_s = monotonic, poll_s, try_timeout_s
        self._not_before: dict[int, float] = {}      # row id → monotonic time of its next try
        self._wake = {channel: asyncio.Event() for channel in senders}

    async def put(self, rows: list[Outgoing]) -> list[int]:
        """Written pending (one transaction), then the channels' workers woken. Rows of a channel
        that is off are not written: nobody would ever send them."""
        wanted = [r for r in rows if r.notification.channel in self.senders]
        if not wanted:
            return []
        ids = await self.store.add(wanted)
        self.wake({r.notification.channel for r in wanted})
        return ids

    def wake(self, channels: set[str] | None = None) -> None:
        for channel in self._wake if channels is None else channels:
            if channel in self._wake:
                self._wake[channel].set()

    async def run(self) -> None:
        """One worker per channel, until cancelled."""
        workers = [asyncio.create_task(self._work(channel), name=f"outbox {channel}") for channel in self.senders]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self, channel: str) -> None:
        wake = self._wake[channel]
        while True:
            wake.clear()
            try:
                pause = await self.round(channel)
            except Exception as exc:  # the database away: the next round tries again
                log.warning("outbox round failed (%s): %s", channel, exc)
                pause = self.poll_s
            try:
                await asyncio.wait_for(wake.wait(), pause)
            except asyncio.TimeoutError:
                pass

    async def round(self, channel: str) -> float:
        """Each due pending row of the channel tried once; the seconds until the next is due
        (at most the poll interval)."""
        rows = await self.store.pending(channel, BATCH)
        pause = self.poll_s
        for row in rows:
            wait = self._not_before.get(row.id, 0.0) - self.monotonic()
            if wait > 0:
                pause = min(pause, wait)
                continue
            retry_in = await self._try(row)
            if retry_in is not None:
                pause = min(pause, retry_in)
        if len(rows) < BATCH:     # every pending row was read: forget the backoff of those gone
            known = {row.id for row in rows}
            self._not_before = {i: t for i, t in self._not_before.items() if i in known}
        return max(pause, 0.0)

    async def _try(self, row: OutboxRow) -> float | None:
        """One try of one row; the seconds until its next try, or None when it is done."""
        attempts = row.attempts + 1
        try:
            await asyncio.wait_for(self.senders[row.channel].send(row), self.try_timeout_s)
        except Refused as exc:
            await self._done(row, FAILED, attempts, f"refused: {exc}")
            log.error("notification refused", extra={"row": row.id, "channel": row.channel, "reason": str(exc)})
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # each channel's own failures (network, server, timeout) are retried
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempts >= self.retry.attempts:
                await self._done(row, FAILED, attempts, error)
                log.error("notification given up", extra={"row": row.id, "channel": row.channel,
                                                           "attempts": attempts, "reason": error})
                return None
            delay = self.retry.backoff(attempts)
            self._not_before[row.id] = self.monotonic() + delay
            await self.store.update(row.id, PENDING, attempts, error, None)
            log.warning("notification not sent; retrying", extra={"row": row.id, "channel": row.channel,
                                                                   "attempt": attempts, "in_s": delay,
                                                                   "reason": error})
            return delay
        await self._done(row, SENT, attempts, None)
        log.info("notification sent", extra={"row": row.id, "channel": row.channel, "attempt": attempts})
        return None

    async def _done(self, row: OutboxRow, status: str, attempts: int, error: str | None) -> None:
        self._not_before.pop(row.id, None)
        await self.store.update(row.id, status, attempts, error, self.clock.now() if status == SENT else None)
