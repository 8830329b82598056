"""The shift keeper's rules against an in-memory queue (pure logic; tests/integration/test_shifts.py
runs the same keeper against a real Asterisk)."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callengine.queueing.members import UNREGISTERED, Member, QueueControlError, QueueState
from callengine.queueing.roster import RosterFile, load_roster
from callengine.queueing.shifts import ShiftKeeper

ROSTER = """
[calltakers]
taker1 = Satu
taker2 = Dua
taker3 = Tiga
[supervisors]
spv1 = Supervisor
[rotation]
1 = pagi taker1, siang taker2, malam taker3
"""


class MemoryQueue:
    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.online: set[str] = set()
        self.actions: list[tuple[str, ...]] = []

    async def queue_state(self, queue: str) -> QueueState:
        return QueueState(queue, tuple(self.members.values()), ())

    async def registered(self) -> set[str]:
        return set(self.online)

    async def add(self, queue: str, account: str, name: str, paused: bool, reason: str) -> None:
        self.actions.append(("add", account, reason))
        self.members[account] = Member(account, name, 0, True, paused, reason, False, account in self.online, 0)

    async def remove(self, queue: str, account: str) -> None:
        self.actions.append(("remove", account))
        del self.members[account]

    async def pause(self, queue: str, account: str, paused: bool, reason: str) -> None:
        self.actions.append(("pause" if paused else "unpause", account))
        self.members[account] = replace(self.members[account], paused=paused, reason=reason)


class Clock:
    def __init__(self, at: str) -> None:
        self.set(at)

    def set(self, at: str) -> None:
        self.at = datetime.fromisoformat(f"2026-11-23T{at}").replace(tzinfo=ZoneInfo("Asia/Makassar"))

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "roster.conf"
    path.write_text(ROSTER)
    zone = ZoneInfo("Asia/Makassar")
    queue, clock, alerts = MemoryQueue(), Clock("14:00"), []

    async def alert(kind: str, message: str) -> None:
        alerts.append(kind)

    roster = RosterFile(path, zone)
    return ShiftKeeper(roster, "112", queue, clock, alert), queue, clock, alerts, path


async def test_reconciling_twice_changes_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    keeper, queue, clock, alerts, _ = setup
    queue.online = {"taker1", "taker2"}
    await keeper.reconcile()
    await keeper.reconcile()
    assert queue.actions == [("add", "taker1", "")]


async def test_outgoing_member_in_a_call_leaves_after_it(setup) -> None:  # type: ignore[no-untyped-def]
    keeper, queue, clock, alerts, _ = setup
    queue.online = {"taker1", "taker2"}
    await keeper.reconcile()
    queue.members["taker1"] = replace(queue.members["taker1"], in_call=True)
    clock.set("15:00")
    await keeper.reconcile()
    assert set(queue.members) == {"taker1", "taker2"}
    queue.members["taker1"] = replace(queue.members["taker1"], in_call=False)
    await keeper.reconcile()
    assert set(queue.members) == {"taker2"} and alerts == []


async def test_unregistered_incoming_is_added_paused_and_unpaused_on_registration(setup) -> None:  # type: ignore[no-untyped-def]
    keeper, queue, clock, alerts, _ = setup
    queue.online = {"taker1"}
    await keeper.reconcile()
    clock.set("15:00")
    await keeper.reconcile()
    assert queue.members["taker2"].paused and queue.members["taker2"].reason == UNREGISTERED
    assert set(queue.members) == {"taker1", "taker2"} and alerts == ["shift_absent"]
    queue.online.add("taker2")
    await keeper.reconcile()
    assert set(queue.members) == {"taker2"} and not queue.members["taker2"].paused


async def test_a_softphone_that_unregisters_is_paused_until_it_is_back(setup) -> None:  # type: ignore[no-untyped-def]
    keeper, queue, clock, alerts, _ = setup
    queue.online = {"taker1"}
    await keeper.reconcile()
    assert not queue.members["taker1"].paused
    queue.online.clear()                                  # the softphone unregistered (or its contact expired)
    await keeper.reconcile()
    assert queue.members["taker1"].paused and queue.members["taker1"].reason == UNREGISTERED
    queue.online.add("taker1")
    await keeper.reconcile()
    assert not queue.members["taker1"].paused


async def test_a_member_in_a_call_or_on_a_break_is_not_paused_for_unregistering(setup) -> None:  # type: ignore[no-untyped-def]
    keeper, queue, clock, alerts, _ = setup
    queue.online = {"taker1"}
    await keeper.reconcile()
    queue.members["taker1"] = replace(queue.members["taker1"], in_call=True)
    queue.online.clear()
    await keeper.reconcile()
    assert not queue.members["taker1"].paused
    await queue.pause("112", "taker1", True, "istirahat")
    queue.members["taker1"] = replace(queue.members["taker1"], in_call=False)
    await keeper.reconcile()
    assert queue.members["taker1"].reason == "istirahat"


async def test_a_human_pause_is_never_lifted_by_the_keeper(setup) -> None:  # type: ignore[no-untyped-def]
    keeper, queue, clock, alerts, _ = setup
    queue.online = {"taker1"}
    await keeper.reconcile()
    await queue.pause("112", "taker1", True, "istirahat")
    await keeper.reconcile()
    assert queue.members["taker1"].paused and queue.members["taker1"].reason == "istirahat"


async def test_a_broken_roster_edit_keeps_the_last_good_roster(setup, caplog) -> None:  # type: ignore[no-untyped-def]
    keeper, queue, clock, alerts, path = setup
    queue.online = {"taker1", "taker2"}
    path.write_text(ROSTER.replace("siang taker2", "siang taker9"))
    await keeper.reconcile()
    assert set(queue.members) == {"taker1"}
    assert "roster change ignored" in caplog.text and "'taker9' is neither a team nor a person" in caplog.text
    path.write_text(ROSTER.replace("pagi taker1", "pagi taker2") + "\n")
    await keeper.reconcile()
    assert set(queue.members) == {"taker2"}


async def test_the_keeper_outlives_a_refusing_pbx(setup, caplog) -> None:  # type: ignore[no-untyped-def]
    keeper, queue, clock, alerts, _ = setup
    keeper.tick_s = 0.01
    add, refusals = queue.add, [QueueControlError("QueueAdd PJSIP/taker1: Unable to add interface")]

    async def flaky(*args: object, **kwargs: object) -> None:
        if refusals:
            raise refusals.pop()
        await add(*args, **kwargs)

    queue.add = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(keeper.run())
    keeper.wake.set()                                    # as the engine does when AMI connects
    try:
        for _ in range(200):
            if "taker1" in queue.members:
                break
            await asyncio.sleep(0.01)  # wait-ok: polls the condition, bounded by the loop
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert "taker1" in queue.members
    assert "queue not reconciled: QueueAdd PJSIP/taker1: Unable to add interface" in caplog.text


async def test_only_a_softphone_coming_or_going_wakes_the_keeper_not_a_ringing_or_busy_phone(setup) -> None:  # type: ignore[no-untyped-def]
    keeper, queue, clock, alerts, _ = setup
    device = {"Event": "DeviceStateChange", "Device": "PJSIP/taker1"}
    await keeper.on_event({**device, "State": "NOT_INUSE"})     # first word of this device: it came
    assert keeper.wake.is_set()
    keeper.wake.clear()
    for state in ("RINGING", "INUSE", "NOT_INUSE", "INUSE"):      # a call: nothing for the keeper
        await keeper.on_event({**device, "State": state})
    await keeper.on_event({"Event": "AgentComplete", "Interface": "PJSIP/taker1"})   # nobody waits to leave
    assert not keeper.wake.is_set()
    for other in ("PJSIP/trunk", "Queue:112_avail"):             # devices every call moves
        for state in ("UNKNOWN", "INUSE", "UNAVAILABLE", "NOT_INUSE"):
            await keeper.on_event({"Event": "DeviceStateChange", "Device": other, "State": state})
    assert not keeper.wake.is_set()
    await keeper.on_event({**device, "State": "UNAVAILABLE"})   # the softphone went away
    assert keeper.wake.is_set()
