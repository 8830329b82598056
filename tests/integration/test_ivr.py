"""The Indonesian IVR over a real Asterisk: RFC 2833 DTMF from a pjsua2 citizen picks the
category, which sets the queue priority Asterisk applies and lands on the record."""
from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from callengine.tickets.records import CallRecords
from callengine.db.calls import CallRepository
from callengine.db.database import Database
from callengine.calls.record import CallRecord
from callengine.core.settings import PROJECT_DIR
from lab import AmiWatcher, Lab

pytestmark = pytest.mark.integration
CATEGORIES = {"1": ("ambulans", 10), "2": ("kebakaran", 10), "3": ("kriminal", 8), "4": ("bencana", 8), "5": ("lainnya", 2)}


def queued_priorities(lab: Lab, queue: str = "112") -> list[tuple[str, int]]:
    """Callers in the queue as Asterisk orders them: (channel, priority)."""
    shown = lab.asterisk.cli(f"queue show {queue}")
    return [(m[0], int(m[1])) for m in re.findall(r"\d+\. (\S+) \(wait: [\d:]+, prio: (-?\d+)\)", shown)]


def place(bots, lab: Lab, caller: str = "081234567890"):  # type: ignore[no-untyped-def]
    return bots.citizen(caller_id=caller).call(f"sip:112@{lab.sip}")


def finish(engine, call, linkedid: str):  # type: ignore[no-untyped-def]
    call.hangup()
    engine.wait_log("call recorded", linkedid=linkedid)


@pytest.mark.parametrize("digit", sorted(CATEGORIES))
def test_menu_choice_sets_category_and_queue_priority(bots, lab: Lab, digit: str) -> None:
    engine = lab.engine()
    call = place(bots, lab)
    menu = engine.wait_log("ivr prompt", prompt="menu", timeout=20)
    call.send_dtmf(digit)
    queued = engine.wait_log("caller queued", linkedid=menu["linkedid"], timeout=20)
    category, priority = CATEGORIES[digit]
    assert [p for _, p in queued_priorities(lab)] == [priority]
    finish(engine, call, queued["linkedid"])
    [record] = lab.calls()
    assert record["category"] == category and record["ivr"]["priority"] == priority
    assert record["ivr"]["ivr_digits"] == digit and record["ivr"]["ivr_path"][:2] == ["greeting", "menu"]
    assert record["ghost"] is False          # it pressed a key
    assert engine.errors() == []


def test_barge_in_during_the_greeting_skips_the_menu(bots, lab: Lab) -> None:
    engine = lab.engine()
    call = place(bots, lab)
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.send_dtmf("2")
    queued = engine.wait_log("caller queued", linkedid=greeting["linkedid"], timeout=20)
    assert [p for _, p in queued_priorities(lab)] == [10]
    finish(engine, call, queued["linkedid"])
    [record] = lab.calls()
    assert record["category"] == "kebakaran"
    assert "menu" not in record["ivr"]["ivr_path"]
    assert record["ivr"]["ivr_s"] < 5       # the greeting was cut short by the key


def test_english_then_a_choice(bots, lab: Lab) -> None:
    engine = lab.engine()
    call = place(bots, lab)
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.send_dtmf("9")
    engine.wait_log("ivr prompt", prompt="menu", linkedid=greeting["linkedid"])
    call.send_dtmf("1")
    queued = engine.wait_log("caller queued", linkedid=greeting["linkedid"], timeout=20)
    finish(engine, call, queued["linkedid"])
    [record] = lab.calls()
    assert record["category"] == "ambulans" and record["ivr"]["ivr_language"] == "en"


def test_no_input_reaches_the_queue_within_12_seconds_and_is_a_ghost(bots, lab: Lab) -> None:
    engine = lab.engine()
    call = place(bots, lab)
    queued = engine.wait_log("caller queued", timeout=30)
    done = next(e for e in engine.lines if e.get("msg") == "ivr done")
    assert done["ivr_s"] <= 12 and "no_input" in done["ivr_path"]
    assert [p for _, p in queued_priorities(lab)] == [5]
    finish(engine, call, queued["linkedid"])
    [record] = lab.calls()
    assert record["category"] is None and record["disposition"] == "abandoned"
    assert record["ghost"] is True          # silent, no key: flagged, still queued
    assert engine.errors() == []


def test_invalid_twice_goes_to_a_call_taker(bots, lab: Lab) -> None:
    engine = lab.engine()
    call = place(bots, lab)
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.send_dtmf("7")
    engine.wait_log("ivr prompt", prompt="invalid", linkedid=greeting["linkedid"])
    call.send_dtmf("8")
    queued = engine.wait_log("caller queued", linkedid=greeting["linkedid"], timeout=20)
    finish(engine, call, queued["linkedid"])
    [record] = lab.calls()
    assert record["category"] is None and record["ivr"]["ivr_digits"] == "78"
    assert record["ivr"]["ivr_s"] <= 12


def test_hangup_inside_the_ivr(bots, lab: Lab) -> None:
    engine = lab.engine()
    call = place(bots, lab)
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.hangup()
    engine.wait_log("call recorded", linkedid=greeting["linkedid"])
    [record] = lab.calls()
    assert record["disposition"] == "ended_in_ivr" and record["queue"] is None
    assert record["ivr"]["ivr_path"][0] == "greeting" and record["ivr"]["ivr_digits"] == ""
    assert engine.errors() == []


def test_prank_history_hears_the_warning_and_is_queued_behind_a_normal_caller(bots, lab: Lab) -> None:
    prankster = "081200000666"
    asyncio.run(seed_pranks(lab, "+6281200000666", count=2))
    engine = lab.engine()
    prank_call = place(bots, lab, prankster)
    warned = engine.wait_log("ivr prompt", prompt="prank_warning", timeout=20)
    engine.wait_log("ivr prompt", prompt="greeting", linkedid=warned["linkedid"])
    prank_call.send_dtmf("2")                # claims a fire: the history still wins
    engine.wait_log("caller queued", linkedid=warned["linkedid"], timeout=20)
    mark = len(engine.lines)
    normal = place(bots, lab, "081234567890")
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20, start=mark)
    normal.send_dtmf("5")                    # even "other" goes ahead of a prank
    engine.wait_log("caller queued", linkedid=greeting["linkedid"], timeout=20)
    assert [p for _, p in queued_priorities(lab)] == [2, 0]
    finish(engine, normal, greeting["linkedid"])
    finish(engine, prank_call, warned["linkedid"])
    record = next(c for c in lab.calls() if c["linkedid"] == warned["linkedid"])
    assert record["ivr"]["prank_history"] is True and record["ivr"]["priority"] == 0
    assert record["ivr"]["ivr_path"][0] == "prank_warning"


def test_a_stalled_engine_does_not_hold_the_caller(bots, lab: Lab) -> None:
    """An engine that accepts FastAGI and never answers: the dialplan's absolute timeout queues the
    call to the fallback queue, which rings everyone on the roster."""
    import socket
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    stalled.bind(("127.0.0.1", lab.settings.fastagi_port))
    stalled.listen()
    call = place(bots, lab)
    call.wait_state("confirmed", 10)
    peer, _ = stalled.accept()               # Asterisk connected to the "engine"; it says nothing
    ami = AmiWatcher(lab.settings)
    joined = ami.wait_event("QueueCallerJoin", timeout=25)
    lab.wait_asterisk_log("callengine IVR too slow", timeout=5)
    assert joined["Queue"] == "112-fallback"
    assert queued_priorities(lab, "112-fallback") == [(joined["Channel"], 5)]
    call.hangup()
    ami.close()
    peer.close()
    stalled.close()


def test_missing_prompt_is_named_and_calls_still_work(bots, lab: Lab, tmp_path: Path) -> None:
    sounds = lab.settings.sounds_dir
    assert sounds == PROJECT_DIR / "sounds"
    copy = tmp_path / "sounds"
    shutil.copytree(sounds, copy)
    (copy / "id" / "greeting.wav").unlink()
    lab.config_file.write_text(lab.config_file.read_text().replace(f"sounds = {sounds}", f"sounds = {copy}"))
    from callengine.pbx.render import render
    from callengine.core.settings import load_settings
    render(load_settings(lab.config_file))
    lab.asterisk.cli("core reload")
    check = subprocess.run([sys.executable, "-m", "callengine", "--config", str(lab.config_file), "prompts", "check"],
                           capture_output=True, text=True)
    assert check.returncode == 1 and f"{copy}/id/greeting.wav: missing" in check.stderr
    engine = lab.engine()
    call = place(bots, lab)
    menu = engine.wait_log("ivr prompt", prompt="menu", timeout=20)
    call.send_dtmf("1")
    queued = engine.wait_log("caller queued", linkedid=menu["linkedid"], timeout=20)
    finish(engine, call, queued["linkedid"])
    assert lab.calls()[0]["category"] == "ambulans"


async def seed_pranks(lab: Lab, caller: str, count: int) -> None:
    store = Database(lab.settings.database_url)
    await store.migrate()
    now = datetime.now(timezone.utc)
    for n in range(count):
        at = now - timedelta(days=n + 1)
        await CallRecords(store).save(CallRecord(f"seed.{n}", caller, caller, "112", at, None, at, None, "112", 1.0, None,
                                         None, "abandoned", 16, "Normal Clearing", "caller", None))
        await CallRepository(store).mark_prank(f"seed.{n}")
    await store.close()


def test_a_caller_who_speaks_is_not_a_ghost(bots, lab: Lab) -> None:
    engine = lab.engine()
    voice = PROJECT_DIR / "sounds" / "id" / "fallback.wav"       # any speech will do
    call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}", play=voice)
    queued = engine.wait_log("caller queued", timeout=30)
    finish(engine, call, queued["linkedid"])
    [record] = lab.calls()
    assert record["ivr"]["ivr_digits"] == "" and record["ghost"] is False
