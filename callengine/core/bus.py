"""The in-process event bus: a change of state others care about is published once, and every
subscriber gets it in order, on its own task.

Each subscription has its own queue and consumer, so a slow or failing subscriber (a webhook
to a dead server, a browser on a bad link) never delays the publisher (the call tracker) nor
another subscriber, and sees the events of its type in the order they were published.
Subscribe by event class; an event is any object (frozen dataclasses in each feature's
`events.py`).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None]]
BACKLOG_WARNING = 1000   # events waiting for one subscriber before it is reported slow


@dataclass
class _Subscription:
    name: str
    kinds: tuple[type, ...]
    handler: Handler
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    warned: bool = False


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []
        self._running = False

    def subscribe(self, kinds: type[E] | tuple[type, ...], handler: Callable[[E], Awaitable[None]],
                  name: str | None = None) -> None:
        """`handler` gets every event of these classes (subclasses included), in order."""
        subscription = _Subscription(name or getattr(handler, "__qualname__", repr(handler)),
                                     kinds if isinstance(kinds, tuple) else (kinds,), handler)
        self._subscriptions.append(subscription)
        if self._running:
            self._consume(subscription)

    def publish(self, event: object) -> None:
        """Never blocks, never raises: the publisher's work goes on whatever the subscribers do."""
        for subscription in self._subscriptions:
            if isinstance(event, subscription.kinds):
                subscription.queue.put_nowait(event)
                self._watch(subscription)

    async def start(self) -> None:
        self._running = True
        for subscription in self._subscriptions:
            self._consume(subscription)

    async def stop(self, drain_s: float = 2.0) -> None:
        """What is already published is delivered for up to `drain_s`, then the consumers end."""
        self._running = False
        pending = [s.queue.join() for s in self._subscriptions if s.task is not None]
        if pending:
            await asyncio.wait([asyncio.ensure_future(p) for p in pending], timeout=drain_s)
        tasks = [s.task for s in self._subscriptions if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for subscription in self._subscriptions:
            subscription.task = None

    def _consume(self, subscription: _Subscription) -> None:
        subscription.task = asyncio.create_task(self._deliver(subscription), name=f"bus:{subscription.name}")

    @staticmethod
    async def _deliver(subscription: _Subscription) -> None:
        while True:
            event = await subscription.queue.get()
            try:
                await subscription.handler(event)
            except Exception:  # one subscriber's bug must not stop its later events
                log.exception("event subscriber failed", extra={"subscriber": subscription.name,
                                                               "event": type(event).__name__})
            finally:
                subscription.queue.task_done()

    @staticmethod
    def _watch(subscription: _Subscription) -> None:
        backlog = subscription.queue.qsize()
        if backlog >= BACKLOG_WARNING and not subscription.warned:
            subscription.warned = True
            log.warning("event subscriber falling behind", extra={"subscriber": subscription.name,
                                                                  "backlog": backlog})
        elif backlog < BACKLOG_WARNING // 10:
            subscription.warned = False
