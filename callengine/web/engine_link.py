"""The console's link to the engine's live API (loopback, bearer secret): it follows the stream
of call and queue events, keeps its own copy of the calls in progress, and passes each event on
to the browsers that listen (the desk, later the wallboard). Commands go the other way.

The engine being away is a state, not an error: the link says so to its listeners and tries
again; pages keep working on what the database holds.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import aiohttp

from callengine.core.fanout import Fanout
from callengine.web.sse import frame

log = logging.getLogger(__name__)
RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)     # backoff while the engine is away
COMMAND_TIMEOUT_S = 10.0
LINK_STATE = "link"                     # the event the link itself publishes: {"connected": bool}


@dataclass(frozen=True)
class LiveEvent:
    name: str                # call.offered, queue.member, snapshot, link …
    data: dict[str, Any]

    @cached_property
    def frame(self) -> bytes:
        """The event as one Server-Sent Event, encoded once for every browser that hears it."""
        return frame(self.name, self.data)


class EngineError(Exception):
    """The engine refused a command or could not be reached; the message says which."""


class EngineLink:
    def __init__(self, url: str, secret: Callable[[], str | None]) -> None:
        self.url = url.rstrip("/")
        self.secret = secret                   # read at each connect: the engine writes it at first run
        self.calls: dict[str, dict[str, Any]] = {}
        self.connected = False
        self.feed = Fanout()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=3))
        self._task = asyncio.create_task(self._follow(), name="engine link")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.feed.close()
        if self._session is not None:
            await self._session.close()

    def snapshot(self) -> dict[str, Any]:
        return {"connected": self.connected, "calls": sorted(self.calls.values(), key=lambda c: c["started_at"])}

    async def read(self, path: str) -> dict[str, Any]:
        """GET from the engine's live API (the snapshot with the queues); its JSON, or EngineError."""
        return await self._ask("GET", path, None)

    async def command(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a command to the engine's live API; its JSON reply, or EngineError."""
        return await self._ask("POST", path, body)

    async def _ask(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        assert self._session is not None
        try:
            async with self._session.request(method, f"{self.url}{path}", json=body, headers=self._auth(),
                                          timeout=aiohttp.ClientTimeout(total=COMMAND_TIMEOUT_S)) as reply:
                data = await reply.json(content_type=None)
                if reply.status != 200:
                    raise EngineError(str(data.get("message") or f"the engine answered {reply.status}"))
                return dict(data)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise EngineError(f"the engine cannot be reached ({type(exc).__name__})") from None

    async def _follow(self) -> None:
        failures = 0
        while True:
            try:
                async for event in self._stream():
                    failures = 0
                    await self._apply(event)
                log.warning("engine live stream ended; reconnecting")
            except (aiohttp.ClientError, asyncio.TimeoutError, EngineError, ValueError) as exc:
                if failures == 0:
                    log.warning("engine live stream unavailable: %s", str(exc) or type(exc).__name__)
            await self._set_connected(False)
            await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])  # wait-ok: reconnect backoff
            failures += 1

    async def _stream(self) -> AsyncIterator[LiveEvent]:
        assert self._session is not None
        async with self._session.get(f"{self.url}/api/live/events", headers=self._auth()) as reply:
            if reply.status != 200:
                raise EngineError(f"the engine answered {reply.status}")
            name, data = "message", []
            async for raw in reply.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    yield LiveEvent(name, json.loads("\n".join(data)))
                    name, data = "message", []

    async def _apply(self, event: LiveEvent) -> None:
        if event.name == "snapshot":
            self.calls = {call["linkedid"]: call for call in event.data.get("calls", [])}
            await self._set_connected(True, announce=False)
            await self.feed.publish(LiveEvent("snapshot", self.snapshot()))
            return
        if "call" in event.data:               # a call event: the call as it stands now, or None at its end
            linkedid = _linkedid(event.data)
            if event.data["call"] is None:
                self.calls.pop(linkedid, None)
            else:
                self.calls[linkedid] = event.data["call"]
        await self.feed.publish(event)

    async def _set_connected(self, connected: bool, announce: bool = True) -> None:
        if connected != self.connected:
            self.connected = connected
            log.info("engine live stream %s", "connected" if connected else "lost")
            if not connected:
                self.calls = {}
            if announce or not connected:
                await self.feed.publish(LiveEvent(LINK_STATE, {"connected": connected}))

    def _auth(self) -> dict[str, str]:
        secret = self.secret()
        if secret is None:
            raise EngineError("the engine has not written its secret yet (runtime/secrets.conf)")
        return {"Authorization": f"Bearer {secret}"}


def _linkedid(data: dict[str, Any]) -> str:
    if data.get("call"):
        return str(data["call"]["linkedid"])
    if "record" in data:
        return str(data["record"]["linkedid"])
    return str(data.get("linkedid", ""))
