"""The supervisor's listen-in: the Originate that rings their softphone into ChanSpy on the
taker's channel (the dash: taker1 is not taker10), and what is refused before Asterisk."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callengine.calls.spy import SpyError, Spying
from callengine.queueing.roster import load_roster

ROSTER = """
[calltakers]
taker1 = Operator Satu
taker10 = Operator Sepuluh
[supervisors]
spv1 = Supervisor Satu
[rotation]
1 = pagi taker1, siang taker1, malam taker1
"""


async def test_the_supervisors_phone_rings_into_chanspy_on_the_takers_channel(tmp_path: Path) -> None:
    sent: list[Mapping[str, str]] = []

    async def originate(action: Mapping[str, str]) -> Mapping[str, str]:
        sent.append(action)
        return {"Response": "Success"}
    (tmp_path / "roster.conf").write_text(ROSTER)
    roster = load_roster(tmp_path / "roster.conf", ZoneInfo("Asia/Makassar"))
    spying = Spying(originate, lambda: roster)
    call = await spying.spy("spv1", "taker1", "whisper")
    [action] = sent
    assert (action["Channel"], action["Application"], action["Data"]) == ("PJSIP/spv1", "ChanSpy", "PJSIP/taker1-,qwES")
    assert action["ActionID"] == call and action["CallerID"] == "Bisik taker1 <112>"
    for args, word in ((("taker1", "taker10", "listen"), "supervisor"), (("spv1", "nobody", "listen"), "call taker"),
                       (("spv1", "taker1", "record"), "mode")):
        with pytest.raises(SpyError, match=word):
            await spying.spy(*args)
    assert len(sent) == 1
