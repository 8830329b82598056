"""Issue 12's roster edit on a real centre: Asterisk, the engine, the console and bot softphones.
An edit that leaves the running shift with nobody is refused with a clear message; a valid one
(the running shift handed to taker2) is written to roster.conf, the engine re-reads the file and
its shift keeper brings taker2 in, while taker1's call goes on, still connected, and taker1
leaves the queue only once that call is over."""
from __future__ import annotations

from datetime import datetime

import pytest

from callengine.queueing.roster import roster_of
from console_lab import add_user, console_beside
from lab import Lab
from test_console_tickets import PASSWORD
from test_duty_phone import api
from test_shifts import cli

pytestmark = pytest.mark.integration


def test_an_emptying_edit_is_refused_and_a_valid_one_applies_while_a_call_goes_on(  # type: ignore[no-untyped-def]
        bots, lab: Lab) -> None:
    engine = lab.engine()
    add_user(lab.config_file, "spv1", "supervisor", PASSWORD)
    token = cli(lab, "tokens", "create", "spv1").stdout.strip()
    console = console_beside(lab.config_file).start()
    taker1 = bots.call_taker("taker1", lab.password("taker1"), lab.sip)
    taker2 = bots.call_taker("taker2", lab.password("taker2"), lab.sip)
    try:
        for taker in (taker1, taker2):
            taker.wait_registered(10)
        engine.wait_taker_ready("taker1")
        call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}")
        greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
        call.send_dtmf("1")
        answered = taker1.wait_call(30)
        answered.wait_state("confirmed", 10)

        duty = roster_of(lab.settings).duty_at(datetime.now(lab.settings.timezone))   # the shift running now
        roster_file = lab.folder / "roster.conf"
        before = roster_file.read_bytes()
        edit = {"date": duty.day.isoformat(), "shift": duty.shift}
        status, refused = api(console, token, "POST", "/api/v1/roster/overrides", {**edit, "accounts": []})
        assert (status, refused["error"]) == (400, "empty")
        assert refused["message"] == f"that leaves shift {duty.shift} on {duty.day} with nobody"
        assert roster_file.read_bytes() == before

        mark = len(engine.lines)
        status, body = api(console, token, "POST", "/api/v1/roster/overrides", {**edit, "accounts": ["taker2"]})
        assert status == 200 and body["changes"][0]["before"] == ["taker1"], body
        assert roster_file.read_text().endswith(f"[overrides]\n{duty.day} {duty.shift} = taker2\n")
        engine.wait_log("roster reloaded", start=mark, timeout=20)              # at the keeper's next pass
        engine.wait_taker_ready("taker2", start=mark, timeout=20)
        engine.wait_log("call taker leaves after the call in hand", account="taker1", start=mark)
        shown = lab.asterisk.cli("queue show 112")
        assert "PJSIP/taker1" in shown and "PJSIP/taker2" in shown
        call.send_dtmf("5")                                                      # the call still carries media
        assert answered.wait_dtmf(1, 10) == "5"
        assert answered.state == "confirmed"
        call.hangup()
        engine.wait_log("call taker left the queue", account="taker1", start=mark, timeout=20)
        engine.wait_log("call recorded", linkedid=greeting["linkedid"])
        [record] = lab.calls()
        assert (record["disposition"], record["agent"]) == ("answered", "taker1")
        assert "PJSIP/taker1" not in lab.asterisk.cli("queue show 112")
        assert engine.errors() == []
    finally:
        taker1.close()
        taker2.close()
        console.stop()
