"""The duty phone's voice call on fakes: the message's text and spoken form, the cache, the
console's rounds (retries, acceptance, the engine away, a responder first) and the engine's
reading of AMI (originate, digit, hangup, failure)."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from callengine.calls.dutyphone import DutyPhoneError, DutyPhones, PhoneAccepted, PhoneResult
from callengine.core.conf import ConfigError
from callengine.core.fanout import Fanout
from callengine.dispatch.config import VoiceSettings, load_voice
from callengine.dispatch.model import FORWARDED, Assignment
from callengine.dispatch.sla import Notification
from callengine.dispatch.voice import (FAILED, SENT, SpokenMessages, VoiceNotifier, message_text, spoken)
from callengine.tickets.model import Ticket
from callengine.web.engine_link import EngineError, LiveEvent

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)
TICKET = Ticket(7, "1.1", "diteruskan", "kebakaran", "+6281211111111", NOW, number="SMD-20261202-0001",
                incident_type="Kebakaran rumah/permukiman", address="Jl. Pangeran Antasari No. 12",
                kelurahan="Air Putih", kecamatan="Samarinda Ulu")
ASSIGNMENT = Assignment(3, 7, "SMD-20261202-0001", "DAMKAR", FORWARDED, "", "taker1", NOW, NOW, NOW)
PHONES = ("+62541741113", "+6281250011113")


class Clock:
    def now(self) -> datetime:
        return NOW


def test_the_message_names_what_where_which_ticket_and_what_to_press() -> None:
    text = message_text(TICKET, "Samarinda")
    assert text == ("Panggilan darurat 112 Samarinda. Tiket SMD-20261202-0001. Kebakaran "
                    "rumah/permukiman. Alamat: Jl. Pangeran Antasari No. 12. Kelurahan Air Putih, Kecamatan "
                    "Samarinda Ulu. Tekan 1 untuk menerima, 2 untuk mengulang.")   # "Kebakaran" said once
    said = spoken(text)
    assert "Tiket S M D, 2026 12 02, nomor 1." in said and "rumah atau permukiman" in said
    assert "Alamat: Jalan Pangeran Antasari Nomor 12." in said and said.startswith("Panggilan darurat 1 1 2 Samarinda.")


def test_an_incident_type_of_another_wording_keeps_its_category() -> None:
    crash = Ticket(9, "3.1", "diteruskan", "kecelakaan", None, NOW, number="SMD-20261202-0003",
                   incident_type="Tabrakan beruntun", address="jl. Gatot Subroto gg. 3")
    text = message_text(crash, "Samarinda")
    assert "Kecelakaan, Tabrakan beruntun." in text and "Alamat: Jalan Gatot Subroto Gang 3." in spoken(text)


def test_a_ticket_with_little_filled_in_still_makes_a_message() -> None:
    bare = Ticket(8, "2.1", "diteruskan", None, None, NOW, number="SMD-20261202-0002")
    assert message_text(bare, "Samarinda") == ("Panggilan darurat 112 Samarinda. Tiket SMD-20261202-0002. "
                                               "Laporan darurat. Tekan 1 untuk menerima, 2 untuk mengulang.")


async def test_the_same_text_is_spoken_once(tmp_path: Path) -> None:
    spoken_texts: list[str] = []

    def speak(text: str, language: str, target: Path) -> None:
        spoken_texts.append(text)
        target.write_bytes(b"RIFF")

    messages = SpokenMessages(tmp_path, speak)
    first = await messages.wav("Tiket SMD-20261202-0001.")
    assert await messages.wav("Tiket SMD-20261202-0001.") == first and len(spoken_texts) == 1
    assert (tmp_path / first).is_file() and [p.name for p in tmp_path.iterdir()] == [first]


def test_notify_settings_are_read_and_checked(tmp_path: Path) -> None:
    conf = tmp_path / "agencies.conf"
    conf.write_text("[notify]\nvoice_retries = 1\nvoice_retry_after = 2m\nvoice_ring = 20s\n"
                    "voice_dial = PJSIP/trunk/sip:{number}@127.0.0.2:5072\n")
    voice = load_voice(conf)
    assert (voice.retries, voice.retry_after, voice.ring) == (1, timedelta(minutes=2), timedelta(seconds=20))
    assert voice.channel("0541741113") == "PJSIP/trunk/sip:0541741113@127.0.0.2:5072"
    for key, bad in (("voice_dial", "Local/{number}@from-trunk"), ("voice_retry_after", "soon"),
                     ("voice_mail", "yes")):
        conf.write_text(f"[notify]\n{key} = {bad}\n")
        with pytest.raises(ConfigError, match=key):
            load_voice(conf)


# -- the console's rounds -----------------------------------------------------------------
class Engine:
    """The engine's notify command: each call's result chosen by the test, told on the feed."""

    def __init__(self, feed: Fanout, results: list[str | Exception]) -> None:
        self.feed, self.results, self.calls = feed, results, []   # type: ignore[var-annotated]

    async def command(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        call = f"dp-{len(self.calls)}"
        self.calls.append(body["phone"])
        data = {"call_id": call, "assignment_id": body["assignment_id"], "agency": body["agency"],
                "phone": body["phone"], "result": result}
        if result == "accepted":
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(self.feed.publish(LiveEvent("dispatch.phone_accepted", data))))
        asyncio.get_running_loop().call_later(
            0.01, lambda: asyncio.ensure_future(self.feed.publish(LiveEvent("dispatch.phone_result", data))))
        return {"status": "calling", "call_id": call}


class Store:
    def __init__(self) -> None:
        self.status = FORWARDED
        self.accepted: list[tuple[int, str, str]] = []
        self.rows: dict[int, dict[str, Any]] = {}

    async def status_of(self, assignment_id: int) -> str | None:
        return self.status

    async def accept(self, assignment_id: int, agency: str, phone: str) -> None:
        self.accepted.append((assignment_id, agency, phone))
        self.status = "diterima"

    async def open(self, assignment_id: int, notification: Notification) -> int:
        self.rows[len(self.rows) + 1] = {"recipient": notification.recipient, "status": notification.status,
                                         "channel": notification.channel}
        return len(self.rows)

    async def update(self, row_id: int, status: str, attempts: int, last_error: str | None,
                     sent_at: datetime | None) -> None:
        self.rows[row_id].update(status=status, attempts=attempts, last_error=last_error, sent_at=sent_at)


class Assignments:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def status(self, assignment_id: int) -> str | None:
        return await self.store.status_of(assignment_id)

    async def accept(self, assignment_id: int, agency: str, phone: str) -> None:
        await self.store.accept(assignment_id, agency, phone)


async def rounds(results: list[str | Exception], retries: int = 2,
                 phones: tuple[str, ...] = PHONES) -> tuple[str, Engine, Store, list[float]]:
    feed, store, pauses = Fanout(), Store(), []
    engine = Engine(feed, results)

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0)  # wait-ok: the fake of the notifier's pause between rounds yields, no more

    messages = SpokenMessages(Path("/nonexistent"), lambda *a: None)
    messages.wav = lambda text: _name(text)  # type: ignore[method-assign]
    notifier = VoiceNotifier(VoiceSettings(retries=retries, retry_after=timedelta(seconds=60)), None,  # type: ignore[arg-type]
                             "Samarinda", messages, engine.command, feed, Assignments(store), store, Clock(),
                             sleep=sleep)
    runner = asyncio.create_task(notifier.run())
    await following(feed)
    try:
        outcome = await asyncio.wait_for(notifier.deliver(TICKET, ASSIGNMENT, phones), 5)
        await drained(feed)                  # the phone's word, applied by the runner
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    return outcome, engine, store, pauses


async def following(feed: Fanout) -> None:
    """Until the notifier's runner listens to the stream."""
    async with asyncio.timeout(5):
        while not feed.listeners:
            await asyncio.sleep(0)  # wait-ok: a bare yield while the condition is polled


async def drained(feed: Fanout) -> None:
    """Until the runner has taken every event (the fakes it calls never suspend, so an event
    taken is an event applied)."""
    async with asyncio.timeout(5):
        while any(queue.qsize() for queue in feed.listeners):
            await asyncio.sleep(0)  # wait-ok: a bare yield while the condition is polled


async def _name(text: str) -> str:
    return SpokenMessages.name(text)


async def test_pressing_1_on_the_first_phone_accepts_as_that_phone() -> None:
    outcome, engine, store, pauses = await rounds(["accepted"])
    assert outcome == SENT and engine.calls == ["+62541741113"] and pauses == []
    assert store.accepted == [(3, "DAMKAR", "+62541741113")]
    assert store.rows[1] | {} == {"recipient": "+62541741113", "status": "sent", "channel": "voice",
                                  "attempts": 1, "last_error": None, "sent_at": NOW}


async def test_no_answer_tries_the_next_phone_then_rounds_later_then_fails() -> None:
    outcome, engine, store, pauses = await rounds(["no-answer", "busy", "no-digit", EngineError("away"),
                                                   "no-answer", "no-answer"])
    assert outcome == FAILED and store.accepted == [] and pauses == [60.0, 60.0]
    assert engine.calls == ["+62541741113", "+6281250011113", "+62541741113", "+62541741113",
                            "+6281250011113"]   # the engine-away attempt placed no call
    assert [(r["recipient"], r["status"], r["attempts"], r["last_error"]) for r in store.rows.values()] == [
        ("+62541741113", "failed", 3, "no-answer"), ("+6281250011113", "failed", 3, "no-answer")]


async def test_the_second_round_reaches_someone() -> None:
    outcome, engine, store, pauses = await rounds(["no-answer", "accepted"], retries=1, phones=PHONES[:1])
    assert outcome == SENT and pauses == [60.0] and store.rows[1]["status"] == "sent"
    assert store.rows[1]["attempts"] == 2 and store.accepted == [(3, "DAMKAR", "+62541741113")]


async def test_a_responder_accepting_in_the_browser_stops_the_calls() -> None:
    feed, store = Fanout(), Store()
    engine = Engine(feed, ["no-answer"] * 10)

    async def sleep(seconds: float) -> None:
        store.status = "diterima"     # accepted on the responder's page meanwhile

    messages = SpokenMessages(Path("/nonexistent"))
    messages.wav = _name  # type: ignore[method-assign]
    notifier = VoiceNotifier(VoiceSettings(), None, "Samarinda", messages, engine.command, feed,  # type: ignore[arg-type]
                             Assignments(store), store, Clock(), sleep=sleep)
    runner = asyncio.create_task(notifier.run())
    await following(feed)
    assert await notifier.deliver(TICKET, ASSIGNMENT, PHONES[:1]) == FAILED
    runner.cancel()
    assert len(engine.calls) == 1 and store.accepted == []
    assert "no longer diteruskan" in (store.rows[1]["last_error"] or "")


async def test_a_burst_to_one_agency_rings_its_phone_one_call_at_a_time() -> None:
    """Five dispatches at once to one duty phone: never two calls on it together (each would
    find it busy), and every one delivered as the phone takes them in turn."""
    feed = Fanout()
    engine = Engine(feed, ["accepted"] * 5)
    on_line: list[int] = []
    placed = engine.command

    async def command(path: str, body: dict[str, Any]) -> dict[str, Any]:
        on_line.append(len(engine.calls) - answered[0])
        return await placed(path, body)
    answered = [0]

    class PerAssignment(Assignments):
        def __init__(self) -> None:
            self.statuses: dict[int, str] = {}

        async def status(self, assignment_id: int) -> str | None:
            return self.statuses.get(assignment_id, FORWARDED)

        async def accept(self, assignment_id: int, agency: str, phone: str) -> None:
            self.statuses[assignment_id] = "diterima"
            answered[0] += 1

    messages = SpokenMessages(Path("/nonexistent"))
    messages.wav = _name  # type: ignore[method-assign]
    notifier = VoiceNotifier(VoiceSettings(retries=0), None, "Samarinda", messages, command, feed,  # type: ignore[arg-type]
                             PerAssignment(), None, Clock())
    runner = asyncio.create_task(notifier.run())
    await following(feed)
    try:
        burst = [notifier.deliver(TICKET, replace(ASSIGNMENT, id=n), PHONES[:1]) for n in range(1, 6)]
        assert await asyncio.wait_for(asyncio.gather(*burst), 5) == [SENT] * 5
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert len(engine.calls) == 5 and on_line == [0, 0, 0, 0, 0]    # each call placed with the line free


# -- the engine's side ------------------------------------------------------------------
class Ami:
    def __init__(self, reply: dict[str, str] | None = None) -> None:
        self.actions: list[dict[str, str]] = []
        self.reply = reply or {"Response": "Success"}

    async def originate(self, action: Any) -> dict[str, str]:
        self.actions.append(dict(action))
        return self.reply


async def phones(tmp_path: Path, ami: Ami) -> tuple[DutyPhones, list[object]]:
    told: list[object] = []

    async def publish(event: object) -> None:
        told.append(event)

    (tmp_path / ("ab" * 16 + ".wav")).write_bytes(b"RIFF")
    settings = VoiceSettings(ring=timedelta(seconds=20), dial="PJSIP/{number}@trunk")
    return DutyPhones(ami.originate, publish, Clock(), tmp_path, settings), told


async def test_the_engine_dials_through_the_trunk_and_reports_the_digit(tmp_path: Path) -> None:
    ami = Ami()
    duty, told = await phones(tmp_path, ami)
    call = await duty.call(3, "DAMKAR", "+62541741113", "SMD-20261202-0001", "ab" * 16 + ".wav", "ab" * 16 + ".wav")
    [action] = ami.actions
    assert action["Channel"] == "Local/0541741113@dutyphone-out" and action["Context"] == "dutyphone"
    assert action["ChannelId"] == action["ActionID"] == call.id and action["Timeout"] == "25000"
    assert action["Variable"] == (f"CE_DUTY_CALL={call.id},CE_DUTY_DIAL=PJSIP/0541741113@trunk,CE_DUTY_RING=20,"
                                  f"CE_DUTY_PROMPT={tmp_path / ('ab' * 16)},CE_DUTY_CONFIRM={tmp_path / ('ab' * 16)}")
    await duty.on_event({"Event": "OriginateResponse", "ActionID": call.id, "Response": "Success"})
    await duty.on_event({"Event": "UserEvent", "UserEvent": "CallEngineDutyPhone", "Call": call.id,
                         "Result": "accepted"})
    assert told == [PhoneAccepted(call.id, 3, "DAMKAR", "+62541741113", "SMD-20261202-0001", NOW)]
    await duty.on_event({"Event": "Hangup", "Uniqueid": call.id, "Cause": "16"})
    assert told[1] == PhoneResult(call.id, 3, "DAMKAR", "+62541741113", "SMD-20261202-0001", "accepted", True, NOW,
                                  "Q.850 cause 16")
    assert duty.open == {}


async def test_an_unanswered_phone_is_told_by_the_originate_response(tmp_path: Path) -> None:
    duty, told = await phones(tmp_path, Ami())
    call = await duty.call(3, "DAMKAR", "+62541741113", "SMD-20261202-0001", "ab" * 16 + ".wav")
    await duty.on_event({"Event": "UserEvent", "UserEvent": "CallEngineDutyPhone", "Call": call.id,
                         "Result": "dial", "DialStatus": "NOANSWER"})
    await duty.on_event({"Event": "Hangup", "Uniqueid": call.id, "Cause": "16"})   # not answered: not the end yet
    assert told == []
    await duty.on_event({"Event": "OriginateResponse", "ActionID": call.id, "Response": "Failure", "Reason": "1"})
    assert [(r.result, r.answered, r.cause) for r in told] == [  # type: ignore[attr-defined]
        ("no-answer", False, "DIALSTATUS NOANSWER")]


async def test_a_busy_phone_is_told_busy_when_asterisk_says_so_after_the_originate_response(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    duty, told = await phones(tmp_path, Ami())
    call = await duty.call(3, "DAMKAR", "+62541741113", "SMD-20261202-0001", "ab" * 16 + ".wav")
    await duty.on_event({"Event": "OriginateResponse", "ActionID": call.id, "Response": "Failure", "Reason": "0"})
    assert told == []                                   # the Dial's word may still come
    await duty.on_event({"Event": "UserEvent", "UserEvent": "CallEngineDutyPhone", "Call": call.id,
                         "Result": "dial", "DialStatus": "BUSY"})
    assert [(r.result, r.cause) for r in told] == [("busy", "DIALSTATUS BUSY")]  # type: ignore[attr-defined]
    assert duty.open == {}

    monkeypatch.setattr("callengine.calls.dutyphone.DIAL_WORD_S", 0.01)
    silent = await duty.call(3, "DAMKAR", "+62541741113", "SMD-20261202-0001", "ab" * 16 + ".wav")
    await duty.on_event({"Event": "OriginateResponse", "ActionID": silent.id, "Response": "Failure", "Reason": "0"})
    deadline = asyncio.get_running_loop().time() + 5
    while len(told) < 2 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)  # wait-ok: the short grace patched above
    assert [(r.result, r.cause) for r in told[1:]] == [("failed", "reason 0")]  # type: ignore[attr-defined]


async def test_bad_commands_are_refused_before_asterisk(tmp_path: Path) -> None:
    ami = Ami()
    duty, _ = await phones(tmp_path, ami)
    for args in ((0, "DAMKAR", "+62541741113", "SMD-1", "ab" * 16 + ".wav"),
                 (3, "damkar;x", "+62541741113", "SMD-1", "ab" * 16 + ".wav"),
                 (3, "DAMKAR", "not a number", "SMD-1", "ab" * 16 + ".wav"),
                 (3, "DAMKAR", "+62541741113", "SMD-1", "../../etc/passwd"),
                 (3, "DAMKAR", "+62541741113", "SMD-1", "cd" * 16 + ".wav")):     # not spoken yet
        with pytest.raises(DutyPhoneError):
            await duty.call(*args)
    assert ami.actions == []
    refused, _ = await phones(tmp_path, Ami({"Response": "Error", "Message": "no such endpoint"}))
    with pytest.raises(DutyPhoneError, match="no such endpoint"):
        await refused.call(3, "DAMKAR", "+62541741113", "SMD-1", "ab" * 16 + ".wav")
    assert refused.open == {}
