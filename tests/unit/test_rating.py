"""The citizen's rating without a database: [rating] settings, calling hours on a fake clock,
the number to call, scores and comments, the per-address limit, the engine's rating call on a
fake AMI."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callengine.core.conf import ConfigError
from callengine.dispatch.config import VoiceSettings
from callengine.rating.config import RatingSettings, load_rating, rating_problems
from callengine.rating.phone import RatingCallError, RatingCalls, RatingResult
from callengine.rating.service import (AddressLimiter, RatingError, comment_of, message_text, number_to_call,
                                       score_of)
from callengine.accounts.throttle import Limit

WITA = ZoneInfo("Asia/Makassar")
NOW = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)       # 09:00 WITA


class Clock:
    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def conf(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "callengine.conf"
    path.write_text(f"[general]\ncity = Samarinda\n{body}")
    return path


def test_rating_settings_default_and_read(tmp_path: Path) -> None:
    assert load_rating(conf(tmp_path, "")) == RatingSettings()
    read = load_rating(conf(tmp_path, "[rating]\ndelay = 0s\ncalling_hours = 08:00-20:30\nretry_after = 1s\n"
                                      "tries = 3\nring = 5s\ndial = PJSIP/trunk/sip:{number}@127.0.0.2:5070\n"
                                      "link_days = 3\nvoice = no\n"))
    assert (read.delay, read.opens, read.closes, read.retry_after, read.tries, read.ring, read.link_days,
            read.voice) == (timedelta(0), time(8), time(20, 30), timedelta(seconds=1), 3, timedelta(seconds=5), 3,
                            False)
    assert read.voice_settings(VoiceSettings()).channel("0811") == "PJSIP/trunk/sip:0811@127.0.0.2:5070"
    assert RatingSettings().voice_settings(VoiceSettings(dial="PJSIP/{number}@telco")).dial == "PJSIP/{number}@telco"
    for bad, why in (("delay = soon", "not a duration"), ("calling_hours = 7-21", "not a span"),
                     ("tries = 0", "outside"), ("ring = 0s", "at least"), ("dial = SIP/x", "PJSIP"),
                     ("colour = red", "not a setting of \\[rating\\]"), ("calling_hours = 07:00-24:30", "24:00")):
        with pytest.raises(ConfigError, match=why):
            load_rating(conf(tmp_path, f"[rating]\n{bad}\n"))
    assert rating_problems(conf(tmp_path, "[rating]\ntries = 9\n"))[0].startswith("config: ")


def test_calling_hours_on_a_fake_clock() -> None:
    day = RatingSettings(opens=time(7), closes=time(21))
    at = lambda h, m=0: datetime(2026, 12, 2, h, m, tzinfo=WITA)  # noqa: E731
    assert day.open_at(at(9), WITA) == at(9)                       # inside: at once
    assert day.open_at(at(6, 59), WITA) == at(7)                   # before the opening: that morning
    assert day.open_at(at(21), WITA) == at(7) + timedelta(days=1)  # at closing: next morning
    assert day.open_at(at(23, 30), WITA) == at(7) + timedelta(days=1)
    utc = at(22).astimezone(timezone.utc)                          # given in UTC, answered in UTC
    assert day.open_at(utc, WITA) == (at(7) + timedelta(days=1)).astimezone(timezone.utc)
    night = RatingSettings(opens=time(20), closes=time(2))         # across midnight
    assert night.open_at(at(1), WITA) == at(1) and night.open_at(at(3), WITA) == at(20)
    assert RatingSettings(opens=time(0), closes=time(0)).open_at(at(3), WITA) == at(3)   # 00:00-24:00


def test_the_number_called_and_what_is_said() -> None:
    assert number_to_call("081234567890", "+6281299990001") == "+6281234567890"    # the callback number first
    assert number_to_call(None, "+6281299990001") == "+6281299990001"
    assert number_to_call("", "anonymous") is None and number_to_call(None, None) is None
    assert number_to_call("not a number", "+6281299990001") == "+6281299990001"
    text = message_text("SMD-20261202-0001", "Samarinda")
    assert text.startswith("Terima kasih telah menghubungi 112 Samarinda. Laporan Anda nomor SMD-20261202-0001")
    assert text.endswith("Nilai layanan kami: tekan 1 sampai 5.")


def test_scores_and_comments() -> None:
    assert [score_of(s) for s in ("1", " 5 ")] == [1, 5]
    for bad in ("0", "6", "4.0", "", None, "x", 4, "٤"):
        with pytest.raises(RatingError) as refused:
            score_of(bad)
        assert refused.value.status == 400
    assert comment_of("  cepat sekali ") == "cepat sekali" and comment_of("  ") is None and comment_of(None) is None
    with pytest.raises(RatingError):
        comment_of("x" * 1001)


def test_the_limit_per_address_counts_a_window_and_an_ipv6_64() -> None:
    clock = Clock()
    limiter = AddressLimiter(clock, Limit(3, timedelta(minutes=10)))
    assert [limiter.check("10.0.0.5") for _ in range(3)] == [None] * 3
    wait = limiter.check("10.0.0.5")
    assert wait is not None and timedelta(minutes=9) < wait <= timedelta(minutes=10)
    assert limiter.check("10.0.0.6") is None                       # another address has its own budget
    for _ in range(3):
        limiter.check("2001:db8::1")
    assert limiter.check("2001:db8::2") is not None                # same /64
    clock.at += timedelta(minutes=10)
    assert limiter.check("10.0.0.5") is None                       # the window passed


# -- the engine's side ------------------------------------------------------------------
class Ami:
    def __init__(self) -> None:
        self.actions: list[dict[str, str]] = []

    async def originate(self, action: object) -> dict[str, str]:
        self.actions.append(dict(action))  # type: ignore[call-overload]
        return {"Response": "Success"}


async def rating_calls(tmp_path: Path) -> tuple[RatingCalls, Ami, list[object]]:
    told: list[object] = []

    async def publish(event: object) -> None:
        told.append(event)

    (tmp_path / ("ab" * 16 + ".wav")).write_bytes(b"RIFF")
    ami = Ami()
    calls = RatingCalls(ami.originate, publish, Clock(), tmp_path,
                        VoiceSettings(ring=timedelta(seconds=20), dial="PJSIP/{number}@trunk"))
    return calls, ami, told


async def test_the_engine_calls_the_citizen_and_reports_the_score(tmp_path: Path) -> None:
    calls, ami, told = await rating_calls(tmp_path)
    call = await calls.call("SMD-20261202-0001", "+6281299990001", "ab" * 16 + ".wav", "ab" * 16 + ".wav")
    [action] = ami.actions
    assert action["Channel"] == "Local/081299990001@dutyphone-out" and action["Context"] == "rating"
    assert f"CE_DUTY_CALL={call.id}," in action["Variable"] and "CE_DUTY_DIAL=PJSIP/081299990001@trunk" in action[
        "Variable"]
    await calls.on_event({"Event": "OriginateResponse", "ActionID": call.id, "Response": "Success"})
    await calls.on_event({"Event": "UserEvent", "UserEvent": "CallEngineDutyPhone", "Call": call.id,
                          "Result": "accepted"})                  # a duty phone's word: not this call's
    await calls.on_event({"Event": "UserEvent", "UserEvent": "CallEngineRating", "Call": call.id,
                          "Result": "rated", "Score": "4"})
    await calls.on_event({"Event": "Hangup", "Uniqueid": call.id, "Cause": "16"})
    assert told == [RatingResult(call.id, "SMD-20261202-0001", "+6281299990001", "rated", 4, True, NOW,
                                 "Q.850 cause 16")]
    assert calls.open == {}


async def test_an_unanswered_or_silent_citizen_and_bad_commands(tmp_path: Path) -> None:
    calls, ami, told = await rating_calls(tmp_path)
    first = await calls.call("SMD-1", "+6281299990001", "ab" * 16 + ".wav")
    await calls.on_event({"Event": "UserEvent", "UserEvent": "CallEngineDutyPhone", "Call": first.id,
                          "Result": "dial", "DialStatus": "NOANSWER"})
    await calls.on_event({"Event": "OriginateResponse", "ActionID": first.id, "Response": "Failure", "Reason": "3"})
    second = await calls.call("SMD-1", "+6281299990001", "ab" * 16 + ".wav")
    await calls.on_event({"Event": "OriginateResponse", "ActionID": second.id, "Response": "Success"})
    await calls.on_event({"Event": "UserEvent", "UserEvent": "CallEngineRating", "Call": second.id,
                          "Result": "rated", "Score": "9"})        # not a score: no digit
    await calls.on_event({"Event": "Hangup", "Uniqueid": second.id})
    assert [(r.result, r.score, r.answered) for r in told] == [  # type: ignore[attr-defined]
        ("no-answer", None, False), ("no-digit", None, True)]
    for args in (("SMD 1;x", "+6281299990001", "ab" * 16 + ".wav"), ("SMD-1", "anonymous", "ab" * 16 + ".wav"),
                 ("SMD-1", "+6281299990001", "../x.wav"), ("SMD-1", "+6281299990001", "cd" * 16 + ".wav")):
        with pytest.raises(RatingCallError):
            await calls.call(*args)
    assert len(ami.actions) == 2
