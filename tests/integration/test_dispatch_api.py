"""Dispatch on the real console process: the rules' proposal, a fire ticket dispatched to DAMKAR
and PDAM, each agency's responder seeing and moving only their own assignment (another's is
404, never leaked), the lifecycle with its illegal moves refused by name, the ticket's status
following, the timeline on the ticket, the audit, CSRF and the roles."""
from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from console_lab import ConsoleLab, call_records, save_all
from test_console_desk import Desk, desks  # noqa: F401 (the desks fixture: a person's session)
from test_console_tickets import NOW, PASSWORD, call

pytestmark = pytest.mark.integration
FIRE = {"incident_type": "Kebakaran rumah/permukiman", "kecamatan": "Samarinda Ulu", "kelurahan": "Air Hitam"}


async def seed(config: Path) -> dict[str, str]:
    """Fire tickets (kebakaran) 1.1 to 5.1, all in Samarinda Ulu but 4.1 in Palaran."""
    async with call_records(config) as records:
        numbers = await save_all(records, [call(f"{n}.1", f"+628{n}{n}11111111", "answered", 10 * n)
                                           for n in range(1, 6)])
        for linkedid, ticket in numbers.items():
            place = {"kecamatan": "Palaran", "kelurahan": "Bantuas"} if linkedid == "4.1" else {}
            await records.tickets.change(ticket, {**FIRE, **place}, NOW)
    return numbers


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-dispatch-"))
    lab = ConsoleLab(folder)
    for name, role, agency in (("taker1", "calltaker", None), ("spv1", "supervisor", None), ("admin1", "admin", None),
                               ("view1", "viewer", None), ("dmk1", "responder", "DAMKAR"),
                               ("pdam1", "responder", "PDAM")):
        lab.add_user(name, role, PASSWORD, *(["--agency", agency] if agency else []))
    lab.numbers = asyncio.run(seed(lab.config))  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


def number(centre: ConsoleLab, linkedid: str) -> str:
    return centre.numbers[linkedid]  # type: ignore[attr-defined,no-any-return]


async def dispatched(taker: Desk, ticket: str, agencies: list[str]) -> dict[str, int]:
    status, body = await taker.call("POST", f"/api/v1/tickets/{ticket}/dispatch",
                                    {"agencies": agencies, "note": "dua rumah terbakar, butuh air"})
    assert status == 201, body
    return {a["agency"]: a["id"] for a in body["assignments"]}


async def test_a_fire_goes_to_damkar_and_pdam_each_responder_moves_their_own(centre: ConsoleLab,
                                                                            desks: Any) -> None:
    taker, dmk, pdam = await desks("taker1"), await desks("dmk1"), await desks("pdam1")
    ticket = number(centre, "1.1")
    status, proposal = await taker.call("GET", f"/api/v1/dispatch/proposal/{ticket}")
    assert status == 200 and proposal == {"number": ticket, "agencies": ["DAMKAR", "PDAM"], "assigned": {}}
    ids = await dispatched(taker, ticket, proposal["agencies"])
    assert (await taker.call("GET", f"/api/v1/tickets/{ticket}"))[1]["status"] == "diteruskan"

    mine = (await dmk.call("GET", "/api/v1/assignments"))[1]["assignments"]
    assert {a["agency"] for a in mine} == {"DAMKAR"} and ids["DAMKAR"] in [a["id"] for a in mine]
    assert {a["agency"] for a in (await pdam.call("GET", "/api/v1/assignments"))[1]["assignments"]} == {"PDAM"}
    status, error = await pdam.call("POST", f"/api/v1/assignments/{ids['DAMKAR']}/status", {"status": "diterima"})
    assert status == 404 and error["error"] == "not_found" and "DAMKAR" not in error["message"]

    path = f"/api/v1/assignments/{ids['DAMKAR']}/status"
    for step in ("diterima", "diproses", "selesai"):
        status, moved = await dmk.call("POST", path, {"status": step, "note": f"damkar {step}"})
        assert status == 200 and moved["status"] == step, moved
    status, error = await dmk.call("POST", path, {"status": "diproses"})
    assert status == 409 and error["error"] == "illegal_transition"
    assert "is selesai: it cannot become diproses" in error["message"]
    assert (await taker.call("GET", f"/api/v1/tickets/{ticket}"))[1]["status"] == "diteruskan"   # PDAM has not

    pdam_path = f"/api/v1/assignments/{ids['PDAM']}/status"
    for step, ticket_status in (("diterima", "diterima"), ("diproses", "diproses"), ("selesai", "selesai")):
        assert (await pdam.call("POST", pdam_path, {"status": step}))[0] == 200
        assert (await taker.call("GET", f"/api/v1/tickets/{ticket}"))[1]["status"] == ticket_status
    body = (await taker.call("GET", f"/api/v1/tickets/{ticket}"))[1]
    damkar = next(a for a in body["assignments"] if a["agency"] == "DAMKAR")
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in damkar["events"]] == [
        (None, "diteruskan", "taker1"), ("diteruskan", "diterima", "dmk1"), ("diterima", "diproses", "dmk1"),
        ("diproses", "selesai", "dmk1")]
    assert damkar["events"][1]["peer"] == "127.0.0.1" and damkar["events"][1]["device"].startswith("Python")
    assert damkar["note"] == "dua rumah terbakar, butuh air" and damkar["accept_by"] and damkar["process_by"]
    story = [(e["kind"], e.get("agency"), e.get("to")) for e in body["timeline"] if e["kind"] != "delivery"]
    assert story[:3] == [("call.started", None, None), ("call.answered", None, None), ("call.ended", None, None)]
    assert story.index(("dispatched", "DAMKAR", "diteruskan")) < story.index(("status", "DAMKAR", "diterima")) \
        < story.index(("status", "DAMKAR", "selesai"))
    assert [s for s in story if s[1] == "PDAM"] == [("dispatched", "PDAM", "diteruskan"), ("status", "PDAM", "diterima"),
                                                     ("status", "PDAM", "diproses"), ("status", "PDAM", "selesai")]
    times = [datetime.fromisoformat(e["at"]) for e in body["timeline"]]
    assert times == sorted(times)
    page = await (await taker.http.get(f"{centre.url}/tickets/{ticket}?lang=en")).text()
    assert not centre.console.errors(), centre.console.errors()
    assert "Timeline" in page and page.count('data-kind="status"') == 6 and "dua rumah terbakar, butuh air" in page

    trail = (await (await desks("admin1")).call("GET", "/api/v1/audit?limit=100"))[1]["entries"]
    kept = [(e["actor"], e["action"], e["target"]) for e in trail]
    assert ("taker1", "dispatch.send", ticket) in kept and ("pdam1", "refused.not_yours",
                                                            f"assignment/{ids['DAMKAR']}") in kept
    assert kept.count(("dmk1", "assignment.status", f"{ticket}/DAMKAR")) == 3


async def test_the_nearest_post_is_proposed_and_sla_deadlines_follow_the_category(centre: ConsoleLab,
                                                                                  desks: Any) -> None:
    taker = await desks("taker1")
    ticket = number(centre, "4.1")
    assert (await taker.call("GET", f"/api/v1/dispatch/proposal/{ticket}"))[1]["agencies"] == ["DAMKAR_SBR", "PDAM"]
    ids = await dispatched(taker, ticket, ["DAMKAR_SBR"])
    [made] = (await taker.call("GET", f"/api/v1/tickets/{ticket}"))[1]["assignments"]
    dispatched_at, accept_by, process_by = (datetime.fromisoformat(made[k]) for k in
                                            ("dispatched_at", "accept_by", "process_by"))
    assert (accept_by - dispatched_at).total_seconds() == 60 and (process_by - dispatched_at).total_seconds() == 300
    status, again = await taker.call("POST", f"/api/v1/tickets/{ticket}/dispatch", {"agencies": ["DAMKAR_SBR"]})
    assert status == 409 and again["error"] == "conflict"
    assert (await taker.call("GET", f"/api/v1/dispatch/proposal/{ticket}"))[1]["assigned"] == {
        "DAMKAR_SBR": "diteruskan"}
    assert ids


async def test_a_refusal_goes_back_to_the_supervisor_who_reopens_it(centre: ConsoleLab, desks: Any) -> None:
    taker, spv, dmk = await desks("taker1"), await desks("spv1"), await desks("dmk1")
    ticket = number(centre, "2.1")
    path = f"/api/v1/assignments/{(await dispatched(taker, ticket, ['DAMKAR']))['DAMKAR']}/status"
    status, error = await dmk.call("POST", path, {"status": "ditolak"})
    assert status == 400 and error["error"] == "bad_field" and "reason" in error["message"]
    assert (await dmk.call("POST", path, {"status": "ditolak", "note": "armada di lokasi lain"}))[0] == 200
    assert (await taker.call("GET", f"/api/v1/tickets/{ticket}"))[1]["status"] == "ditolak"
    refused = (await spv.call("GET", "/api/v1/assignments?status=ditolak"))[1]["assignments"]
    assert [a["ticket_number"] for a in refused] == [ticket]
    status, error = await dmk.call("POST", path, {"status": "diteruskan", "note": "coba lagi"})
    assert status == 403 and error["error"] == "forbidden"
    assert (await spv.call("POST", path, {"status": "diteruskan", "note": "armada lain tersedia"}))[0] == 200
    assert (await taker.call("GET", f"/api/v1/tickets/{ticket}"))[1]["status"] == "diteruskan"


@pytest.mark.parametrize("body, error", [
    ({"agencies": []}, "bad_field"), ({"agencies": ["NASA"]}, "bad_field"), ({"agencies": "DAMKAR"}, "bad_field"),
    ({"agencies": ["PDAM"], "note": 7}, "bad_field")])
async def test_a_bad_dispatch_is_refused_by_name(centre: ConsoleLab, desks: Any, body: dict[str, Any],
                                                 error: str) -> None:
    status, refused = await (await desks("spv1")).call("POST", f"/api/v1/tickets/{number(centre, '3.1')}/dispatch",
                                                        body)
    assert status == 400 and refused["error"] == error, refused


async def test_roles_csrf_and_the_agencies_directory(centre: ConsoleLab, desks: Any) -> None:
    ticket = number(centre, "3.1")
    taker, dmk, viewer = await desks("taker1"), await desks("dmk1"), await desks("view1")
    status, error = await taker.call("POST", f"/api/v1/tickets/{ticket}/dispatch", {"agencies": ["PDAM"]}, csrf=False)
    assert status == 403 and error["error"] == "csrf"
    assert (await dmk.call("POST", f"/api/v1/tickets/{ticket}/dispatch", {"agencies": ["PDAM"]}))[0] == 403
    assert (await viewer.call("GET", "/api/v1/assignments"))[0] == 403
    assert (await taker.call("GET", "/api/v1/dispatch/proposal/SMD-19990101-0001"))[0] == 404
    assert (await taker.call("POST", "/api/v1/assignments/abc/status", {"status": "diterima"}))[0] == 404
    status, bad = await taker.call("GET", "/api/v1/assignments?status=padam")
    assert status == 400 and "status" in bad["message"]
    status, directory = await viewer.call("GET", "/api/v1/agencies")
    codes = [a["code"] for a in directory["agencies"]]
    assert status == 200 and {"DAMKAR", "BPBD", "RSUD", "POLRES", "PDAM", "DISHUB", "SATPOLPP", "DINSOS",
                              "PMI"} <= set(codes)
    assert all(a["duty_phones"] for a in directory["agencies"])
    assert (await taker.call("GET", f"/api/v1/tickets/{ticket}"))[1]["status"] == "baru"   # nothing dispatched


async def test_each_responder_hears_only_their_agencys_changes_as_they_commit(centre: ConsoleLab,
                                                                              desks: Any) -> None:
    taker, dmk, pdam = await desks("taker1"), await desks("dmk1"), await desks("pdam1")
    ticket = number(centre, "5.1")
    streams = {}
    for name, desk in (("dmk1", dmk), ("pdam1", pdam), ("taker1", taker)):
        streams[name] = await desk.http.get(f"{centre.url}/api/v1/assignments/events")
        assert streams[name].status == 200 and streams[name].headers["Content-Type"] == "text/event-stream"
        assert await streams[name].content.readline() == b": open\n"       # listening before the dispatch
    ids = await dispatched(taker, ticket, ["PDAM"])
    assert (await pdam.call("POST", f"/api/v1/assignments/{ids['PDAM']}/status", {"status": "diterima"}))[0] == 200

    async def notices(name: str, count: int) -> list[dict[str, Any]]:
        found = []
        while len(found) < count:
            line = await asyncio.wait_for(streams[name].content.readline(), 5)
            if line.startswith(b"data: "):
                found.append(json.loads(line[6:]))
        return found
    heard = [(n["what"], n["agency"], n["status"], n["ticket_number"]) for n in await notices("pdam1", 2)]
    assert heard == [("dispatched", "PDAM", "diteruskan", ticket), ("changed", "PDAM", "diterima", ticket)]
    assert len(await notices("taker1", 2)) == 2                                # a dispatcher hears every agency
    with pytest.raises(asyncio.TimeoutError):
        await notices("dmk1", 1)                                               # nothing of PDAM's for DAMKAR
    for reply in streams.values():
        reply.close()
