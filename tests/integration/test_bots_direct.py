"""The SIP bots against each other, no Asterisk: a citizen on the trunk address (127.0.0.2) calls a
call taker's softphone on 127.0.0.1 directly; audio both ways, RFC 2833 DTMF, hangups with status."""
from __future__ import annotations

import array
import math
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from callengine.bots.softphone import CallEnded, CallTaker, SipBots

pytestmark = pytest.mark.integration

RATE = 8000


def tone(path: Path, hz: float, seconds: float = 1.0, amplitude: int = 8000) -> Path:
    """An 8 kHz mono 16-bit WAV sine, the format of the project's prompts."""
    samples = array.array("h", (int(amplitude * math.sin(2 * math.pi * hz * n / RATE))
                                for n in range(int(RATE * seconds))))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return path


def rms(path: Path) -> float:
    with wave.open(str(path), "rb") as heard:
        assert (heard.getnchannels(), heard.getsampwidth(), heard.getframerate()) == (1, 2, RATE)
        samples = array.array("h", heard.readframes(heard.getnframes()))
    assert samples, f"{path} holds no audio"
    return math.sqrt(sum(s * s for s in samples) / len(samples))


@pytest.fixture
def taker(bots: SipBots, tmp_path: Path) -> Iterator[CallTaker]:
    with bots.call_taker("operator1", "", None, play=tone(tmp_path / "taker.wav", 440)) as phone:
        yield phone


def test_citizen_talks_to_taker_with_dtmf(bots: SipBots, taker: CallTaker, tmp_path: Path) -> None:
    citizen = bots.citizen(caller_id="+6281234567890")
    pai = "<sip:+6281234567890@127.0.0.2>"
    call = citizen.call(taker.uri, record_to=tmp_path / "citizen-heard.wav",
                        play=tone(tmp_path / "citizen.wav", 880),
                        headers={"P-Asserted-Identity": pai, "Geolocation": "<https://lis.test/loc/7>"})
    answered = taker.wait_call(5)
    answered.record(tmp_path / "taker-heard.wav")
    call.wait_state("confirmed", 5)
    answered.wait_state("confirmed", 5)

    assert answered.source is not None and answered.source.startswith("127.0.0.2:")
    assert "+6281234567890@127.0.0.2" in (answered.header("From") or "")
    assert answered.header("P-Asserted-Identity") == pai
    assert answered.header("Geolocation") == "<https://lis.test/loc/7>"

    call.wait_heard(5)       # the taker's 440 Hz reached the citizen
    answered.wait_heard(5)   # and the citizen's 880 Hz the taker
    call.send_dtmf("112#")
    assert answered.wait_dtmf(4, 5) == "112#"

    call.hangup()
    answered.wait_state("disconnected", 5)
    call.wait_state("disconnected", 5)
    assert answered.last_status == 200 and call.last_status == 200
    assert rms(tmp_path / "citizen-heard.wav") > 1000
    assert rms(tmp_path / "taker-heard.wav") > 1000
    assert bots.citizen().caller_id != citizen.caller_id


def test_taker_hangs_up_after_ringing(bots: SipBots, tmp_path: Path) -> None:
    with bots.call_taker("operator2", "", None, answer_delay=0.2) as phone:
        call = bots.citizen().call(phone.uri)
        call.wait_state("ringing", 5)
        answered = phone.wait_call(5)
        call.wait_state("confirmed", 5)
        answered.wait_state("confirmed", 5)  # ACK in: a hangup before it ends with 603
        answered.hangup()
        call.wait_state("disconnected", 5)
        answered.wait_state("disconnected", 5)
        assert call.last_status == 200 and answered.last_status == 200


def test_taker_rejects_and_citizen_sees_status(bots: SipBots) -> None:
    with bots.call_taker("operator3", "", None, auto_answer=False) as phone:
        call = bots.citizen().call(phone.uri)
        ringing = phone.wait_call(5)
        call.wait_state("ringing", 5)
        ringing.hangup(486)
        with pytest.raises(CallEnded, match="486"):
            call.wait_state("confirmed", 5)
        assert call.last_status == 486 and ringing.last_status == 486
        assert phone.calls == [ringing]
