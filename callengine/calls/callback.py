"""Calling a citizen back from the console: Asterisk rings the call taker's softphone first,
then, once the call taker answers, dials the citizen through the telco trunk (the dialplan's
[callback] context). In tests a SIP peer at the trunk address answers."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from itertools import count

from callengine.calls.numbers import to_e164
from callengine.queueing.roster import Roster

Originate = Callable[[Mapping[str, str]], Awaitable[Mapping[str, str]]]   # an AMI action and its reply
CONTEXT = "callback"
RING_TAKER_MS = 30_000


class CallbackError(ValueError):
    pass


class Callbacks:
    def __init__(self, originate: Originate, roster: Callable[[], Roster]) -> None:
        self.originate = originate
        self.roster = roster
        self.ids = count(1)

    async def call_back(self, account: str, number: str, by: str) -> str:
        """Ring `account`'s softphone and connect it to `number`; the originate's id."""
        if account not in self.roster().people:
            raise CallbackError(f"{account!r} is not on the roster")
        e164 = to_e164(number)
        if e164 is None:
            raise CallbackError(f"{number!r} is not a number to call back")
        action_id = f"callback-{next(self.ids)}"
        reply = await self.originate({
            "Action": "Originate", "ActionID": action_id, "Channel": f"PJSIP/{account}", "Context": CONTEXT,
            "Exten": national(e164), "Priority": "1", "Timeout": str(RING_TAKER_MS), "Async": "true",
            "CallerID": f"Panggilan balik <{national(e164)}>", "Variable": f"CE_CALLBACK_BY={by}"})
        if reply.get("Response") != "Success":
            raise CallbackError(f"Asterisk refused the call: {reply.get('Message', 'no reason')}")
        return action_id


def national(e164: str) -> str:
    """+62812… → 0812…: the form Indonesian trunks take for calls inside the country."""
    return "0" + e164[3:] if e164.startswith("+62") else e164.lstrip("+")
