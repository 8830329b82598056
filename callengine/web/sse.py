"""Server-Sent Events to a browser from a Fanout: the frames a listener may see, a heartbeat
that also re-checks the session (a disabled user's stream ends within one beat), and the end
of the stream when the listener falls behind or the process stops (the browser reconnects).
The engine's live API, the desk's and the responders' streams are all this one loop."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from aiohttp import web

HEARTBEAT_S = 15.0
SignedIn = Callable[[web.Request], Awaitable[bool]]


class Feed(Protocol):
    """A source of events with listeners that come and go (core.fanout.Fanout and its users)."""
    def listen(self) -> asyncio.Queue[object | None]: ...
    def leave(self, queue: asyncio.Queue[object | None]) -> None: ...


def frame(name: str, data: object) -> bytes:
    """One Server-Sent Event: its name and its data as one line of JSON (times in ISO 8601)."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=_plain)}\n\n".encode()


def _plain(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


async def always(request: web.Request) -> bool:
    """For a stream whose caller was checked once (the engine's token): nothing to re-check."""
    return True


async def stream(request: web.Request, feed: Feed, signed_in: SignedIn,
                 shown: Callable[[object], bytes | None], first: Callable[[], bytes] | None = None,
                 heartbeat_s: float = HEARTBEAT_S) -> web.StreamResponse:
    """`feed`'s events as `shown` frames them (None: not for this listener), after `first`."""
    queue = feed.listen()                  # before the first frame: nothing falls between the two
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        if first is not None:
            await response.write(first())
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), heartbeat_s)
            except asyncio.TimeoutError:
                if not await signed_in(request):
                    break
                await response.write(b": still here\n\n")
                continue
            if event is None:
                break
            if (data := shown(event)) is not None:
                await response.write(data)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        feed.leave(queue)
    return response
