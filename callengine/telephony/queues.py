"""QueueControl over AMI: app_queue's QueueStatus, QueueAdd, QueueRemove and QueuePause,
and res_manager_devicestate's DeviceStateList for who is registered."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callengine.queueing.members import Member, QueueControlError, QueueState, Waiting
from callengine.telephony.ami import AmiClient, AmiError

TECH = "PJSIP/"
# Device states (ast_device_state numbers in QueueMember's Status) of a member who is busy
# with a call: in use, busy, ringing, ringing while in use, on hold.
BUSY_STATES = frozenset({"2", "3", "6", "7", "8"})
ABSENT_STATES = frozenset({"UNAVAILABLE", "INVALID", "UNKNOWN"})


class AmiQueues:
    def __init__(self, ami: AmiClient) -> None:
        self.ami = ami

    async def queue_state(self, queue: str) -> QueueState:
        replies = await self._list({"Action": "QueueStatus", "Queue": queue})
        talking = await self._accounts_with_channels()
        members = tuple(_member(m, talking) for m in replies
                        if m.get("Event") == "QueueMember" and m.get("Queue") == queue)
        waiting = tuple(Waiting(_int(e.get("Position")), e.get("CallerIDNum", ""), _int(e.get("Wait")),
                                _int(e.get("Priority")))
                        for e in replies if e.get("Event") == "QueueEntry" and e.get("Queue") == queue)
        return QueueState(queue, members, waiting)

    async def registered(self) -> set[str]:
        replies = await self._list({"Action": "DeviceStateList"})
        return {m["Device"][len(TECH):] for m in replies
                if m.get("Device", "").startswith(TECH) and m.get("State") not in ABSENT_STATES}

    async def _accounts_with_channels(self) -> set[str]:
        """A member's device state reaches app_queue through Stasis some milliseconds after the
        call is answered; a live channel to their softphone is the call in hand at once."""
        replies = await self._list({"Action": "CoreShowChannels"})
        return {m["Channel"][len(TECH):].rsplit("-", 1)[0] for m in replies
                if m.get("Event") == "CoreShowChannel" and m.get("Channel", "").startswith(TECH)}

    async def add(self, queue: str, account: str, name: str, paused: bool, reason: str) -> None:
        await self._do({"Action": "QueueAdd", "Queue": queue, "Interface": TECH + account, "MemberName": name,
                        "StateInterface": TECH + account, "Penalty": "0", "Paused": _bool(paused)})
        if paused:
            await self.pause(queue, account, True, reason)

    async def remove(self, queue: str, account: str) -> None:
        await self._do({"Action": "QueueRemove", "Queue": queue, "Interface": TECH + account})

    async def pause(self, queue: str, account: str, paused: bool, reason: str) -> None:
        await self._do({"Action": "QueuePause", "Queue": queue, "Interface": TECH + account,
                        "Paused": _bool(paused), "Reason": reason})

    async def _list(self, action: Mapping[str, str]) -> list[Mapping[str, str]]:
        try:
            replies = await self.ami.action(action, as_list=True)
        except AmiError as exc:
            raise QueueControlError(str(exc)) from None
        return list(replies)

    async def _do(self, action: Mapping[str, str]) -> None:
        try:
            reply: Any = await self.ami.action(action)
        except AmiError as exc:
            raise QueueControlError(str(exc)) from None
        if reply.get("Response") != "Success":
            raise QueueControlError(f"{action['Action']} {action.get('Interface', '')}: "
                                    f"{reply.get('Message', 'refused')}")


def _member(event: Mapping[str, str], talking: set[str]) -> Member:
    location = event.get("Location") or event.get("Interface") or ""
    status = event.get("Status", "0")
    account = location[len(TECH):] if location.startswith(TECH) else location
    return Member(
        account=account,
        name=event.get("Name") or event.get("MemberName") or "",
        penalty=_int(event.get("Penalty")),
        dynamic=event.get("Membership") == "dynamic",
        paused=event.get("Paused") == "1",
        reason=event.get("PausedReason", "") if event.get("Paused") == "1" else "",
        in_call=event.get("InCall") == "1" or status in BUSY_STATES or account in talking,
        registered=status not in ("0", "4", "5"),
        calls_taken=_int(event.get("CallsTaken")))


def _int(raw: str | None) -> int:
    try:
        return int(raw or 0)
    except ValueError:
        return 0


def _bool(value: bool) -> str:
    return "true" if value else "false"
