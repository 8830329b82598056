"""Call-backs: placed, stored and finished once, with plain fakes for AMI, the store and CEL.
The CEL tables are lines the real Asterisk wrote for call-backs in the integration tests."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from callengine.calls.callback import (Callback, CallbackError, Callbacks, CallbackUnavailable, Outcome, UnknownCall,
                                       outcome_from_cel)
from callengine.calls.rebuild import COLUMNS, Row

RECORDINGS = Path("/tmp/ce-lab/rec")
NOW = datetime(2026, 12, 2, 12, 11, 30, tzinfo=timezone.utc)

ANSWERED = '''\
"CHAN_START","1796213489.636292","taker1","calltakers","PJSIP/taker1-00000000","","","cb-56d7e41f7723","cb-56d7e41f7723","",""
"ANSWER","1796213489.640051","081234567890","calltakers","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-56d7e41f7723","cb-56d7e41f7723","",""
"APP_START","1796213489.640613","081234567890","callback","PJSIP/taker1-00000000","MixMonitor","/tmp/ce-lab/rec/2026/12/02/cb-56d7e41f7723-callback.wav","cb-56d7e41f7723","cb-56d7e41f7723","",""
"APP_END","1796213489.641028","081234567890","callback","PJSIP/taker1-00000000","MixMonitor","/tmp/ce-lab/rec/2026/12/02/cb-56d7e41f7723-callback.wav","cb-56d7e41f7723","cb-56d7e41f7723","",""
"CHAN_START","1796213489.641453","","from-trunk","PJSIP/trunk-00000001","","","1796213489.5","cb-56d7e41f7723","",""
"ANSWER","1796213489.644143","081234567890","from-trunk","PJSIP/trunk-00000001","AppDial","(Outgoing Line)","1796213489.5","cb-56d7e41f7723","",""
"BRIDGE_ENTER","1796213489.644508","081234567890","from-trunk","PJSIP/trunk-00000001","AppDial","(Outgoing Line)","1796213489.5","cb-56d7e41f7723","","{""bridge_id"":""c099b18c-6ad2-4904-873d-0da0d9b3925e"",""bridge_technology"":""simple_bridge""}"
"BRIDGE_ENTER","1796213489.644580","081234567890","callback","PJSIP/taker1-00000000","Dial","PJSIP/081234567890@trunk,60","cb-56d7e41f7723","cb-56d7e41f7723","PJSIP/trunk-00000001","{""bridge_id"":""c099b18c-6ad2-4904-873d-0da0d9b3925e"",""bridge_technology"":""simple_bridge""}"
"BRIDGE_EXIT","1796213489.844662","081234567890","callback","PJSIP/taker1-00000000","Dial","PJSIP/081234567890@trunk,60","cb-56d7e41f7723","cb-56d7e41f7723","PJSIP/trunk-00000001","{""bridge_id"":""c099b18c-6ad2-4904-873d-0da0d9b3925e"",""bridge_technology"":""simple_bridge""}"
"BRIDGE_EXIT","1796213489.844898","081234567890","from-trunk","PJSIP/trunk-00000001","AppDial","(Outgoing Line)","1796213489.5","cb-56d7e41f7723","","{""bridge_id"":""c099b18c-6ad2-4904-873d-0da0d9b3925e"",""bridge_technology"":""simple_bridge""}"
"HANGUP","1796213489.845102","081234567890","callback","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-56d7e41f7723","cb-56d7e41f7723","","{""hangupcause"":16,""hangupsource"":""PJSIP/taker1-00000000"",""dialstatus"":""ANSWER""}"
"CHAN_END","1796213489.845109","081234567890","callback","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-56d7e41f7723","cb-56d7e41f7723","",""
"HANGUP","1796213489.846065","081234567890","from-trunk","PJSIP/trunk-00000001","AppDial","(Outgoing Line)","1796213489.5","cb-56d7e41f7723","","{""hangupcause"":16,""hangupsource"":""PJSIP/taker1-00000000"",""dialstatus"":""""}"
"CHAN_END","1796213489.846112","081234567890","from-trunk","PJSIP/trunk-00000001","AppDial","(Outgoing Line)","1796213489.5","cb-56d7e41f7723","",""
"LINKEDID_END","1796213489.846112","081234567890","from-trunk","PJSIP/trunk-00000001","AppDial","(Outgoing Line)","1796213489.5","cb-56d7e41f7723","",""
'''

BUSY = '''\
"CHAN_START","1796213462.177669","taker1","calltakers","PJSIP/taker1-00000000","","","cb-a5cb728483f9","cb-a5cb728483f9","",""
"ANSWER","1796213462.181251","081234567890","calltakers","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-a5cb728483f9","cb-a5cb728483f9","",""
"APP_START","1796213462.182000","081234567890","callback","PJSIP/taker1-00000000","MixMonitor","/tmp/ce-lab/rec/2026/12/02/cb-a5cb728483f9-callback.wav","cb-a5cb728483f9","cb-a5cb728483f9","",""
"APP_END","1796213462.182463","081234567890","callback","PJSIP/taker1-00000000","MixMonitor","/tmp/ce-lab/rec/2026/12/02/cb-a5cb728483f9-callback.wav","cb-a5cb728483f9","cb-a5cb728483f9","",""
"CHAN_START","1796213462.182836","","from-trunk","PJSIP/trunk-00000001","","","1796213462.5","cb-a5cb728483f9","",""
"HANGUP","1796213462.185706","081234567890","from-trunk","PJSIP/trunk-00000001","AppDial","(Outgoing Line)","1796213462.5","cb-a5cb728483f9","","{""hangupcause"":17,""hangupsource"":""PJSIP/trunk-00000001"",""dialstatus"":""""}"
"CHAN_END","1796213462.185917","081234567890","from-trunk","PJSIP/trunk-00000001","AppDial","(Outgoing Line)","1796213462.5","cb-a5cb728483f9","",""
"HANGUP","1796213462.186311","081234567890","callback","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-a5cb728483f9","cb-a5cb728483f9","","{""hangupcause"":17,""hangupsource"":""dialplan/builtin"",""dialstatus"":""BUSY""}"
"CHAN_END","1796213462.186839","081234567890","callback","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-a5cb728483f9","cb-a5cb728483f9","",""
"LINKEDID_END","1796213462.186839","081234567890","callback","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-a5cb728483f9","cb-a5cb728483f9","",""
'''

CANCEL = '''\
"CHAN_START","1796213470.990852","taker1","calltakers","PJSIP/taker1-00000000","","","cb-f713ad151c1b","cb-f713ad151c1b","",""
"ANSWER","1796213470.994439","081234567890","calltakers","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-f713ad151c1b","cb-f713ad151c1b","",""
"APP_START","1796213470.995479","081234567890","callback","PJSIP/taker1-00000000","MixMonitor","/tmp/ce-lab/rec/2026/12/02/cb-f713ad151c1b-callback.wav","cb-f713ad151c1b","cb-f713ad151c1b","",""
"APP_END","1796213470.996139","081234567890","callback","PJSIP/taker1-00000000","MixMonitor","/tmp/ce-lab/rec/2026/12/02/cb-f713ad151c1b-callback.wav","cb-f713ad151c1b","cb-f713ad151c1b","",""
"CHAN_START","1796213470.996649","","from-trunk","PJSIP/trunk-00000001","","","1796213470.5","cb-f713ad151c1b","",""
"HANGUP","1796213471.200710","081234567890","from-trunk","PJSIP/trunk-00000001","AppDial","(Outgoing Line)","1796213470.5","cb-f713ad151c1b","","{""hangupcause"":16,""hangupsource"":"""",""dialstatus"":""""}"
"CHAN_END","1796213471.200751","081234567890","from-trunk","PJSIP/trunk-00000001","AppDial","(Outgoing Line)","1796213470.5","cb-f713ad151c1b","",""
"HANGUP","1796213471.201094","081234567890","callback","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-f713ad151c1b","cb-f713ad151c1b","","{""hangupcause"":16,""hangupsource"":""PJSIP/taker1-00000000"",""dialstatus"":""CANCEL""}"
"CHAN_END","1796213471.201121","081234567890","callback","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-f713ad151c1b","cb-f713ad151c1b","",""
"LINKEDID_END","1796213471.201121","081234567890","callback","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-f713ad151c1b","cb-f713ad151c1b","",""
'''

REJECT = '''\
"CHAN_START","1796213464.312122","taker1","calltakers","PJSIP/taker1-00000000","","","cb-8e99ff53cb90","cb-8e99ff53cb90","",""
"HANGUP","1796213464.315980","081234567890","calltakers","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-8e99ff53cb90","cb-8e99ff53cb90","","{""hangupcause"":17,""hangupsource"":""PJSIP/taker1-00000000"",""dialstatus"":""""}"
"CHAN_END","1796213464.316000","081234567890","calltakers","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-8e99ff53cb90","cb-8e99ff53cb90","",""
"LINKEDID_END","1796213464.316000","081234567890","calltakers","PJSIP/taker1-00000000","AppDial2","(Outgoing Line)","cb-8e99ff53cb90","cb-8e99ff53cb90","",""
'''


def rows(table: str, linkedid: str | None = None) -> list[Row]:
    """The table's lines, with the call-back's id replaced by `linkedid`."""
    found = [dict(zip(COLUMNS, values)) for values in csv.reader(io.StringIO(table))]
    original = found[0]["linkedid"]
    return [{k: linkedid if linkedid and v == original else v for k, v in r.items()} for r in found]


def at(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, timezone.utc)


@pytest.mark.parametrize("table, outcome, dialstatus, cause", [
    (BUSY, "busy", "BUSY", "Q.850 cause 17"),
    (CANCEL, "cancelled", "CANCEL", "Q.850 cause 16"),            # the taker hung up while the citizen's phone rang
    (REJECT, "taker-no-answer", None, "Q.850 cause 17"),        # the taker's softphone declined
], ids=["busy", "cancelled", "taker-no-answer"])
def test_the_outcome_of_a_call_back_nobody_talked_in(table: str, outcome: str, dialstatus: str | None,
                                                      cause: str) -> None:
    lines = rows(table)
    found = outcome_from_cel(lines[0]["linkedid"], lines, RECORDINGS)
    assert (found.outcome, found.dialstatus, found.cause) == (outcome, dialstatus, cause)
    assert found.answered_at is None and found.talk_s is None
    assert found.ended_at == max(at(float(r["eventtime"])) for r in lines)


def test_the_outcome_of_an_answered_call_back() -> None:
    found = outcome_from_cel("cb-56d7e41f7723", rows(ANSWERED), RECORDINGS)
    assert (found.outcome, found.dialstatus, found.cause) == ("answered", "ANSWER", "Q.850 cause 16")
    assert found.answered_at == at(1796213489.644143)                 # the citizen's leg answered
    assert found.ended_at == at(1796213489.846112)
    assert found.talk_s == round(1796213489.846112 - 1796213489.644143, 3)
    assert found.recording == "2026/12/02/cb-56d7e41f7723-callback.wav"


def test_a_dial_that_failed_otherwise_is_failed() -> None:
    lines = [{**r, "extra": r["extra"].replace('"BUSY"', '"CHANUNAVAIL"')} for r in rows(BUSY)]
    assert outcome_from_cel("cb-a5cb728483f9", lines, RECORDINGS).outcome == "failed"


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at


@dataclass
class Roster:
    people: dict[str, Any] = field(default_factory=lambda: {"taker1": "Operator Satu"})


class Store:
    """The repository's contract in memory: a row per call-back, finished once."""

    def __init__(self, calls: tuple[str, ...] = ("1796213000.1",)) -> None:
        self.calls = set(calls)
        self.rows: dict[str, Callback] = {}
        self.down = False

    async def add(self, callback: Callback) -> int:
        if self.down:
            raise OSError("connection refused")
        if callback.for_linkedid is not None and callback.for_linkedid not in self.calls:
            raise UnknownCall(f"no call {callback.for_linkedid!r} to call back")
        self.rows[callback.linkedid] = callback
        return len(self.rows)

    async def finish(self, linkedid: str, outcome: Outcome) -> bool:
        if self.down:
            raise OSError("connection refused")
        row = self.rows.get(linkedid)
        if row is None or row.outcome is not None:
            return False
        self.rows[linkedid] = Callback(**{**row.__dict__, **outcome.__dict__})
        return True

    async def unfinished(self, since: datetime) -> list[Callback]:
        return [r for r in self.rows.values() if r.outcome is None and r.placed_at >= since]


class Centre:
    """A Callbacks service with AMI's Originate, the store and CEL faked."""

    def __init__(self, reply: dict[str, str] | Exception | None = None) -> None:
        self.actions: list[dict[str, str]] = []
        self.reply = reply or {"Response": "Success", "Message": "Originate successfully queued"}
        self.cel: dict[str, list[Row]] = {}
        self.store = Store()
        self.clock = Clock()
        self.service = Callbacks(self.originate, Roster, self.store, self.cel_rows, self.clock,  # type: ignore[arg-type]
                                 RECORDINGS)

    async def originate(self, action: Any) -> dict[str, str]:
        self.actions.append(dict(action))
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply

    async def cel_rows(self, linkedid: str, since: datetime) -> list[Row]:
        return self.cel.get(linkedid, [])


async def test_a_call_back_is_stored_placed_and_finished_once_from_cel() -> None:
    centre = Centre()
    placed = await centre.service.call_back("taker1", "081234567890", "spv1", "1796213000.1")
    assert (placed.id, placed.number, placed.for_linkedid, placed.placed_at) == (1, "+6281234567890", "1796213000.1",
                                                                                 NOW)
    [action] = centre.actions
    assert action["ChannelId"] == action["ActionID"] == placed.linkedid    # one id for row, AMI and CEL
    assert (action["Channel"], action["Exten"], action["Variable"]) == ("PJSIP/taker1", "081234567890",
                                                                       "CE_CALLBACK_BY=spv1")
    assert centre.store.rows[placed.linkedid].outcome is None
    centre.cel[placed.linkedid] = rows(ANSWERED, placed.linkedid)
    await centre.service.on_event({"Event": "Hangup", "Uniqueid": placed.linkedid, "Linkedid": placed.linkedid})
    stored = centre.store.rows[placed.linkedid]
    assert (stored.outcome, stored.talk_s) == ("answered", 0.202)
    centre.cel[placed.linkedid] = rows(BUSY, placed.linkedid)           # a late or repeated event changes nothing
    await centre.service.on_event({"Event": "Hangup", "Uniqueid": placed.linkedid})
    await centre.service.on_event({"Event": "OriginateResponse", "Response": "Failure", "ActionID": placed.linkedid,
                                   "Reason": "3"})
    assert centre.store.rows[placed.linkedid].outcome == "answered"


async def test_a_softphone_asterisk_cannot_ring_leaves_no_cel_but_its_reason() -> None:
    centre = Centre()
    placed = await centre.service.call_back("taker1", "+6281234567890", "taker1")
    await centre.service.on_event({"Event": "OriginateResponse", "Response": "Failure", "ActionID": placed.linkedid,
                                   "Reason": "0", "Uniqueid": "<null>"})
    stored = centre.store.rows[placed.linkedid]
    assert (stored.outcome, stored.cause, stored.ended_at) == ("taker-no-answer", "taker's phone: unreachable (reason 0)",
                                                               NOW)


@pytest.mark.parametrize("reply, message", [
    ({"Response": "Error", "Message": "Extension does not exist."}, "Extension does not exist."),
    (TimeoutError("AMI action Originate timed out"), "AMI action Originate timed out"),
], ids=["refused", "ami-silent"])
async def test_an_originate_asterisk_refuses_is_stored_as_failed(reply: Any, message: str) -> None:
    centre = Centre(reply)
    with pytest.raises(CallbackError, match=f"Asterisk refused the call: {message}"):
        await centre.service.call_back("taker1", "+6281234567890", "taker1")
    [stored] = centre.store.rows.values()
    assert (stored.outcome, stored.cause) == ("failed", f"Asterisk refused: {message}")
    assert centre.service.open == {}


@pytest.mark.parametrize("account, number, by, linkedid, message", [
    ("nobody", "+6281234567890", "spv1", None, "not on the roster"),
    ("taker1", "12", "spv1", None, "not a number"),
    ("taker1", "+6281234567890", "spv1", "1.1\r\nAction: Hangup", "not the id of a call"),
    ("taker1", "+6281234567890", "spv1\r\nAction: Hangup", None, "'by' must be"),
    ("taker1", "+6281234567890", "a,CE_PRIORITY=1", None, "'by' must be"),
    ("taker1", "+6281234567890", "spv1", "1796000000.99", "no call '1796000000.99'"),
], ids=["roster", "number", "linkedid", "by-newline", "by-comma", "unknown-call"])
async def test_a_call_back_that_cannot_be_placed_is_refused_before_asterisk_hears_of_it(
        account: str, number: str, by: str, linkedid: str | None, message: str) -> None:
    centre = Centre()
    with pytest.raises(CallbackError, match=message):
        await centre.service.call_back(account, number, by, linkedid)
    assert centre.actions == [] and centre.store.rows == {}


async def test_without_the_store_no_call_back_is_placed_unrecorded() -> None:
    centre = Centre()
    centre.store.down = True
    with pytest.raises(CallbackUnavailable, match="cannot be recorded now"):
        await centre.service.call_back("taker1", "+6281234567890", "taker1")
    assert centre.actions == []


async def test_an_outcome_the_store_cannot_take_is_settled_after_the_next_ami_login() -> None:
    centre = Centre()
    placed = await centre.service.call_back("taker1", "+6281234567890", "taker1")
    centre.cel[placed.linkedid] = rows(ANSWERED, placed.linkedid)
    centre.store.down = True
    await centre.service.on_event({"Event": "Hangup", "Uniqueid": placed.linkedid})    # logged, not raised
    centre.store.down = False
    await centre.service.on_connected()
    assert centre.store.rows[placed.linkedid].outcome == "answered"


async def test_after_a_restart_unfinished_call_backs_are_settled_from_cel_or_followed() -> None:
    before = Centre()
    ended, live, lost, young = [await before.service.call_back("taker1", "+6281234567890", "taker1")
                                for _ in range(4)]
    centre = Centre()                                    # the engine restarted: the same store and CEL
    centre.store, centre.service.store = before.store, before.store
    centre.cel[ended.linkedid] = rows(ANSWERED, ended.linkedid)
    centre.cel[live.linkedid] = rows(ANSWERED, live.linkedid)[:8]      # still talking: no end in CEL yet
    centre.store.rows[young.linkedid] = Callback(**{**young.__dict__, "placed_at": NOW + timedelta(minutes=2)})
    centre.clock.at = NOW + timedelta(minutes=2)
    await centre.service.on_connected()
    outcomes = {k: r.outcome for k, r in centre.store.rows.items()}
    assert outcomes == {ended.linkedid: "answered", live.linkedid: None, lost.linkedid: "failed",
                        young.linkedid: None}                 # young: its Originate may still be ringing
    assert centre.store.rows[lost.linkedid].cause == "no trace of the call in Asterisk"
    centre.cel[live.linkedid] = rows(ANSWERED, live.linkedid)
    await centre.service.on_event({"Event": "Hangup", "Uniqueid": live.linkedid})
    assert centre.store.rows[live.linkedid].outcome == "answered"
