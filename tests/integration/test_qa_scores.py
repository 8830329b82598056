"""QA scores on the real console process, on a small form of its own (config [paths] qa): a
score submitted is never changed (no route does it, a second submission is 409, the database
refuses an UPDATE), a correction is a new version and both stay visible, a fire whose location
was not asked fails, the averages per call taker, shift and criterion match the figures worked
out by hand over a seeded day, the calibration shows a call two reviewers scored side by side,
a call taker reads their own calls' scores only, the roles; the store on SQLite and PostgreSQL;
`callengine check` names a broken qa.conf."""
from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from callengine.calls.record import CallRecord
from console_lab import ConsoleLab, call_records, save_all
from test_console_desk import desks  # noqa: F401 (the desks fixture: a person's session)
from test_console_tickets import PASSWORD, call

pytestmark = pytest.mark.integration

WITA = timezone(timedelta(hours=8))
DAY = "from=2026-12-05T00:00%2B08:00&to=2026-12-06T07:00%2B08:00"     # the averages' own day
FORM = """
[form standar]
title = Standar uji 112
version = 3

[standar salam]
part = Pembukaan
text = Menyapa dengan salam standar 112
answer = yes/no
weight = 1

[standar lokasi]
part = Lokasi
text = Menanyakan lokasi kejadian
answer = yes/no
weight = 4
critical = kebakaran

[standar korban]
part = Penggalian informasi
text = Menanyakan jumlah dan kondisi korban
answer = yes/no
weight = 2
na = yes

[standar sikap]
part = Penutupan
text = Sikap tenang dan empatik
answer = 0-4
weight = 3
"""
PERFECT = {"salam": "yes", "lokasi": "yes", "korban": "yes", "sikap": 4}


def answered(linkedid: str, agent: str, category: str, local: str, day: str = "2026-12-02") -> CallRecord:
    """A call answered at `local` (WITA) on `day`: the roster's pagi, siang or malam."""
    started = datetime.fromisoformat(f"{day}T{local}+08:00").astimezone(timezone.utc)
    base = call(linkedid, "+6281111111111", "answered", 0)
    return replace(base, started_at=started, answered_at=started + timedelta(seconds=9),
                   ended_at=started + timedelta(seconds=60), agent=agent, category=category)


async def seed(config: Path) -> None:
    """On 2 December: a.1 taker1 pagi fire; a.2 taker1 siang ambulans; a.3 taker2 malam fire; a.4 taker2
    pagi flood; b.1 nobody answered; c.1 supervisor spv1 took it at overflow. On 5 December, for the
    averages alone: d.1 taker1 pagi fire, d.2 taker1 siang ambulans, d.3 taker2 malam fire, d.4 taker2
    pagi flood, d.5 taker2 siang, never scored."""
    async with call_records(config) as records:
        await save_all(records, (
            answered("d.1", "taker1", "kebakaran", "09:00", "2026-12-05"),
            answered("d.2", "taker1", "ambulans", "16:00", "2026-12-05"),
            answered("d.3", "taker2", "kebakaran", "23:30", "2026-12-05"),
            answered("d.4", "taker2", "bencana", "10:00", "2026-12-05"),
            answered("d.5", "taker2", "kriminal", "17:00", "2026-12-05"),
            answered("a.1", "taker1", "kebakaran", "09:00"), answered("a.2", "taker1", "ambulans", "16:00"),
            answered("a.3", "taker2", "kebakaran", "23:30"), answered("a.4", "taker2", "bencana", "10:00"),
            replace(answered("b.1", "taker1", "kebakaran", "11:00"), agent=None, answered_at=None,
                    disposition="abandoned"),
            answered("c.1", "spv1", "kebakaran", "12:00")))


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-scores-"))
    lab = ConsoleLab(folder)
    (folder / "qa.conf").write_text(FORM)
    with lab.config.open("a") as conf:
        conf.write(f"[paths]\nqa = {folder / 'qa.conf'}\n")
    for name, role, *extra in (("qa1", "qa"), ("qa2", "qa"), ("spv1", "supervisor"), ("taker1", "calltaker"),
                               ("taker2", "calltaker"), ("view1", "viewer"), ("admin1", "admin"),
                               ("dmk1", "responder", "--agency", "DAMKAR")):
        lab.add_user(name, role, PASSWORD, *extra)
    asyncio.run(seed(lab.config))
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


def database(centre: ConsoleLab) -> sqlite3.Connection:
    return sqlite3.connect(Path(centre.config).parent / "rt" / "callengine.db")


async def test_the_forms_are_the_ones_of_qa_conf(centre: ConsoleLab, desks: Any) -> None:
    status, found = await (await desks("taker1")).call("GET", "/api/v1/qa/forms")
    [form] = found["forms"]
    assert status == 200 and (form["name"], form["version"]) == ("standar", 3)
    assert [(c["id"], c["answer"], c["weight"], c["na"], c["critical"]) for c in form["criteria"]] == [
        ("salam", "yes/no", 1, False, False), ("lokasi", "yes/no", 4, False, ["kebakaran"]),
        ("korban", "yes/no", 2, True, False), ("sikap", "0-4", 3, False, False)]


async def test_a_score_is_never_changed_a_correction_is_a_new_version_and_both_stay(
        centre: ConsoleLab, desks: Any) -> None:
    qa1, qa2, spv = await desks("qa1"), await desks("qa2"), await desks("spv1")
    status, first = await qa1.call("POST", "/api/v1/calls/a.4/scores", {
        "form": "standar", "comment": "korban tidak ditanyakan",
        "answers": {**PERFECT, "lokasi": "no", "korban": {"value": "no", "comment": "tidak ada"}, "sikap": 3}})
    assert status == 201, first
    assert (first["version"], first["score"], first["failed_critical"], first["category"]) == (1, 32.5, False, "bencana")
    status, again = await qa1.call("POST", "/api/v1/calls/a.4/scores", {"form": "standar", "answers": PERFECT})
    assert status == 409 and again["error"] == "already_scored" and f"/api/v1/scores/{first['id']}/corrections" in \
        again["message"]
    for method, path in (("PATCH", f"/api/v1/scores/{first['id']}"), ("PUT", "/api/v1/calls/a.4/scores"),
                         ("DELETE", "/api/v1/calls/a.4/scores"), ("DELETE", f"/api/v1/scores/{first['id']}")):
        assert (await qa1.call(method, path, {}))[0] in (404, 405), (method, path)   # no route changes a score
    with database(centre) as db, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE scores SET score = 100 WHERE id = ?", (first["id"],))

    corrections = f"/api/v1/scores/{first['id']}/corrections"
    status, refused = await qa1.call("POST", corrections, {"answers": PERFECT})
    assert status == 400 and refused["message"].startswith("reason:")
    assert (await qa2.call("POST", corrections, {"answers": PERFECT, "reason": "saya tidak setuju"}))[0] == 403
    status, second = await qa1.call("POST", corrections, {
        "answers": {**PERFECT, "lokasi": "no", "sikap": 3}, "reason": "korban ditanyakan di menit ke-2"})
    assert status == 201 and (second["version"], second["previous_id"], second["score"]) == (2, first["id"], 52.5)
    status, stale = await spv.call("POST", corrections, {"answers": PERFECT, "reason": "koreksi supervisor"})
    assert status == 409 and f"version 2 (score {second['id']}) corrects it already" in stale["message"]

    status, listed = await qa2.call("GET", "/api/v1/calls/a.4/scores")
    assert status == 200 and [(s["id"], s["version"], s["score"], s["latest"]) for s in listed["scores"]] == [
        (first["id"], 1, 32.5, False), (second["id"], 2, 52.5, True)]
    assert listed["scores"][0]["answers"][2] == {"criterion": "korban", "value": "no", "out_of": 1, "weight": 2,
                                                 "critical": False, "comment": "tidak ada"}
    with database(centre) as db:
        kept = db.execute("SELECT actor, action, target FROM audit WHERE target = 'call/a.4' ORDER BY id").fetchall()
    assert kept == [("qa1", "score.submit", "call/a.4"), ("qa1", "score.correct", "call/a.4")]


async def test_a_fire_whose_location_was_not_asked_fails(centre: ConsoleLab, desks: Any) -> None:
    status, score = await (await desks("qa1")).call("POST", "/api/v1/calls/a.3/scores", {
        "form": "standar", "answers": {**PERFECT, "lokasi": "no"}})
    assert status == 201 and (score["percent"], score["score"], score["failed_critical"], score["failed"]) == (
        60.0, 0.0, True, ["lokasi"])


@pytest.mark.parametrize("path, body, error, field", [
    ("a.2", {"form": "standar", "answers": {**PERFECT, "sikap": 5}}, "bad_field", "answers.sikap:"),
    ("a.2", {"form": "standar", "answers": {**PERFECT, "salam": "na"}}, "bad_field", "answers.salam:"),
    ("a.2", {"form": "standar", "answers": {**PERFECT, "nada": "yes"}}, "bad_field", "answers.nada:"),
    ("a.2", {"answers": PERFECT}, "bad_field", "form:"),
    ("a.2", {"form": "standar", "answers": PERFECT, "score": 100}, "bad_field", "score:"),
    ("b.1", {"form": "standar", "answers": PERFECT}, "not_answered", "call b.1 was not answered"),
    ("z.9", {"form": "standar", "answers": PERFECT}, "not_found", "no call"),
])
async def test_a_bad_score_is_refused_naming_its_field(centre: ConsoleLab, desks: Any, path: str,
                                                        body: dict[str, Any], error: str, field: str) -> None:
    status, refused = await (await desks("qa2")).call("POST", f"/api/v1/calls/{path}/scores", body)
    assert status == {"bad_field": 400, "not_answered": 409, "not_found": 404}[error]
    assert refused["error"] == error and refused["message"].startswith(field), refused


async def test_a_supervisor_does_not_score_a_call_they_answered(centre: ConsoleLab, desks: Any) -> None:
    status, refused = await (await desks("spv1")).call("POST", "/api/v1/calls/c.1/scores",
                                                       {"form": "standar", "answers": PERFECT})
    assert status == 403 and "another reviewer scores it" in refused["message"]


async def scored_day(qa1: Any, qa2: Any) -> None:
    """d.1 by qa1 100 and by qa2 85; d.2 68.75; d.3 0 (a fire, location not asked: 60 before);
    d.4 32.5 corrected to 52.5."""
    made = {}
    for reviewer, linkedid, answers in (
            (qa1, "d.1", PERFECT), (qa2, "d.1", {**PERFECT, "sikap": 2}),
            (qa1, "d.2", {"salam": "no", "lokasi": "yes", "korban": "na", "sikap": 2}),
            (qa1, "d.3", {**PERFECT, "lokasi": "no"}), (qa1, "d.4", {**PERFECT, "lokasi": "no", "korban": "no",
                                                                       "sikap": 3})):
        status, made[linkedid] = await reviewer.call("POST", f"/api/v1/calls/{linkedid}/scores",
                                                     {"form": "standar", "answers": answers})
        assert status == 201, made
    status, corrected = await qa1.call("POST", f"/api/v1/scores/{made['d.4']['id']}/corrections", {
        "answers": {**PERFECT, "lokasi": "no", "sikap": 3}, "reason": "korban ditanyakan"})
    assert status == 201 and (made["d.4"]["score"], corrected["score"]) == (32.5, 52.5)


async def test_the_averages_and_the_calibration_match_the_figures_worked_out_by_hand(
        centre: ConsoleLab, desks: Any) -> None:
    qa1, qa2, spv = await desks("qa1"), await desks("qa2"), await desks("spv1")
    await scored_day(qa1, qa2)

    status, agents = await spv.call("GET", f"/api/v1/qa/averages?{DAY}&by=agent")
    assert status == 200 and agents["groups"] == [
        {"agent": "taker1", "scores": 3, "calls": 2, "average": 84.58, "failed_critical": 0},   # (100+85+68.75)/3
        {"agent": "taker2", "scores": 2, "calls": 2, "average": 26.25, "failed_critical": 1}]   # (0+52.5)/2
    status, shifts = await qa2.call("GET", f"/api/v1/qa/averages?{DAY}&by=shift")
    assert status == 200 and [(g["shift"], g["scores"], g["average"]) for g in shifts["groups"]] == [
        ("malam", 1, 0.0), ("pagi", 3, 79.17), ("siang", 1, 68.75)]              # pagi: (100+85+52.5)/3
    status, criteria = await qa1.call("GET", f"/api/v1/qa/averages?{DAY}&by=criterion")
    assert status == 200 and [(c["criterion"], c["answers"], c["na"], c["average"], c["failed_critical"])
                              for c in criteria["groups"]] == [
        ("salam", 5, 0, 80.0, 0), ("lokasi", 5, 0, 60.0, 1), ("korban", 4, 1, 100.0, 0), ("sikap", 5, 0, 75.0, 0)]
    status, later = await spv.call("GET", "/api/v1/qa/averages?from=2026-12-05T12:00%2B08:00"
                                          "&to=2026-12-06T07:00%2B08:00")
    assert status == 200 and later["by"] == "agent" and [(g["agent"], g["average"]) for g in later["groups"]] == [
        ("taker1", 68.75), ("taker2", 0.0)]
    for query, word in (("by=team", "by:"), ("from=kemarin", "from"), ("from=2026-12-02T08:00", "offset"),
                        ("from=2026-12-03T00:00%2B08:00&to=2026-12-02T00:00%2B08:00", "from: before to")):
        status, refused = await spv.call("GET", f"/api/v1/qa/averages?{query}")
        assert status == 400 and refused["error"] == "bad_query" and word in refused["message"], (query, refused)

    status, calibration = await qa1.call("GET", f"/api/v1/qa/calibration?{DAY}")
    [one] = calibration["calls"]
    assert status == 200 and (one["linkedid"], one["agent"], one["reviewers"], one["spread"]) == (
        "d.1", "taker1", ["qa1", "qa2"], 15.0)
    assert [s["score"] for s in one["scores"]] == [100.0, 85.0]
    assert [(c["criterion"], c["answers"], c["agree"]) for c in one["criteria"]][3] == (
        "sikap", {"qa1": 4, "qa2": 2}, False)

    for query, expected in (("scored=1", ["d.3", "d.2", "d.4", "d.1"]), ("scored=0", ["d.5"]),
                            ("min_score=80", ["d.1"]), ("max_score=10", ["d.3"]),
                            ("min_score=50&max_score=70", ["d.2", "d.4"])):
        status, found = await qa1.call("GET", f"/api/v1/calls?{DAY}&{query}")
        assert status == 200 and [c["linkedid"] for c in found["calls"]] == expected, (query, found)
    status, refused = await qa1.call("GET", "/api/v1/calls?min_score=80&max_score=20")
    assert status == 400 and "min_score" in refused["message"]


async def test_a_call_taker_sees_only_their_own_calls_scores_with_comments(centre: ConsoleLab, desks: Any) -> None:
    status, _ = await (await desks("qa1")).call("POST", "/api/v1/calls/a.2/scores", {
        "form": "standar", "answers": {**PERFECT, "sikap": {"value": 3, "comment": "nada agak tinggi"}},
        "comment": "cepat dan lengkap"})
    assert status == 201
    taker1, taker2 = await desks("taker1"), await desks("taker2")
    status, mine = await taker1.call("GET", "/api/v1/calls/a.2/scores")
    assert status == 200 and mine["scores"][0]["comment"] == "cepat dan lengkap"
    assert mine["scores"][0]["answers"][3]["comment"] == "nada agak tinggi"
    status, refused = await taker1.call("GET", "/api/v1/calls/a.3/scores")
    assert status == 404 and refused["error"] == "not_found"                     # taker2's: not even that it exists
    assert (await taker2.call("GET", "/api/v1/calls/a.3/scores"))[0] == 200


async def test_the_roles(centre: ConsoleLab, desks: Any) -> None:
    viewer, responder, taker, admin = (await desks("view1"), await desks("dmk1"), await desks("taker1"),
                                       await desks("admin1"))
    reads = ("/api/v1/qa/forms", "/api/v1/calls/a.1/scores", f"/api/v1/qa/averages?{DAY}",
             f"/api/v1/qa/calibration?{DAY}")
    for person in (viewer, responder):
        for path in reads:
            assert (await person.call("GET", path))[0] == 403, path
    for person in (viewer, responder, taker, admin):
        assert (await person.call("POST", "/api/v1/calls/a.2/scores",
                                  {"form": "standar", "answers": PERFECT}))[0] == 403
        assert (await person.call("POST", "/api/v1/scores/1/corrections",
                                  {"answers": PERFECT, "reason": "bukan hak saya"}))[0] == 403
    for path in reads[2:]:
        assert (await taker.call("GET", path))[0] == 403, path
    assert (await admin.call("GET", "/api/v1/calls/a.1/scores"))[0] == 200


def test_callengine_check_names_a_broken_qa_conf(tmp_path: Path) -> None:
    from lab import write_config

    config = write_config(tmp_path)
    broken = tmp_path / "qa.conf"
    broken.write_text(FORM.replace("critical = kebakaran", "critical = kebakaran, banjir"))
    with config.open("a") as conf:
        conf.write(f"[paths]\nqa = {broken}\n")
    done = subprocess.run([sys.executable, "-m", "callengine", "--config", str(config), "check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"callengine: config: {broken}: [standar lokasi] critical: 'banjir' is not a category of desk.conf "
        "(kebakaran, ambulans, kriminal, bencana, lainnya); or yes, no"]


async def test_the_store_on_both_databases(database_url: str) -> None:
    """Versions, the newest of each chain, uniqueness, the call search's score filters and the
    append-only guard read the same on SQLite and PostgreSQL."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from callengine.db.calls import CallRepository
    from callengine.db.scores import ScoreRepository
    from callengine.qa.scoring import Answer, Conflict, Score
    from callengine.qa.search import CallSearch
    from callengine.tickets.records import CallRecords
    from test_store import stored

    store = await stored(database_url)
    try:
        for record in (answered("a.1", "taker1", "kebakaran", "09:00"), answered("a.2", "taker2", "bencana", "16:00"),
                       replace(answered("a.3", "taker1", "ambulans", "23:30"), started_at=datetime(
                           2026, 12, 3, 8, tzinfo=WITA))):
            await CallRecords(store).save(record, record.ended_at)
        repo, at = ScoreRepository(store), datetime(2026, 12, 4, 9, tzinfo=WITA)
        call_a1 = await repo.call("a.1")
        assert call_a1 is not None and (call_a1.agent, call_a1.category) == ("taker1", "kebakaran")
        assert call_a1.answered_at == datetime(2026, 12, 2, 1, 0, 9, tzinfo=timezone.utc) and await repo.call("x") is None

        def score(linkedid: str, reviewer: str, value: float, version: int = 1, previous: int | None = None) -> Score:
            answers = (Answer("salam", 1, 1, 1, False, "jelas"), Answer("lokasi", 0 if not value else 1, 1, 4, True),
                       Answer("korban", None, 1, 2, False))
            return Score(0, linkedid, reviewer, version, previous, reviewer, "koreksi" if previous else None,
                         "standar", 3, "kebakaran", None, value or 20.0, value, not value, at, "10.0.0.5", answers)

        first = await repo.add(score("a.1", "qa1", 40.0))
        second = await repo.add(score("a.1", "qa1", 80.0, 2, first.id))
        other = await repo.add(score("a.1", "qa2", 0.0))
        flood = await repo.add(score("a.2", "qa1", 60.0))
        await repo.add(score("a.3", "qa1", 100.0))
        for taken in (score("a.1", "qa1", 90.0), score("a.1", "qa1", 90.0, 3, first.id)):   # a version, a fork
            with pytest.raises(Conflict):
                await repo.add(taken)
        read = await repo.get(second.id)
        assert read == second and read is not None and read.created_at.tzinfo == timezone.utc
        assert [a.to_json()["value"] for a in read.answers] == ["yes", "yes", "na"] and read.answers[0].comment == "jelas"
        assert [(s.reviewer, s.version) for s in await repo.of_call("a.1")] == [("qa1", 1), ("qa1", 2), ("qa2", 1)]
        day = (datetime(2026, 12, 2, tzinfo=WITA), datetime(2026, 12, 3, tzinfo=WITA))
        latest = await repo.latest(*day)
        assert [(s.id, c.linkedid, c.agent) for s, c in latest] == [(second.id, "a.1", "taker1"),
                                                                   (other.id, "a.1", "taker1"),
                                                                   (flood.id, "a.2", "taker2")]
        assert latest[1][0].failed_critical and latest[1][0].answers[1].failed

        calls = CallRepository(store)

        async def found(**wanted: Any) -> list[str]:
            return [c.linkedid for c, _ in (await calls.search(CallSearch(**wanted)))[0]]
        assert await found(scored=True) == ["a.3", "a.2", "a.1"] and await found(scored=False) == []
        assert await found(min_score=40, max_score=60) == ["a.2", "a.1"]     # a.1: (80 + 0) / 2, its newest versions
        assert await found(max_score=39.9) == [] and await found(min_score=100, agent="taker1") == ["a.3"]
        for statement in ("UPDATE scores SET score = 100", "DELETE FROM score_answers"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with store.begin() as conn:
                    await conn.execute(text(statement))
    finally:
        await store.close()
