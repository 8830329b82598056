"""The desk's read API on the real console process: tickets by number and by filter, with
their call and location, and the callback list of calls nobody answered; caller data for the
roles that work with it, not for viewers."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar

from callengine.calls.record import CallRecord
from console_lab import ConsoleLab, call_records, save_all

pytestmark = pytest.mark.integration
PASSWORD = "kopi tubruk pagi hari"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
WHERE = {"lat": -0.5022, "lon": 117.1536, "radius_m": 75.0, "source": "pidf-lo"}


def call(linkedid: str, caller: str, disposition: str, ago_min: int) -> CallRecord:
    started = NOW - timedelta(minutes=ago_min)
    return CallRecord(linkedid, caller, "0" + caller[3:], "112", started,
                      started + timedelta(seconds=9) if disposition == "answered" else None,
                      started + timedelta(seconds=60), "kebakaran", "112", 9.0,
                      "taker1" if disposition == "answered" else None, 51.0 if disposition == "answered" else None,
                      disposition, 16, "Normal Clearing", "caller", f"2026/12/02/{linkedid}.wav", location=WHERE,
                      locations=[WHERE])


async def seed(config: Path) -> dict[str, str]:
    async with call_records(config) as records:
        return await save_all(records, (
            call("1.1", "+6281111111111", "answered", 50), call("2.1", "+6282222222222", "abandoned", 40),
            call("3.1", "+6283333333333", "ended_in_ivr", 30), call("2.2", "+6282222222222", "answered", 20),
            replace(call("4.1", "+6284444444444", "failed", 10), recording=None, location=None)))


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-desk-"))
    lab = ConsoleLab(folder)
    lab.add_user("taker1", "calltaker", PASSWORD)
    lab.add_user("view1", "viewer", PASSWORD)
    lab.numbers = asyncio.run(seed(lab.config))  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


async def as_user(centre: ConsoleLab, name: str, path: str) -> tuple[int, Any]:
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
        login = await http.post(f"{centre.url}/login", data={"username": name, "password": PASSWORD},
                                allow_redirects=False)
        assert login.status == 303
        reply = await http.get(f"{centre.url}{path}")
        return reply.status, await reply.json()


async def test_a_ticket_by_number_has_its_call_and_location(centre: ConsoleLab) -> None:
    number = centre.numbers["1.1"]  # type: ignore[attr-defined]
    status, ticket = await as_user(centre, "taker1", f"/api/v1/tickets/{number}")
    assert status == 200 and ticket["number"] == number and ticket["number"].startswith("SAM-")
    [record] = ticket["calls"]
    assert (record["linkedid"], record["agent"], record["disposition"]) == ("1.1", "taker1", "answered")
    assert ticket["location"]["lat"] == WHERE["lat"] and ticket["status"] == "baru"
    assert (await as_user(centre, "taker1", "/api/v1/tickets/SAM-19990101-0001"))[0] == 404


async def test_tickets_filtered_by_caller_newest_first(centre: ConsoleLab) -> None:
    status, body = await as_user(centre, "taker1", "/api/v1/tickets?caller=082222222222")
    assert status == 200 and [t["linkedid"] for t in body["tickets"]] == ["2.2", "2.1"]
    everything = (await as_user(centre, "taker1", "/api/v1/tickets?status=baru"))[1]["tickets"]
    assert [t["linkedid"] for t in everything] == ["4.1", "2.2", "3.1", "2.1", "1.1"]
    assert (await as_user(centre, "taker1", "/api/v1/tickets?since=yesterday"))[0] == 400
    assert (await as_user(centre, "taker1", "/api/v1/tickets?caller=abc"))[0] == 400


async def test_the_callback_list_holds_unanswered_calls_and_says_who_was_reached_since(centre: ConsoleLab) -> None:
    status, body = await as_user(centre, "taker1", "/api/v1/callbacks")
    assert status == 200
    listed = {c["linkedid"]: c for c in body["callbacks"]}
    assert list(listed) == ["4.1", "3.1", "2.1"]                     # newest first, answered ones not listed
    assert listed["4.1"]["disposition"] == "failed"                  # could not get through: call them back
    assert listed["2.1"]["reached_since"] is not None                # called again 20 min later and answered
    assert listed["3.1"]["reached_since"] is None


async def test_a_viewer_gets_no_caller_data(centre: ConsoleLab) -> None:
    for path in ("/api/v1/tickets", f"/api/v1/tickets/{centre.numbers['1.1']}", "/api/v1/callbacks"):  # type: ignore[attr-defined]
        status, body = await as_user(centre, "view1", path)
        assert status == 403 and body["error"] == "forbidden"


async def test_a_numbers_history_counts_its_prank_marks_for_the_desk(centre: ConsoleLab) -> None:
    marked = centre.cli("calls", "mark-prank", "2.1")
    assert marked.returncode == 0, marked.stderr
    status, history = await as_user(centre, "taker1", "/api/v1/desk/history?caller=0822-2222-2222")
    assert status == 200 and history["caller"] == "+6282222222222" and history["prank_calls"] == 1
    assert [t["linkedid"] for t in history["tickets"]] == ["2.2", "2.1"]          # newest first
    status, history = await as_user(centre, "taker1", "/api/v1/desk/history?caller=0811-1111-1111")
    assert (status, history["prank_calls"], len(history["tickets"])) == (200, 0, 1)
    status, refused = await as_user(centre, "taker1", "/api/v1/desk/history?caller=bukan-nomor")
    assert status == 400 and refused["error"] == "bad_query"
    status, _ = await as_user(centre, "view1", "/api/v1/desk/history?caller=0811-1111-1111")
    assert status == 403
