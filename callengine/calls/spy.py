"""A supervisor listens to a call taker's call, whispers to the taker, or barges in, from the
supervisor's own softphone: Asterisk rings it (Originate) and, once answered, runs ChanSpy on
the taker's channel. Listening and whispering leave the call as it was (the citizen hears no
one new; a whisper reaches the taker only); barging joins both sides. The supervisor's leg is
no 112 call (it never enters the emergency context) and ends when the taker's call does."""
from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping

from callengine.queueing.roster import Roster

Originate = Callable[[Mapping[str, str]], Awaitable[Mapping[str, str]]]
# ChanSpy's options: q no beep or name, E end with the spied channel, S end when nothing is
# left to spy on (a taker who is not in a call: the supervisor's phone hangs up, not waits)
MODES = {"listen": "qES", "whisper": "qwES", "barge": "qBES"}
LABELS = {"listen": "Dengar", "whisper": "Bisik", "barge": "Sela"}
RING_SUPERVISOR_MS = 30_000


class SpyError(ValueError):
    """A request that names no supervisor, taker or mode; the message says which."""


class Spying:
    def __init__(self, originate: Originate, roster: Callable[[], Roster]) -> None:
        self.originate = originate
        self.roster = roster

    async def spy(self, supervisor: str, taker: str, mode: str) -> str:
        """Ring `supervisor`'s softphone into `taker`'s call in `mode`; the supervisor leg's id."""
        people = self.roster().people
        if supervisor not in people or people[supervisor].role != "supervisor":
            raise SpyError(f"{supervisor!r} is not a supervisor on the roster")
        if taker not in people or taker == supervisor:
            raise SpyError(f"{taker!r} is not a call taker on the roster")
        if mode not in MODES:
            raise SpyError(f"mode: one of {', '.join(MODES)}")
        call_id = f"spy-{secrets.token_hex(6)}"
        reply = await self.originate({
            "Action": "Originate", "ActionID": call_id, "ChannelId": call_id, "Channel": f"PJSIP/{supervisor}",
            "Application": "ChanSpy", "Data": f"PJSIP/{taker}-,{MODES[mode]}",   # the dash: not taker10's
            "Timeout": str(RING_SUPERVISOR_MS), "Async": "true",
            "CallerID": f"{LABELS[mode]} {taker} <112>"})
        if reply.get("Response") != "Success":
            raise SpyError(f"Asterisk refused the call: {reply.get('Message', 'no reason')}")
        return call_id
