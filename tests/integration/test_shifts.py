"""The three shifts on a real Asterisk: the shift keeper runs in the test with a clock the test
moves (no waiting for 07:00), over a real AMI session; call takers are pjsua2 bots."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from callengine.db.alerts import PauseRepository
from callengine.db.database import Database
from callengine.queueing.roster import roster_of
from callengine.core.settings import load_secrets
from callengine.queueing.members import UNREGISTERED
from callengine.queueing.shifts import ShiftKeeper
from callengine.telephony.ami import ami_session
from callengine.telephony.queues import AmiQueues
from lab import ROSTER, Lab
from test_spine import rms

pytestmark = pytest.mark.integration
# the lab's people, one shift each
SHIFTS_ROSTER = ROSTER.replace("1 = pagi taker1, siang taker1, malam taker1",
                               "start = 2026-11-01\n1 = pagi taker1, siang taker2, malam taker3")


class FakeClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def shifts_lab(make_lab, request: pytest.FixtureRequest) -> Lab:  # type: ignore[no-untyped-def]
    return make_lab(roster=SHIFTS_ROSTER, timezone=getattr(request, "param", "Asia/Makassar"))


@asynccontextmanager
async def keeper_on(lab: Lab, clock: FakeClock) -> AsyncIterator[tuple[ShiftKeeper, AmiQueues, list[str]]]:
    alerts: list[str] = []

    async def alert(kind: str, message: str) -> None:
        alerts.append(f"{kind}: {message}")

    s = lab.settings
    async with ami_session(s.ami_host, s.ami_port, s.ami_user, load_secrets(s)["ami"]) as ami:
        queues = AmiQueues(ami)
        roster = roster_of(s)
        yield ShiftKeeper(lambda: roster, s.queue, queues, clock, alert), queues, alerts


async def until_registered(queues: AmiQueues, *accounts: str) -> None:
    """A bot's REGISTER is confirmed before Asterisk's device state says so: wait for the latter."""
    async with asyncio.timeout(10):
        while not set(accounts) <= await queues.registered():
            await asyncio.sleep(0.05)  # wait-ok: poll the condition; no event reaches the test here


async def dynamic_members(queues: AmiQueues) -> dict[str, tuple[bool, str]]:
    state = await queues.queue_state("112")
    return {m.account: (m.paused, m.reason) for m in state.members if m.dynamic}


def local(zone: str, hhmm: str, day: int = 23) -> datetime:
    return datetime.fromisoformat(f"2026-11-{day:02d}T{hhmm}").replace(tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize("shifts_lab", ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"], indirect=True)
async def test_membership_follows_the_roster_at_each_boundary(bots, shifts_lab: Lab) -> None:
    zone = shifts_lab.settings.timezone.key
    takers = [bots.call_taker(a, shifts_lab.password(a), shifts_lab.sip) for a in ("taker1", "taker2", "taker3")]
    try:
        for taker in takers:
            await asyncio.to_thread(taker.wait_registered, 10)
        clock = FakeClock(local(zone, "06:59:59"))
        async with keeper_on(shifts_lab, clock) as (keeper, queues, alerts):
            await until_registered(queues, "taker1", "taker2", "taker3")
            expected = [("06:59:59", 23, "taker3"), ("07:00", 23, "taker1"), ("14:59:59", 23, "taker1"),
                        ("15:00", 23, "taker2"), ("23:00", 23, "taker3"), ("00:30", 24, "taker3"),
                        ("07:00", 24, "taker1")]
            for hhmm, day, account in expected:
                clock.at = local(zone, hhmm, day)
                await keeper.reconcile()
                assert await dynamic_members(queues) == {account: (False, "")}, (zone, hhmm, day)
            # the same instant in UTC: 07:00 WIB is 00:00Z, 07:00 WITA 23:00Z, 07:00 WIT 22:00Z
            assert clock.at.astimezone(timezone.utc).hour == {"Asia/Jakarta": 0, "Asia/Makassar": 23,
                                                              "Asia/Jayapura": 22}[zone]
            assert alerts == []
    finally:
        for taker in takers:
            taker.close()


async def test_a_call_across_the_boundary_is_not_cut(bots, shifts_lab: Lab) -> None:
    taker1 = bots.call_taker("taker1", shifts_lab.password("taker1"), shifts_lab.sip)
    taker2 = bots.call_taker("taker2", shifts_lab.password("taker2"), shifts_lab.sip)
    try:
        for taker in (taker1, taker2):
            await asyncio.to_thread(taker.wait_registered, 10)
        clock = FakeClock(local("Asia/Makassar", "14:58"))
        async with keeper_on(shifts_lab, clock) as (keeper, queues, _):
            await until_registered(queues, "taker1", "taker2")
            await keeper.reconcile()
            citizen = bots.citizen(caller_id="081234567890").call(f"sip:112@{shifts_lab.sip}")
            answered = await asyncio.to_thread(taker1.wait_call, 40)   # IVR without engine: fallback queue
            await asyncio.to_thread(answered.wait_state, "confirmed", 10)
            clock.at = local("Asia/Makassar", "15:00")
            await keeper.reconcile()
            assert await dynamic_members(queues) == {"taker1": (False, ""), "taker2": (False, "")}
            citizen.send_dtmf("7")                       # the call still carries media after 15:00
            assert await asyncio.to_thread(answered.wait_dtmf, 1, 10) == "7"
            citizen.hangup()
            await asyncio.to_thread(answered.wait_state, "disconnected", 10)
            for _ in range(50):                         # the keeper runs again when the call ends
                await keeper.reconcile()
                if await dynamic_members(queues) == {"taker2": (False, "")}:
                    break
                await asyncio.sleep(0.1)  # wait-ok: device state reaches the queue with no event to wait on: poll the condition
            assert await dynamic_members(queues) == {"taker2": (False, "")}
    finally:
        taker1.close()
        taker2.close()


async def test_absent_incoming_shift_keeps_the_outgoing_one_and_alerts(bots, shifts_lab: Lab) -> None:
    taker2 = bots.call_taker("taker2", shifts_lab.password("taker2"), shifts_lab.sip)
    try:
        await asyncio.to_thread(taker2.wait_registered, 10)
        clock = FakeClock(local("Asia/Makassar", "22:59"))
        async with keeper_on(shifts_lab, clock) as (keeper, queues, alerts):
            await until_registered(queues, "taker2")
            await keeper.reconcile()
            clock.at = local("Asia/Makassar", "23:00")
            await keeper.reconcile()
            await keeper.reconcile()                     # alerted once, not on every pass
            assert await dynamic_members(queues) == {"taker2": (False, ""), "taker3": (True, UNREGISTERED)}
            assert len(alerts) == 1 and "nobody of shift malam 2026-11-23" in alerts[0] and "taker2" in alerts[0]
            taker3 = bots.call_taker("taker3", shifts_lab.password("taker3"), shifts_lab.sip)
            try:
                await asyncio.to_thread(taker3.wait_registered, 10)
                for _ in range(50):                     # device state reaches the queue shortly after REGISTER
                    await keeper.reconcile()
                    if await dynamic_members(queues) == {"taker3": (False, "")}:
                        break
                    await asyncio.sleep(0.1)  # wait-ok: poll the condition: registration reaches the queue's device state
                assert await dynamic_members(queues) == {"taker3": (False, "")}
            finally:
                taker3.close()
    finally:
        taker2.close()


def test_asterisk_restart_restores_membership(bots, call_taker, lab: Lab) -> None:
    engine = lab.engine()
    engine.wait_log("call taker joined the queue", account="taker1", paused=True, reason=UNREGISTERED)
    call_taker("taker1")
    engine.wait_log("call taker registered; unpaused", account="taker1")
    mark = len(engine.lines)
    lab.asterisk.stop()
    lab.asterisk.start()
    engine.wait_log("AMI connected", start=mark, timeout=30)
    engine.wait_log("call taker joined the queue", start=mark, account="taker1", timeout=30)
    shown = lab.asterisk.cli("queue show 112")
    assert "PJSIP/taker1" in shown and "dynamic" in shown


def queue_status(lab: Lab) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "callengine", "--config", str(lab.config_file), "queue", "status",
                           "--json"], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def cli(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callengine", "--config", str(lab.config_file), *args],
                          capture_output=True, text=True)


TWO_ON_DUTY = SHIFTS_ROSTER.replace("1 = pagi taker1, siang taker2, malam taker3",
                                    "1 = pagi taker1+taker2, siang taker1+taker2, malam taker1+taker2")


@pytest.fixture
def two_lab(make_lab) -> Lab:  # type: ignore[no-untyped-def]
    return make_lab(roster=TWO_ON_DUTY)


def test_a_paused_call_taker_is_not_rung_and_the_pause_is_kept(bots, two_lab: Lab) -> None:
    engine = two_lab.engine()
    taker1 = bots.call_taker("taker1", two_lab.password("taker1"), two_lab.sip)
    taker2 = bots.call_taker("taker2", two_lab.password("taker2"), two_lab.sip)
    try:
        for taker in (taker1, taker2):
            taker.wait_registered(10)
            engine.wait_taker_ready(taker.account)
        bad = cli(two_lab, "queue", "pause", "taker1", "--reason", "tidur")
        assert bad.returncode == 1 and "reason 'tidur' is not one of istirahat" in bad.stderr
        done = cli(two_lab, "queue", "pause", "taker1", "--reason", "istirahat", "--by", "spv1")
        assert done.returncode == 0, done.stderr
        [main, _] = queue_status(two_lab)["queues"]  # type: ignore[misc]
        members = {m["account"]: m for m in main["members"]}
        assert members["taker1"]["paused"] is True and members["taker1"]["reason"] == "istirahat"
        assert members["taker2"]["paused"] is False and members["taker2"]["registered"] is True
        for n in range(3):                               # rrmemory would ring taker1 on one of them
            mark = len(engine.lines)
            call = bots.citizen(caller_id=f"08123456780{n}").call(f"sip:112@{two_lab.sip}")
            greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20, start=mark)
            call.send_dtmf("1")
            answered = taker2.wait_call(30)
            answered.wait_state("confirmed", 10)
            call.hangup()
            answered.wait_state("disconnected", 10)
            engine.wait_log("call recorded", linkedid=greeting["linkedid"])
        assert taker1.calls == []
        assert cli(two_lab, "queue", "unpause", "taker1", "--by", "spv1").returncode == 0
        [main, _] = queue_status(two_lab)["queues"]  # type: ignore[misc]
        assert {m["account"]: m["paused"] for m in main["members"]}["taker1"] is False
        [pause] = asyncio.run(pauses(two_lab, "taker1"))
        assert (pause["reason"], pause["paused_by"], pause["ended_by"]) == ("istirahat", "spv1", "spv1")
        assert pause["started_at"] <= pause["ended_at"]  # type: ignore[operator]
    finally:
        taker1.close()
        taker2.close()


async def pauses(lab: Lab, account: str) -> list[dict[str, object]]:
    store = Database(lab.settings.database_url)
    try:
        return await PauseRepository(store).of(account)
    finally:
        await store.close()


@pytest.fixture
def overflow_lab(make_lab) -> Lab:  # type: ignore[no-untyped-def]
    return make_lab(overflow="5", hold_announce="4", position_announce="15")


def test_a_long_wait_overflows_to_a_supervisor(bots, overflow_lab: Lab) -> None:
    engine = overflow_lab.engine()
    supervisor = bots.call_taker("spv1", overflow_lab.password("spv1"), overflow_lab.sip)
    try:
        supervisor.wait_registered(10)
        call = bots.citizen(caller_id="081234567890").call(f"sip:112@{overflow_lab.sip}")
        queued = engine.wait_log("caller queued", timeout=30)
        answered = supervisor.wait_call(20)              # nobody of the shift registered: spv1 after 5 s
        answered.wait_state("confirmed", 10)
        call.hangup()
        engine.wait_log("call recorded", linkedid=queued["linkedid"])
        [record] = overflow_lab.calls()
        assert record["agent"] == "spv1" and record["disposition"] == "answered"
        assert record["wait_s"] >= 5
    finally:
        supervisor.close()


def test_with_nobody_available_the_caller_waits_with_hold_prompts(bots, overflow_lab: Lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = overflow_lab.engine()
    call = bots.citizen(caller_id="081234567890").call(f"sip:112@{overflow_lab.sip}")
    queued = engine.wait_log("caller queued", timeout=30)
    heard = tmp_path / "waiting.wav"
    call.record(heard)                                  # from here on: only what the queue plays
    mark = len(engine.lines)
    # the hold prompt loops as music on hold (a 4 s pause between); the overflow (5 s) finds
    # no supervisor registered; the caller stays, past the overflow
    overflow_lab.wait_asterisk_log("Started music on hold, class 'callengine-id'", timeout=30)
    assert overflow_lab.asterisk.cli("queue show 112").count("PJSIP/trunk") == 1    # still waiting
    second = bots.citizen(caller_id="081234567891").call(f"sip:112@{overflow_lab.sip}")
    engine.wait_log("caller queued", start=mark, timeout=30)
    for said in ("callengine/id/queue-thereare.", "digits/2.", "callengine/id/queue-callswaiting."):
        overflow_lab.wait_asterisk_log(f"Playing '{said}", timeout=30)               # "Anda penelepon nomor 2"
    second.hangup()
    taker = bots.call_taker("taker1", overflow_lab.password("taker1"), overflow_lab.sip)
    try:
        taker.wait_registered(10)
        engine.wait_log("call taker registered; unpaused", account="taker1", start=mark)
        answered = taker.wait_call(30)
        answered.wait_state("confirmed", 10)
        call.hangup()
        engine.wait_log("call recorded", linkedid=queued["linkedid"])
    finally:
        taker.close()
    record = next(c for c in overflow_lab.calls() if c["linkedid"] == queued["linkedid"])
    assert record["agent"] == "taker1" and record["wait_s"] >= 10
    assert rms(heard) > 100                             # the hold prompt, heard while waiting


def test_a_call_taker_added_by_reload_while_a_call_goes_on(bots, call_taker, lab: Lab) -> None:
    engine = lab.engine()
    taker = call_taker("taker1")
    call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}")
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.send_dtmf("1")
    answered = taker.wait_call(30)
    answered.wait_state("confirmed", 10)
    (lab.folder / "roster.conf").write_text(ROSTER.replace("[supervisors]", "taker4 = Operator Empat\n[supervisors]"))
    done = cli(lab, "reload")
    assert done.returncode == 0, done.stderr
    newcomer = bots.call_taker("taker4", lab.password("taker4"), lab.sip)
    try:
        newcomer.wait_registered(10)                 # the new softphone account exists now
        call.send_dtmf("3")                          # and the call in progress was not dropped
        assert answered.wait_dtmf(1, 10) == "3"
        engine.wait_log("roster reloaded")
        call.hangup()
        engine.wait_log("call recorded", linkedid=greeting["linkedid"])
        [record] = lab.calls()
        assert record["disposition"] == "answered" and record["agent"] == "taker1"
    finally:
        newcomer.close()


def test_a_call_taker_whose_softphone_unregisters_is_paused_until_it_registers_again(bots, lab: Lab) -> None:
    engine = lab.engine()
    taker = bots.call_taker("taker1", lab.password("taker1"), lab.sip)
    try:
        taker.wait_registered(10)
        engine.wait_taker_ready("taker1")
        mark = len(engine.lines)
        taker.unregister()
        engine.wait_log("call taker's softphone unregistered; paused", account="taker1", start=mark, timeout=20)
        [main, _] = queue_status(lab)["queues"]  # type: ignore[misc]
        [member] = [m for m in main["members"] if m["account"] == "taker1"]
        assert (member["paused"], member["reason"], member["registered"]) == (True, "tidak-terdaftar", False)
    finally:
        taker.close()
