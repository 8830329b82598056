"""The shift keeper: keeps the 112 queue's members in step with the roster.

It reconciles instead of reacting to single events: at every shift boundary, on every AMI
(re)connect and whenever a member's state changes, it compares who the roster wants with
who the queue has and closes the gap. Reconciling twice changes nothing, so a missed
event or a restarted Asterisk costs one pass, never a wrong queue.

Rules: the incoming shift joins at once (paused while its softphone is not registered, and
paused again whenever it unregisters);
the outgoing shift leaves only when its call in hand is over; if nobody of the incoming
shift is registered, the outgoing shift stays and the supervisors are alerted.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from callengine.core.clock import Clock
from callengine.queueing.events import JOINED, LEFT, PAUSED, UNPAUSED, MemberChanged, SupervisorAlert
from callengine.queueing.members import UNREGISTERED, Member, QueueControl, QueueControlError
from callengine.queueing.roster import Duty, Roster

log = logging.getLogger(__name__)

Alert = Callable[[str, str], Awaitable[None]]   # (kind, message) → recorded for supervisors
# AMI events after which the queue may differ from the roster: a member finished a call,
# a softphone registered or vanished, a member was changed by hand.
WAKING_EVENTS = frozenset({"AgentComplete", "ContactStatus", "DeviceStateChange", "QueueMemberRemoved",
                           "QueueMemberAdded", "QueueMemberPause"})
ABSENT_STATES = frozenset({"UNAVAILABLE", "INVALID", "UNKNOWN"})   # a device with no registered softphone
# Wake-ups within this time make one reconcile: each costs three AMI lists (queue, devices,
# channels), and a surge of calls sends device states and AgentCompletes by the hundred.
SETTLE_S = 0.5


class ShiftKeeper:
    def __init__(self, roster: Callable[[], Roster], queue: str, pbx: QueueControl, clock: Clock,
                 alert: Alert, tick_s: float = 10.0, publish: Callable[[object], None] | None = None,
                 settle_s: float = SETTLE_S) -> None:
        self.publish = publish or (lambda event: None)
        self.settle_s = settle_s
        self._absent: dict[str, bool] = {}   # device → no softphone registered, as last reported
        self.roster = roster
        self.queue = queue
        self.pbx = pbx
        self.clock = clock
        self.alert = alert
        self.tick_s = tick_s
        self.wake = asyncio.Event()
        self._alerted: set[tuple[object, ...]] = set()
        self._waiting_for_call_end: set[str] = set()

    async def on_event(self, event: dict[str, str]) -> None:
        """Wake for what can change the queue's membership: a softphone coming or going, a
        member changed by hand, the end of the call an outgoing member still has in hand.
        A phone ringing or going busy changes nothing here."""
        kind = event.get("Event")
        if kind == "DeviceStateChange":
            device = event.get("Device", "")
            if not device.startswith("PJSIP/") or device[6:] not in self.roster().people:
                return                       # the trunk, queues' own devices: busy with every call
            absent = event.get("State", "") in ABSENT_STATES
            if self._absent.get(device) != absent:
                self._absent[device] = absent
                self.wake.set()
        elif kind == "AgentComplete":
            if self._waiting_for_call_end:
                self.wake.set()
        elif kind in WAKING_EVENTS:
            self.wake.set()

    async def run(self) -> None:
        """Reconcile once woken (the engine wakes it on every AMI connect), then at each shift
        boundary, on wake-ups, and every tick for safety."""
        await self.wake.wait()
        while True:
            self.wake.clear()
            timeout = self.tick_s
            try:
                duty = await self.reconcile()
                timeout = min(timeout, max(0.05, (duty.ends - self.clock.now()).total_seconds()))
            except QueueControlError as exc:
                log.warning("queue not reconciled: %s", exc)
            try:
                async with asyncio.timeout(timeout):  # unlike 3.11's wait_for, never swallows a cancel
                    await self.wake.wait()
            except TimeoutError:
                continue
            await asyncio.sleep(self.settle_s)  # wait-ok: a burst of wake-ups makes one reconcile

    async def reconcile(self) -> Duty:
        roster = self.roster()
        duty = roster.duty_at(self.clock.now())
        state = await self.pbx.queue_state(self.queue)
        online = await self.pbx.registered()
        current = {m.account: m for m in state.members if m.dynamic}
        wanted = duty.accounts
        for account in sorted(wanted - current.keys()):
            await self._join(roster, account, online)
        for account in sorted(wanted & current.keys()):
            await self._follow_registration(current[account], account in online)
        leaving = sorted(current.keys() - wanted)
        if leaving and not wanted & online:
            await self._alert_once(("absent", duty.day, duty.shift), "shift_absent",
                                   f"nobody of shift {duty.shift} {duty.day} is registered; "
                                   f"{', '.join(leaving)} stay on the 112 queue")
            return duty
        for account in leaving:
            await self._leave(current[account], duty)
        return duty

    async def _follow_registration(self, member: Member, registered: bool) -> None:
        """Paused while the softphone is not registered (at join, and whenever it unregisters
        later), unpaused when it is back; a pause of a person's own is never touched."""
        if member.paused and member.reason == UNREGISTERED and registered:
            await self.pbx.pause(self.queue, member.account, False, "")
            log.info("call taker registered; unpaused", extra={"account": member.account, "queue": self.queue})
            self.publish(MemberChanged(self.queue, member.account, UNPAUSED))
        elif not member.paused and not registered and not member.in_call:
            await self.pbx.pause(self.queue, member.account, True, UNREGISTERED)
            self.publish(MemberChanged(self.queue, member.account, PAUSED, UNREGISTERED))
            log.warning("call taker's softphone unregistered; paused",
                        extra={"account": member.account, "queue": self.queue})

    async def _join(self, roster: Roster, account: str, online: set[str]) -> None:
        person = roster.people[account]
        here = account in online
        await self.pbx.add(self.queue, account, person.name, paused=not here, reason="" if here else UNREGISTERED)
        self.publish(MemberChanged(self.queue, account, JOINED, "" if here else UNREGISTERED))
        log.info("call taker joined the queue", extra={"account": account, "queue": self.queue,
                                                        "paused": not here, "reason": "" if here else UNREGISTERED})

    async def _leave(self, member: Member, duty: Duty) -> None:
        if member.in_call:
            if member.account not in self._waiting_for_call_end:
                self._waiting_for_call_end.add(member.account)
                log.info("call taker leaves after the call in hand", extra={"account": member.account,
                                                                            "shift": duty.shift})
            return
        self._waiting_for_call_end.discard(member.account)
        await self.pbx.remove(self.queue, member.account)
        self.publish(MemberChanged(self.queue, member.account, LEFT))
        log.info("call taker left the queue", extra={"account": member.account, "queue": self.queue})

    async def _alert_once(self, key: tuple[object, ...], kind: str, message: str) -> None:
        if key in self._alerted:
            return
        self._alerted.add(key)
        log.warning("supervisor alert: %s", message, extra={"alert": kind})
        self.publish(SupervisorAlert(kind, message))
        await self.alert(kind, message)

