"""The event bus: order per subscriber, isolation from slow and failing subscribers."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from callengine.core.bus import EventBus
from callengine.core.component import Components


@dataclass(frozen=True)
class Rang:
    n: int


@dataclass(frozen=True)
class Answered(Rang):
    pass


@dataclass(frozen=True)
class Other:
    pass


async def test_each_subscriber_gets_its_kinds_in_order_subclasses_included() -> None:
    bus, seen = EventBus(), []

    async def handler(event: Rang) -> None:
        seen.append(event)

    bus.subscribe(Rang, handler)
    await bus.start()
    for n in range(50):
        bus.publish(Answered(n) if n % 2 else Rang(n))
    bus.publish(Other())
    await bus.stop()
    assert [e.n for e in seen] == list(range(50)) and isinstance(seen[1], Answered)


async def test_a_slow_or_failing_subscriber_delays_no_one(caplog: pytest.LogCaptureFixture) -> None:
    bus, fast, release = EventBus(), asyncio.Event(), asyncio.Event()
    got: list[int] = []

    async def slow(event: Rang) -> None:
        await release.wait()

    async def failing(event: Rang) -> None:
        raise RuntimeError("subscriber bug")

    async def quick(event: Rang) -> None:
        got.append(event.n)
        if len(got) == 3:
            fast.set()

    for handler in (slow, failing, quick):
        bus.subscribe(Rang, handler)
    await bus.start()
    for n in range(3):
        bus.publish(Rang(n))                    # returns at once: nothing to await
    await asyncio.wait_for(fast.wait(), 2)
    assert got == [0, 1, 2] and caplog.text.count("event subscriber failed") == 3
    release.set()
    await bus.stop()


async def test_events_published_before_start_wait_for_it_and_stop_drains() -> None:
    bus, seen = EventBus(), []

    async def handler(event: Rang) -> None:
        seen.append(event.n)

    bus.subscribe(Rang, handler)
    bus.publish(Rang(1))
    await bus.start()
    bus.publish(Rang(2))
    await bus.stop()
    assert seen == [1, 2]


async def test_components_stop_in_reverse_even_when_one_fails() -> None:
    log: list[str] = []

    class Part:
        def __init__(self, name: str, fails: bool = False) -> None:
            self.name, self.fails = name, fails

        async def start(self) -> None:
            log.append(f"start {self.name}")

        async def stop(self) -> None:
            log.append(f"stop {self.name}")
            if self.fails:
                raise RuntimeError("stuck")

    parts = Components([Part("db"), Part("ami", fails=True), Part("web")])
    await parts.start()
    await parts.stop()
    assert log == ["start db", "start ami", "start web", "stop web", "stop ami", "stop db"]
