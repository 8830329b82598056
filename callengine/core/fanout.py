"""One stream of events to many listeners that come and go (browsers, the console), each with
a bounded queue: a listener that falls behind is cut off, never the source."""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)
LISTENER_BACKLOG = 1000


class Fanout:
    def __init__(self, backlog: int = LISTENER_BACKLOG) -> None:
        self.backlog = backlog
        self.listeners: set[asyncio.Queue[object | None]] = set()

    def listen(self) -> asyncio.Queue[object | None]:
        """A queue of what is published from now on; None in it means: cut off, reconnect."""
        queue: asyncio.Queue[object | None] = asyncio.Queue(self.backlog + 1)
        self.listeners.add(queue)
        return queue

    def leave(self, queue: asyncio.Queue[object | None]) -> None:
        self.listeners.discard(queue)

    async def publish(self, event: object) -> None:
        self.send(event)

    def send(self, event: object) -> None:
        """`publish` for synchronous callers (hooks): it never waits."""
        for queue in list(self.listeners):
            if queue.qsize() >= self.backlog:
                log.warning("live listener cut off: too far behind", extra={"backlog": queue.qsize()})
                self.listeners.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(event)

    def close(self) -> None:
        for queue in self.listeners:
            queue.put_nowait(None)
        self.listeners.clear()
