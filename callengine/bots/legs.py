"""The call legs whose pjsua2 Call exists, and room for new ones.

RTP sockets share pjsip's ioqueue, which has 64 keys and takes a closed socket's key back only
500 ms later; running out trips an assert that aborts the process. Back-to-back short calls get
there, so a new outgoing call waits for room (on the pj thread's timers, not by sleeping).
"""
from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callengine.bots.call import BotCall

IOQUEUE_KEYS = 48      # of pjsip's 64 ioqueue keys, for RTP+RTCP (2 per call leg); the rest: SIP
KEY_FREE_S = 0.6       # pjlib reuses a closed socket's key after 500 ms (PJ_IOQUEUE_KEY_FREE_DELAY)


class Legs:
    """Calls whose pj.Call still exists, and when ended ones give their ioqueue keys back.
    Pj thread only."""

    def __init__(self) -> None:
        self._live: set[BotCall] = set()
        self._recycling: deque[float] = deque()  # when ended calls' ioqueue keys free

    def __len__(self) -> int:
        return len(self._live)

    def live(self) -> list[BotCall]:
        return list(self._live)

    def add(self, call: BotCall) -> None:
        self._live.add(call)

    def remove(self, call: BotCall) -> None:
        """The call's pj.Call is gone; its sockets' keys come back KEY_FREE_S later."""
        self._live.discard(call)
        self._recycling.append(time.monotonic() + KEY_FREE_S)

    def media_wait(self) -> float:
        """Seconds until a new call and its answering leg fit in the ioqueue (0: now)."""
        now = time.monotonic()
        while self._recycling and self._recycling[0] <= now:
            self._recycling.popleft()
        if 2 * (len(self._live) + len(self._recycling) + 2) <= IOQUEUE_KEYS:
            return 0.0
        return self._recycling[0] - now if self._recycling else KEY_FREE_S
