"""The IVR flow against a fake AGI peer and a fake clock: every caller behaviour, no Asterisk, no sleeping."""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from unittest.mock import ANY

import pytest

from callengine.ivr.config import load_ivr
from callengine.ivr.flow import ALL_DIGITS, PRANK_CHECK_TIMEOUT, Ivr, PrankCheck
from callengine.telephony.dialplan import IVR_DONE as DONE_VARIABLE, IVR_NOTES, decode_notes
from callengine.telephony.fastagi import AgiChannel, AgiHangup

SETTINGS = load_ivr(Path(__file__).parents[2] / "config" / "ivr.conf")
LINKEDID = "1712345678.42"
START = 100.0  # the fake monotonic clock at the start of every call
CALLER = "+6281234567890"
HANGUP = "hangup"  # a script step: the caller hangs up during this command
PRESS_AT = 0.5     # a caller's digit arrives this long into a prompt or a wait
PROMPT_S = {"greeting": 3.5, "menu": 6.5, "invalid": 1.0, "connecting": 1.5, "prank_warning": 4.5}
DURATIONS = {(lang, name): s for lang in ("id", "en") for name, s in PROMPT_S.items()}
LONG = {key: 5.0 for key in DURATIONS}
Step = str | None  # a digit pressed, None (listens in silence) or HANGUP
Log = list[tuple[str, ...]]


def play(name: str, lang: str = "id", barge_in: bool = True) -> tuple[str, ...]:
    return ("play", f"callengine/{lang}/{name}", ALL_DIGITS if barge_in else "")


def queue(priority: int, category: str | None = None) -> Log:
    return [("set", "CE_PRIORITY", str(priority)), *([("set", "CE_CATEGORY", category)] if category else []),
            ("set", IVR_NOTES, ANY), ("set", DONE_VARIABLE, "1")]


class FakeAgi:
    """Asterisk's side: a prompt or a wait moves the fake clock; the caller does one script step per command."""

    def __init__(self, script: Sequence[Step], callerid: str, durations: dict[tuple[str, str], float]) -> None:
        self.env = {"agi_uniqueid": LINKEDID, "agi_callerid": callerid}
        self.script, self.durations = list(script), durations
        self.now = START
        self.log: Log = []
        self.done_at: float | None = None

    def monotonic(self) -> float:
        return self.now

    def _caller(self, length: float, escape_digits: str) -> str | None:
        step = self.script.pop(0) if self.script else None
        if step == HANGUP:
            raise AgiHangup("channel hung up")
        if step is not None and step in escape_digits:
            self.now += min(PRESS_AT, length)
            return step
        self.now += length  # silence, or a digit the prompt does not listen for
        return None

    async def stream_file(self, name: str, escape_digits: str = "") -> str | None:
        self.log.append(("play", name, escape_digits))
        _, lang, prompt = name.split("/")
        return self._caller(self.durations[(lang, prompt)], escape_digits)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        self.log.append(("wait", str(timeout_ms)))
        return self._caller(timeout_ms / 1000, ALL_DIGITS)

    async def set_variable(self, name: str, value: str) -> None:
        self.log.append(("set", name, value))
        if name == DONE_VARIABLE:
            self.done_at = self.now


async def no_history(caller: str) -> bool:
    return False


async def prankster(caller: str) -> bool:
    return True


class Call:
    def __init__(self, script: Sequence[Step] = (), *, is_prank: PrankCheck = no_history,
                 callerid: str = CALLER, durations: dict[tuple[str, str], float] = DURATIONS) -> None:
        self.agi = FakeAgi(script, callerid, durations)
        self.notes: list[tuple[str, dict[str, Any]]] = []
        self.lookups: list[str] = []

        async def lookup(caller: str) -> bool:
            self.lookups.append(caller)
            return await is_prank(caller)

        self.ivr = Ivr(SETTINGS, "id", durations, lookup, self._annotate, monotonic=self.agi.monotonic)

    def _annotate(self, linkedid: str, **notes: Any) -> None:
        self.notes.append((linkedid, notes))

    async def run(self) -> Call:
        await self.ivr(cast(AgiChannel, self.agi))
        return self

    @property
    def note(self) -> dict[str, Any]:
        assert [linkedid for linkedid, _ in self.notes] == [LINKEDID]
        return self.notes[0][1]

    @property
    def elapsed(self) -> float:
        assert self.agi.done_at is not None, "CE_IVR_DONE never set"
        return self.agi.done_at - START


def note(path: list[str], digits: str, priority: int, ivr_s: float, category: str | None = None,
         language: str = "id") -> dict[str, Any]:
    return {"category": category, "ivr_path": path, "ivr_digits": digits, "ivr_language": language,
            "ivr_s": ivr_s, "priority": priority}


@pytest.mark.parametrize(("digit", "category", "priority"), [
    ("1", "ambulans", 10), ("2", "kebakaran", 10), ("3", "kriminal", 8), ("4", "bencana", 8), ("5", "lainnya", 2)])
async def test_menu_digit_picks_category_and_priority(digit: str, category: str, priority: int) -> None:
    call = await Call([None, digit]).run()
    assert call.agi.log == [play("greeting"), play("menu"), play("connecting", barge_in=False),
                            *queue(priority, category)]
    assert call.note == note(["greeting", "menu", "connecting"], digit, priority, 3.5 + 0.5 + 1.5, category)
    assert call.lookups == [CALLER]


async def test_digit_during_greeting_skips_the_menu() -> None:
    call = await Call(["2"]).run()
    assert call.agi.log == [play("greeting"), play("connecting", barge_in=False), *queue(10, "kebakaran")]
    assert call.note == note(["greeting", "connecting"], "2", 10, 0.5 + 1.5, "kebakaran")


async def test_nine_switches_to_english_and_replays_the_menu() -> None:
    call = await Call(["9", "3"]).run()
    assert call.agi.log == [play("greeting"), ("set", "CHANNEL(language)", "en"), play("menu", "en"),
                            play("connecting", "en", barge_in=False), *queue(8, "kriminal")]
    assert call.note == note(["greeting", "menu", "connecting"], "93", 8, 0.5 + 0.5 + 1.5, "kriminal", "en")


async def test_zero_goes_to_an_operator_without_category() -> None:
    call = await Call(["0"]).run()
    assert call.agi.log == [play("greeting"), play("connecting", barge_in=False), *queue(5)]
    assert call.note == note(["greeting", "operator", "connecting"], "0", 5, 0.5 + 1.5)


@pytest.mark.parametrize(("menu_s", "waits", "ivr_s"), [(6.5, [("wait", "1500")], 11.5), (7.9, [], 11.4)])
async def test_silence_waits_out_the_budget_and_skips_connecting(menu_s: float, waits: Log, ivr_s: float) -> None:
    call = await Call(durations={**DURATIONS, ("id", "menu"): menu_s}).run()  # 7.9: < 0.2 s left, no wait
    assert call.agi.log == [play("greeting"), play("menu"), *waits, *queue(5)]
    assert call.note == note(["greeting", "menu", "no_input", "skip:connecting"], "", 5, ivr_s)


async def test_invalid_digit_then_valid_choice() -> None:
    call = await Call(["7", None, "4"]).run()
    assert call.agi.log == [play("greeting"), play("invalid"), play("menu"),
                            play("connecting", barge_in=False), *queue(8, "bencana")]
    assert call.note == note(["greeting", "invalid", "menu", "connecting"], "74", 8, 0.5 + 1.0 + 0.5 + 1.5,
                             "bencana")


@pytest.mark.parametrize(("script", "lang", "path"), [
    (["7", None, "8"], "id", ["greeting", "invalid", "menu", "connecting"]),
    (["9", "9", "9"], "en", ["greeting", "menu", "invalid", "connecting"])])  # 9 again in English is invalid
async def test_second_invalid_digit_goes_to_the_queue_without_category(
        script: list[Step], lang: str, path: list[str]) -> None:
    call = await Call(script).run()
    assert [entry for entry in call.agi.log if entry[0] == "play"] == [
        play("greeting"), play(path[1], lang), play(path[2], lang), play("connecting", lang, barge_in=False)]
    assert call.agi.log[-3:] == queue(5)
    assert call.note["ivr_path"] == path
    assert call.note["ivr_digits"] == "".join(s for s in script if s)
    assert (call.note["category"], call.note["priority"], call.note["ivr_language"]) == (None, 5, lang)


async def test_prompts_that_would_overrun_the_budget_are_skipped() -> None:
    call = await Call(is_prank=prankster).run()  # 4.5 + 3.5 leaves 3.5 s: no menu, a 2 s wait, connecting fits
    assert call.agi.log == [play("prank_warning", barge_in=False), play("greeting"), ("wait", "2000"),
                            play("connecting", barge_in=False), *queue(0)]
    assert call.note["ivr_path"] == ["prank_warning", "greeting", "skip:menu", "no_input", "connecting"]
    assert call.elapsed == 11.5


@pytest.mark.parametrize("durations", [DURATIONS, LONG], ids=["usual", "long"])
@pytest.mark.parametrize("prank", [False, True])
async def test_no_caller_keeps_the_ivr_past_its_budget(durations: dict[tuple[str, str], float],
                                                       prank: bool) -> None:
    skipped = 0
    for script in itertools.product((None, "2", "7", "9", "0"), repeat=5):
        call = await Call(script, is_prank=prankster if prank else no_history, durations=durations).run()
        assert call.elapsed <= SETTINGS.budget_s, (script, call.note)
        assert call.note["ivr_s"] <= SETTINGS.budget_s
        assert call.agi.log[-1] == ("set", DONE_VARIABLE, "1"), script
        skipped += any(step.startswith("skip:") for step in call.note["ivr_path"])
    assert skipped > 0  # the budget did bite on some of these callers


async def test_prank_history_warns_first_and_lowers_priority() -> None:
    call = await Call(["2", "2"], is_prank=prankster).run()  # the 2 during the warning is ignored
    assert call.agi.log == [play("prank_warning", barge_in=False), play("greeting"),
                            play("connecting", barge_in=False), *queue(0, "kebakaran")]
    expected = note(["prank_warning", "greeting", "connecting"], "2", 0, 4.5 + 0.5 + 1.5, "kebakaran")
    assert call.note == {**expected, "prank_history": True}


async def failing(caller: str) -> bool:
    raise RuntimeError("ticket store down")


async def hanging(caller: str) -> bool:
    return await asyncio.Event().wait()  # never set


@pytest.mark.parametrize("is_prank", [failing, hanging])
async def test_prank_store_failing_or_slow_counts_as_no_history(is_prank: PrankCheck,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="callengine.ivr.flow"):
        call = await asyncio.wait_for(Call(["2"], is_prank=is_prank).run(), 2.0)  # hangs only if unbounded
    assert PRANK_CHECK_TIMEOUT <= 0.5
    assert call.lookups == [CALLER]
    assert call.agi.log == [play("greeting"), play("connecting", barge_in=False), *queue(10, "kebakaran")]
    assert "prank_history" not in call.note
    assert "treating caller as normal" in caplog.text


@pytest.mark.parametrize(("script", "path", "category", "priority"), [
    ([None, HANGUP], ["greeting", "menu"], None, 5),
    ([None, None, HANGUP], ["greeting", "menu"], None, 5),
    (["1", HANGUP], ["greeting", "connecting"], "ambulans", 10)])
async def test_hangup_mid_ivr_still_annotates_the_path(script: list[Step], path: list[str],
                                                       category: str | None, priority: int) -> None:
    call = Call(script)
    with pytest.raises(AgiHangup):
        await call.run()
    assert call.note["ivr_path"] == path
    assert (call.note["category"], call.note["priority"]) == (category, priority)
    assert not [entry for entry in call.agi.log if entry[0] == "set"]  # CE_IVR_DONE never set


@pytest.mark.parametrize(("callerid", "lookups"), [
    ("", []), ("anonymous", []), ("12345", []), ("abc", []), ("+62 81x", []), ("081234567890", [CALLER])])
async def test_prank_lookup_only_for_a_parseable_caller_id(callerid: str, lookups: list[str]) -> None:
    call = await Call(["1"], callerid=callerid).run()
    assert call.lookups == lookups
    assert call.agi.log[-4:] == queue(10, "ambulans")


@pytest.mark.parametrize(("script", "is_prank"), [([None, "2"], no_history), (["9", "1"], no_history),
                                                  (["2"], prankster)])
async def test_the_notes_for_cel_say_what_the_record_says(script: list[Step], is_prank: PrankCheck) -> None:
    call = await Call(script, is_prank=is_prank).run()
    [encoded] = [entry[2] for entry in call.agi.log if entry[:2] == ("set", IVR_NOTES)]
    cel = decode_notes(encoded)
    assert "," not in encoded                       # the dialplan would split it into arguments
    assert (cel["category"] or None) == call.note["category"] and int(cel["priority"]) == call.note["priority"]
    assert cel["ivr_path"].split("/") == call.note["ivr_path"]
    assert (cel["ivr_digits"], cel["ivr_language"]) == (call.note["ivr_digits"], call.note["ivr_language"])
    assert ("prank_history" in cel) == call.note.get("prank_history", False)
