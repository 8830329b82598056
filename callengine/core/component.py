"""Components: the parts a process is composed of. Each owns its tasks and resources and has a
small lifecycle; the process starts them in order and stops them in reverse, so nothing is
wired by import side effects and every task has an owner that ends it."""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

log = logging.getLogger(__name__)


class Component(Protocol):
    async def start(self) -> None:
        """Open what it needs and start its tasks; return once it serves."""

    async def stop(self) -> None:
        """End its tasks and release what it holds; never raise."""


class Components:
    def __init__(self, parts: Sequence[Component]) -> None:
        self.parts = list(parts)
        self.started: list[Component] = []

    async def start(self) -> None:
        for part in self.parts:
            await part.start()
            self.started.append(part)

    async def stop(self) -> None:
        while self.started:
            part = self.started.pop()
            try:
                await part.stop()
            except Exception:  # the others must still stop
                log.exception("component failed to stop", extra={"component": type(part).__name__})


class Service:
    """A long-running coroutine (an AMI session, a writer, a keeper's loop) as a component: a
    task from start until stop cancels it, after `before_stop` (e.g. a drain) has run."""

    def __init__(self, name: str, run: Callable[[], Awaitable[None]],
                 before_stop: Callable[[], Awaitable[None]] | None = None) -> None:
        self.name, self.run, self.before_stop = name, run, before_stop
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._guarded(), name=self.name)

    async def stop(self) -> None:
        if self.before_stop is not None:
            await self.before_stop()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _guarded(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # a dead loop is a bug to see at once, not a silent stop
            log.exception("service ended by an error", extra={"service": self.name})
            raise


async def run_until_signal(components: Components, started: Callable[[], None]) -> None:
    """A process's life: start the components, call `started`, wait for SIGINT or SIGTERM, stop
    them in reverse (also when starting failed half-way)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await components.start()
        started()
        await stop.wait()
    finally:
        await components.stop()
