"""The QA's call API on the real console process: calls found by a caller's local number and by
the other filters, paged; a call taker finds only their own; the recording (a real WAV made by
espeak-ng and processed as the engine does: SHA-256, Opus copy, waveform) played with HTTP
Range (206) and each play audited; the original only with a reason; a tampered WAV served with
its warning, the mismatch audited and raised as an alert."""
from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from callengine.audio.recordings import process_recording
from console_lab import ConsoleLab, call_records, save_all
from test_console_desk import desks  # noqa: F401 (the desks fixture: a person's session)
from test_console_tickets import NOW, PASSWORD, call

pytestmark = pytest.mark.integration


async def seed(config: Path, recordings: Path) -> dict[str, str]:
    wav = recordings / "2026/12/02/1.1.wav"
    wav.parent.mkdir(parents=True)
    subprocess.run(["espeak-ng", "-v", "id", "-w", str(wav.with_suffix(".raw.wav")),
                    "Ada kebakaran di Jalan Juanda gang empat"], check=True)
    subprocess.run(["sox", str(wav.with_suffix(".raw.wav")), "-r", "8000", "-c", "1", str(wav)], check=True)
    wav.with_suffix(".raw.wav").unlink()
    facts = process_recording(recordings, "2026/12/02/1.1.wav")
    async with call_records(config) as records:
        numbers = await save_all(records, [
            call("1.1", "+6281111111111", "answered", 50), call("2.1", "+6282222222222", "abandoned", 40),
            replace(call("3.1", "+6281111111111", "answered", 30), agent="taker2", prank=True, talk_s=30.0),
            replace(call("4.1", "+6284444444444", "failed", 10), recording=None, location=None)])
        await records.calls.set_recording_facts("1.1", asdict(facts))
        await records.tickets.change(numbers["3.1"], {"classification": "prank"}, NOW)
    with sqlite3.connect(config.parent / "rt" / "callengine.db") as db:      # the citizen rated 1.1's service 4
        db.execute("INSERT INTO ratings (ticket_id, score, comment, source, by, at) SELECT id, 4, '', 'link', "
                   "'link', '2026-12-02 08:00:00.000000' FROM tickets WHERE linkedid = '1.1'")
    return numbers


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-qa-"))
    lab = ConsoleLab(folder)
    for name, role in (("qa1", "qa"), ("taker1", "calltaker"), ("taker2", "calltaker"), ("view1", "viewer")):
        lab.add_user(name, role, PASSWORD)
    lab.numbers = asyncio.run(seed(lab.config, folder / "rec"))  # type: ignore[attr-defined]
    lab.recordings = folder / "rec"  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


async def test_calls_are_found_by_a_local_number_and_filters_newest_first(centre: ConsoleLab, desks: Any) -> None:
    qa = await desks("qa1")
    for form in ("081111111111", "6281111111111", "+62 811-1111-1111"):
        status, found = await qa.call("GET", f"/api/v1/calls?caller={form}")
        assert status == 200 and [c["linkedid"] for c in found["calls"]] == ["3.1", "1.1"], (form, found)
    assert found["total"] == 2 and found["calls"][1]["ticket"] == centre.numbers["1.1"]  # type: ignore[attr-defined]
    for query, expected in (("agent=taker2", ["3.1"]), ("prank=1", ["3.1"]), ("disposition=failed", ["4.1"]),
                            ("located=0", ["4.1"]), (f"ticket={centre.numbers['2.1']}", ["2.1"]),  # type: ignore[attr-defined]
                            ("limit=2&offset=2", ["2.1", "1.1"]), ("sort=talk_s&limit=1", ["1.1"]),
                            ("classification=prank", ["3.1"]), ("rating=4", ["1.1"]), ("rating=5", [])):
        status, found = await qa.call("GET", f"/api/v1/calls?{query}")
        assert status == 200 and [c["linkedid"] for c in found["calls"]] == expected, (query, found)
    for query, word in (("caller=abc", "caller"), ("from=2026-12-02T08:00", "offset"), ("prank=yes", "prank"),
                        ("rating=6", "rating"),
                        ("limit=5000", "limit"), ("sort=caller", "sort")):
        status, error = await qa.call("GET", f"/api/v1/calls?{query}")
        assert status == 400 and word in error["message"], (query, error)


async def test_a_call_taker_finds_only_their_own_calls_and_a_viewer_none(centre: ConsoleLab, desks: Any) -> None:
    taker = await desks("taker1")
    status, found = await taker.call("GET", "/api/v1/calls?caller=081111111111")
    assert status == 200 and [c["linkedid"] for c in found["calls"]] == ["1.1"]
    assert (await taker.call("GET", "/api/v1/calls/3.1"))[0] == 404          # taker2's call: not even that it exists
    assert (await taker.call("GET", "/api/v1/calls/1.1"))[1]["ticket"]["number"] == centre.numbers["1.1"]  # type: ignore[attr-defined]
    assert (await (await desks("view1")).call("GET", "/api/v1/calls"))[0] == 403


async def test_the_recording_plays_with_range_each_play_audited_the_original_needs_a_reason(
        centre: ConsoleLab, desks: Any) -> None:
    qa = await desks("qa1")
    url = f"{centre.url}/api/v1/calls/1.1/audio"
    whole = await qa.http.get(url)
    body = await whole.read()
    assert whole.status == 200 and whole.headers["Content-Type"] in ("audio/ogg", "audio/mpeg")
    assert whole.headers["X-Recording-Integrity"] == "ok" and whole.headers["Accept-Ranges"] == "bytes"
    part = await qa.http.get(url, headers={"Range": "bytes=100-199"})
    assert part.status == 206 and await part.read() == body[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    status, refused = await qa.call("GET", "/api/v1/calls/1.1/audio?original=1")
    assert status == 400 and refused["error"] == "reason_needed"
    original = await qa.http.get(f"{url}?original=1&reason=permintaan%20Polres%20no.%2012")
    assert original.status == 200 and (await original.read())[:4] == b"RIFF"
    assert "attachment" in original.headers["Content-Disposition"]
    assert (await qa.call("GET", "/api/v1/calls/4.1/audio"))[1]["error"] == "no_recording"
    with sqlite3.connect(Path(centre.config).parent / "rt" / "callengine.db") as db:
        kept = db.execute("SELECT actor, action, target, detail FROM audit WHERE target = 'call/1.1' "
                          "ORDER BY id").fetchall()
    assert [(a, b, c) for a, b, c, _ in kept] == [("qa1", "recording.play", "call/1.1"),
                                                 ("qa1", "recording.download", "call/1.1")]   # the range: no new play
    assert "permintaan Polres no. 12" in kept[1][3]


async def test_a_tampered_recording_is_served_with_its_warning_audited_and_alerted(centre: ConsoleLab,
                                                                                    desks: Any) -> None:
    wav = centre.recordings / "2026/12/02/1.1.wav"  # type: ignore[attr-defined]
    saved = wav.read_bytes()
    wav.write_bytes(saved[:-2] + b"\x01\x02")
    try:
        reply = await (await desks("qa1")).http.get(f"{centre.url}/api/v1/calls/1.1/audio")
        assert reply.status == 200 and reply.headers["X-Recording-Integrity"] == "mismatch"
    finally:
        wav.write_bytes(saved)
    with sqlite3.connect(Path(centre.config).parent / "rt" / "callengine.db") as db:
        assert db.execute("SELECT count(*) FROM audit WHERE action = 'recording.mismatch'").fetchone()[0] == 1
        [(kind, message)] = db.execute("SELECT kind, message FROM alerts").fetchall()
    assert kind == "recording_mismatch" and "1.1" in message
    assert [e for e in centre.console.errors() if e["msg"] != "recording checksum mismatch"] == []


async def test_the_search_on_both_databases(database_url: str) -> None:
    """JSON null for 'no location' and NULLs sorted last read the same on SQLite and PostgreSQL."""
    from callengine.db.calls import CallRepository
    from callengine.qa.search import CallSearch
    from zoneinfo import ZoneInfo

    from callengine.tickets.model import TicketNumbers
    from callengine.tickets.records import CallRecords
    from test_store import stored

    store = await stored(database_url)
    try:
        for record in (call("1.1", "+6281111111111", "answered", 50), call("2.1", "+6282222222222", "abandoned", 40),
                       replace(call("4.1", "+6284444444444", "failed", 10), location=None, locations=[])):
            await CallRecords(store, TicketNumbers("SMD", ZoneInfo("Asia/Makassar"))).save(record, record.ended_at)
        calls = CallRepository(store)

        async def found(**wanted: Any) -> list[str]:
            return [c.linkedid for c, _ in (await calls.search(CallSearch(**wanted)))[0]]
        assert await found() == ["4.1", "2.1", "1.1"]
        assert await found(located=False) == ["4.1"] and await found(located=True) == ["2.1", "1.1"]
        assert await found(sort="talk_s") == ["1.1", "4.1", "2.1"]            # no talk time: last
        assert await found(caller="+6281111111111", min_talk_s=50) == ["1.1"]
        page, total = await calls.search(CallSearch(limit=1, offset=2))
        assert total == 3 and [c.linkedid for c, _ in page] == ["1.1"] and page[0][1].startswith("SMD-")  # its ticket
    finally:
        await store.close()


async def test_the_search_page_and_the_call_page(centre: ConsoleLab, desks: Any) -> None:
    qa = await desks("qa1")
    page = await (await qa.http.get(f"{centre.url}/calls?caller=0811-1111-1111&from=2026-01-01")).text()
    assert page.count('href="/calls/') == 2 and 'href="/calls/3.1"' in page and "iseng" in page   # 3.1: prank
    bad = await qa.http.get(f"{centre.url}/calls?caller=abc")
    assert bad.status == 400 and "is not a phone number" in await bad.text()
    later = await (await qa.http.get(f"{centre.url}/calls?from=2099-01-01")).text()
    assert "Tidak ada panggilan yang cocok." in later
    reply = await qa.http.get(f"{centre.url}/calls/1.1")
    assert not [e for e in centre.console.errors() if "request" in e["msg"]], json.dumps(centre.console.errors()[-1])
    shown = await reply.text()
    for part in ('data-state="ok"', 'src="/api/v1/calls/1.1/audio"', 'id="waveform"'):   # marks: past its 3 s
        assert part in shown, part
    assert (await qa.http.get(f"{centre.url}/calls/..%2F..%2Fetc%2Fpasswd")).status == 404
    taker = await desks("taker1")
    assert (await taker.http.get(f"{centre.url}/calls/3.1")).status == 404


async def test_qa_reads_the_audit_per_call_and_per_person(centre: ConsoleLab, desks: Any) -> None:
    qa = await desks("qa1")
    status, trail = await qa.call("GET", "/api/v1/audit?linkedid=1.1")
    assert status == 200 and {e["action"] for e in trail["entries"]} >= {"recording.play", "recording.download"}
    assert {e["target"] for e in trail["entries"]} <= {"call/1.1", centre.numbers["1.1"]}  # type: ignore[attr-defined]
    status, mine = await qa.call("GET", "/api/v1/audit?user=qa1&limit=1000")
    assert status == 200 and mine["entries"] and {e["actor"] for e in mine["entries"]} == {"qa1"}
    status, error = await qa.call("GET", "/api/v1/audit")                  # the whole trail: admins only
    assert status == 400 and "per call" in error["message"]
    assert (await qa.call("GET", "/api/v1/audit?linkedid=9.9"))[0] == 404
    assert (await (await desks("taker1")).call("GET", "/api/v1/audit?user=taker1"))[0] == 403


async def test_rings_and_holds_round_trip_on_both_databases(database_url: str) -> None:
    """The moments come back as stored; a call stored before migration 0017 reads none, as a
    call rebuilt from CEL does."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import bindparam, text
    from zoneinfo import ZoneInfo

    from callengine.db.calls import CallRepository
    from callengine.db.database import MIGRATIONS, Database
    from callengine.db.types import UtcDateTime
    from callengine.tickets.model import TicketNumbers
    from callengine.tickets.records import CallRecords

    def upgrade(connection: Any, revision: str) -> None:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    store = Database(database_url)
    try:
        async with store.engine.begin() as c:
            await c.run_sync(upgrade, "0016")
            await c.execute(text("INSERT INTO calls (linkedid, caller_raw, started_at, ended_at, disposition, ivr) "
                                 "VALUES ('0.1', '', :at, :at, 'failed', '{}')")
                            .bindparams(bindparam("at", NOW, type_=UtcDateTime())))
        await store.migrate()
        moments = {"rings": [{"at": NOW.isoformat(), "agent": "taker1", "no_answer": False}],
                   "holds": [{"start": NOW.isoformat(), "end": None, "by": "taker1"}]}
        held = replace(call("1.1", "+6281111111111", "answered", 50), moments=moments)
        await CallRecords(store, TicketNumbers("SMD", ZoneInfo("Asia/Makassar"))).save(held, held.ended_at)
        calls = CallRepository(store)
        assert (await calls.get("1.1")).moments == moments  # type: ignore[union-attr]
        assert (await calls.get("0.1")).moments == {}       # type: ignore[union-attr]
    finally:
        await store.close()
