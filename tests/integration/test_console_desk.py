"""The desk's ticket form on the real console process: a call taker writes the tickets they
answered (and unassigned ones), a supervisor any; each field checked by name; a prank
classification marks the call as `callengine calls mark-prank` does; wrap-up; the form's
options; CSRF and the audit."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar

from console_lab import ConsoleLab, call_records, save_all
from test_console_tickets import PASSWORD, call

pytestmark = pytest.mark.integration


async def seed(config: Path) -> dict[str, str]:
    """1.1 answered by taker1 (its ticket opened at answer, then the record attached), 2.1
    nobody answered (unassigned), 3.1 answered by taker2, 5.1 answered by taker1 and still going."""
    async with call_records(config) as records:
        first = call("1.1", "+6281111111111", "answered", 50)
        opened = await records.open_at_answer("1.1", first.caller, "kebakaran", "taker1", first.answered_at)
        assert opened is not None and opened.number
        going = await records.open_at_answer("5.1", "+6285555555555", "ambulans", "taker1", first.started_at)
        assert going is not None and going.number
        numbers = await save_all(records, (first, call("2.1", "+6282222222222", "abandoned", 40),
                                           replace(call("3.1", "+6283333333333", "answered", 30), agent="taker2")))
    assert numbers["1.1"] == opened.number
    return {**numbers, "5.1": going.number}


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-form-"))
    lab = ConsoleLab(folder)
    for name, role in (("taker1", "calltaker"), ("taker2", "calltaker"), ("super1", "supervisor"),
                       ("view1", "viewer"), ("admin1", "admin")):
        lab.add_user(name, role, PASSWORD)
    lab.numbers = asyncio.run(seed(lab.config))  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


class Desk:
    def __init__(self, centre: ConsoleLab, http: ClientSession) -> None:
        self.centre, self.http, self.csrf = centre, http, ""

    async def login(self, name: str) -> Desk:
        reply = await self.http.post(f"{self.centre.url}/login", data={"username": name, "password": PASSWORD},
                                     allow_redirects=False)
        assert reply.status == 303
        self.csrf = (await (await self.http.get(f"{self.centre.url}/api/v1/me")).json())["csrf_token"]
        return self

    async def call(self, method: str, path: str, body: Any = None, csrf: bool = True) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        reply = await self.http.request(method, f"{self.centre.url}{path}", json=body, headers=headers)
        return reply.status, await reply.json()


@pytest.fixture
async def desks(centre: ConsoleLab) -> Any:
    sessions: list[ClientSession] = []

    async def desk(name: str) -> Desk:
        sessions.append(ClientSession(cookie_jar=CookieJar(unsafe=True)))
        return await Desk(centre, sessions[-1]).login(name)
    yield desk
    for session in sessions:
        await session.close()


def number(centre: ConsoleLab, linkedid: str) -> str:
    return centre.numbers[linkedid]  # type: ignore[attr-defined,no-any-return]


FORM = {"classification": "darurat", "incident_type": "Kebakaran rumah/permukiman",
        "description": "Api di dapur, dua rumah terancam", "address": "Jl. Juanda Gg. 4 No. 12",
        "kecamatan": "Samarinda Ulu", "kelurahan": "Air Hitam", "lat": -0.4871, "lon": 117.1402,
        "caller_name": "Budi Santoso", "callback_number": "0811-1111-111", "victims": 2, "priority": 1}


async def test_a_taker_writes_the_ticket_they_answered_and_reads_it_back(centre: ConsoleLab, desks: Any) -> None:
    taker = await desks("taker1")
    path = f"/api/v1/tickets/{number(centre, '1.1')}"
    status, written = await taker.call("PATCH", path, FORM)
    assert status == 200, written
    status, ticket = await taker.call("GET", path)
    assert status == 200 and {k: ticket[k] for k in FORM} == {**FORM, "callback_number": "+628111111111"}
    assert ticket["taker"] == "taker1" and ticket["answered_at"] and ticket["updated_at"]
    assert [c["linkedid"] for c in ticket["calls"]] == ["1.1"]            # the record attached to it
    assert (await taker.call("PATCH", path, {"description": "Api sudah padam"}))[1]["kelurahan"] == "Air Hitam"
    trail = (await (await desks("admin1")).call("GET", "/api/v1/audit?limit=50"))[1]["entries"]
    assert any((e["actor"], e["action"], e["target"]) == ("taker1", "tickets.update", number(centre, "1.1"))
               and "kelurahan" in e["detail"]["fields"] for e in trail)


async def test_a_ticket_of_a_call_still_going_is_writable_before_its_record(centre: ConsoleLab, desks: Any) -> None:
    taker = await desks("taker1")
    path = f"/api/v1/tickets/{number(centre, '5.1')}"
    status, ticket = await taker.call("PATCH", path, {"incident_type": "Henti jantung", "victims": 1})
    assert status == 200 and ticket["incident_type"] == "Henti jantung" and ticket["category"] == "ambulans"
    assert (await taker.call("GET", path))[1]["calls"] == []


@pytest.mark.parametrize("body, field", [
    ({"classification": "palsu"}, "classification"), ({"lat": 95.0}, "lat"), ({"victims": "dua"}, "victims"),
    ({"priority": 9}, "priority"), ({"description": "x" * 5000}, "description"), ({"warna": "merah"}, "warna"),
    ({"incident_type": "Banjir"}, "incident_type"),                        # bencana's, not kebakaran's
    ({"kecamatan": "Palaran", "kelurahan": "Air Hitam"}, "kelurahan"),
    ({"duplicate_of": "SAM-19990101-0001"}, "duplicate_of"),               # no such ticket
])
async def test_a_field_refused_is_named(centre: ConsoleLab, desks: Any, body: dict[str, Any], field: str) -> None:
    status, error = await (await desks("taker1")).call("PATCH", f"/api/v1/tickets/{number(centre, '1.1')}", body)
    assert status == 400 and error["error"] == "bad_field" and error["message"].startswith(f"{field}:"), error


async def test_a_taker_may_not_write_another_takers_ticket_a_supervisor_may(centre: ConsoleLab,
                                                                            desks: Any) -> None:
    path = f"/api/v1/tickets/{number(centre, '3.1')}"
    status, error = await (await desks("taker1")).call("PATCH", path, {"description": "bukan punya saya"})
    assert status == 403 and error["error"] == "not_yours"
    assert (await (await desks("taker1")).call("POST", f"{path}/wrapup"))[0] == 403
    assert (await (await desks("super1")).call("PATCH", path, {"priority": 2}))[0] == 200
    unassigned = f"/api/v1/tickets/{number(centre, '2.1')}"
    assert (await (await desks("taker1")).call("PATCH", unassigned, {"classification": "ghost"}))[0] == 200
    viewer = await desks("view1")
    assert (await viewer.call("PATCH", unassigned, {"priority": 2}))[0] == 403
    assert (await viewer.call("GET", "/api/v1/desk/options"))[0] == 403
    assert (await (await desks("taker1")).call("GET", "/api/v1/tickets/SAM-19990101-0009"))[0] == 404
    assert (await (await desks("super1")).call("PATCH", "/api/v1/tickets/SAM-19990101-0009", {}))[0] == 404


async def test_a_write_without_the_csrf_token_is_refused(centre: ConsoleLab, desks: Any) -> None:
    status, error = await (await desks("taker1")).call("PATCH", f"/api/v1/tickets/{number(centre, '1.1')}",
                                                       {"priority": 3}, csrf=False)
    assert status == 403 and error["error"] == "csrf"


async def test_prank_marks_the_call_as_mark_prank_does_and_another_class_unmarks_it(centre: ConsoleLab,
                                                                                    desks: Any) -> None:
    taker, path = await desks("taker1"), f"/api/v1/tickets/{number(centre, '2.1')}"
    assert (await taker.call("PATCH", path, {"classification": "prank"}))[0] == 200
    assert (await taker.call("GET", path))[1]["calls"][0]["prank"] is True
    listed = centre.cli("calls", "list")
    assert listed.returncode == 0, listed.stderr
    assert (await taker.call("PATCH", path, {"classification": "salah_sambung"}))[0] == 200
    assert (await taker.call("GET", path))[1]["calls"][0]["prank"] is False


async def test_wrap_up_and_the_forms_options(centre: ConsoleLab, desks: Any) -> None:
    taker = await desks("taker1")
    status, ticket = await taker.call("POST", f"/api/v1/tickets/{number(centre, '1.1')}/wrapup")
    assert status == 200 and ticket["wrapped_up_at"]
    status, options = await taker.call("GET", "/api/v1/desk/options")
    assert status == 200 and len(options["gazetteer"]) == 10 and "darurat" in options["classifications"]
    assert "Banjir" in options["incident_types"]["bencana"]
    assert not centre.console.errors(), [(e["msg"], e.get("exc", "")[-600:]) for e in centre.console.errors()]
