"""The console is the people's process, never the calls': killed in the middle of a call, the
call goes on and is recorded, and the console comes back and shows the call's ticket."""
from __future__ import annotations

import pytest

from console_lab import ConsoleProcess, Visitor, add_user
from lab import Lab, free_port

pytestmark = pytest.mark.integration
PASSWORD = "nasi kuning pagi"


def test_a_console_killed_during_a_call_touches_nothing(bots, call_taker, lab: Lab) -> None:
    port = free_port()
    with lab.config_file.open("a") as conf:
        conf.write(f"[console]\nlisten = 127.0.0.1:{port}\n")
    add_user(lab.config_file, "taker1", "calltaker", PASSWORD)
    engine = lab.engine()
    console = ConsoleProcess(lab.config_file, port).start()
    taker = call_taker()
    engine.wait_taker_ready("taker1")
    call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}")
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.send_dtmf("1")
    answered = taker.wait_call(30)
    answered.wait_state("confirmed", 10)
    console.kill()                                            # kill -9, mid-conversation
    answered.send_dtmf("5")                                   # the call still carries media both ways
    assert call.wait_dtmf(1, 10) == "5"
    call.hangup()
    engine.wait_log("call recorded", linkedid=greeting["linkedid"], timeout=20)
    [record] = lab.calls()
    assert (record["disposition"], record["agent"], record["category"]) == ("answered", "taker1", "ambulans")
    restarted = ConsoleProcess(lab.config_file, port).start()  # as `callengine up` restarts it
    try:
        desk = Visitor(restarted.url, "taker1", PASSWORD)
        [ticket] = desk.get(f"/api/v1/tickets?linkedid={record['linkedid']}")["tickets"]
        assert (ticket["taker"], ticket["category"]) == ("taker1", "ambulans") and ticket["number"]
        assert desk.get(f"/api/v1/tickets/{ticket['number']}")["calls"][0]["linkedid"] == record["linkedid"]
    finally:
        restarted.stop()
