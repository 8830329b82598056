"""SLA clocks on the real console process, with a tiny SLA (diterima 3s) and escalate_after 8s:
a fire ticket dispatched to DAMKAR and PDAM, PDAM accepting in time; the console killed before
DAMKAR's deadline and restarted, the restarted one escalates it to DAMKAR's heads (the deadline
came from the database, not from memory); killed again and restarted, it escalates to the
supervisor on duty, once: the head's escalation survives, nothing is doubled. The ticket, the
supervisor's open list, the day's report and the audit show them; a responder may not read them."""
from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from callengine.core.settings import DEFAULT_AGENCIES
from console_lab import ConsoleLab, call_records, save_all
from test_console_desk import desks  # noqa: F401 (the desks fixture: a person's session)
from test_console_tickets import NOW, PASSWORD, call

pytestmark = pytest.mark.integration
T = TypeVar("T")
TINY_SLA = "[sla]\ndefault = diterima 3s, diproses 30m\nescalate_after = 8s\n"
FIRE = {"incident_type": "Kebakaran rumah/permukiman", "kecamatan": "Samarinda Ulu", "kelurahan": "Air Hitam"}


def tiny_agencies(folder: Path) -> Path:
    """The shipped agencies.conf with its [sla] section replaced by the tiny one."""
    shipped = DEFAULT_AGENCIES.read_text()
    path = folder / "agencies.conf"
    path.write_text(re.sub(r"^\[sla\].*", TINY_SLA, shipped, flags=re.S | re.M))
    return path


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-sla-"))
    lab = ConsoleLab(folder, f"sla_check_every = 1\n[paths]\nagencies = {tiny_agencies(folder)}\n")
    for name, role, agency in (("taker1", "calltaker", None), ("spv1", "supervisor", None),
                               ("admin1", "admin", None), ("pdam1", "responder", "PDAM")):
        lab.add_user(name, role, PASSWORD, *(["--agency", agency] if agency else []))
    lab.numbers = asyncio.run(seed(lab.config))  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


async def seed(config: Path) -> dict[str, str]:
    async with call_records(config) as records:
        numbers = await save_all(records, [call("1.1", "+6281111111111", "answered", 10)])
        await records.tickets.change(numbers["1.1"], FIRE, NOW)
    return numbers


async def until(what: str, probe: Callable[[], Awaitable[T | None]], timeout: float = 30) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.2)  # wait-ok: polling the console's API for the watcher's round
    raise AssertionError(f"no {what} within {timeout} s")


def restarted(centre: ConsoleLab) -> datetime:
    """The console killed (no clean stop: as a crash) and started again; when it came back."""
    centre.console.kill()
    back = datetime.now(timezone.utc)
    centre.console.start()
    return back


async def test_a_missed_acceptance_escalates_across_two_console_restarts_never_doubled(centre: ConsoleLab,
                                                                                   desks: Any) -> None:
    taker, pdam = await desks("taker1"), await desks("pdam1")
    ticket = centre.numbers["1.1"]  # type: ignore[attr-defined]
    status, body = await taker.call("POST", f"/api/v1/tickets/{ticket}/dispatch",
                                    {"agencies": ["DAMKAR", "PDAM"], "note": "rumah terbakar"})
    assert status == 201, body
    ids = {a["agency"]: a["id"] for a in body["assignments"]}
    assert (await pdam.call("POST", f"/api/v1/assignments/{ids['PDAM']}/status", {"status": "diterima"}))[0] == 200
    first_back = restarted(centre)                      # before DAMKAR's 3 s deadline: only the database knows it
    spv = await desks("spv1")                           # sessions are kept in the database: a new one anyway

    async def escalations(count: int) -> list[dict[str, Any]] | None:
        status, found = await spv.call("GET", "/api/v1/escalations?open=1")
        assert status == 200, found
        return found["escalations"] if len(found["escalations"]) >= count else None

    [heads] = await until("escalation to DAMKAR's heads", lambda: escalations(1))
    assert (heads["agency"], heads["stage"], heads["level"], heads["ticket_number"]) == ("DAMKAR", "accept", 1, ticket)
    assert heads["notified"][0].startswith("Kepala Dinas") and heads["delay_s"] >= 0
    assert datetime.fromisoformat(heads["raised_at"]) >= first_back

    second_back = restarted(centre)
    spv = await desks("spv1")
    supervisor, again = await until("escalation to the supervisor on duty", lambda: escalations(2))
    assert again == heads                                                   # the same row, not a second one
    assert (supervisor["stage"], supervisor["level"], supervisor["notified"]) == ("accept", 2, ["spv1"])
    assert datetime.fromisoformat(supervisor["raised_at"]) >= second_back
    assert supervisor["delay_s"] >= 8

    await asyncio.sleep(2.5)  # wait-ok: two more of the watcher's rounds, to show they add nothing
    body = (await spv.call("GET", f"/api/v1/tickets/{ticket}"))[1]
    shown = {a["agency"]: [(e["stage"], e["level"]) for e in a["escalations"]] for a in body["assignments"]}
    assert shown == {"DAMKAR": [("accept", 1), ("accept", 2)], "PDAM": []}

    today = datetime.now(ZoneInfo("Asia/Makassar")).date().isoformat()
    report = (await spv.call("GET", f"/api/v1/sla?day={today}"))[1]
    rows = {r["agency"]: r for r in report["assignments"]}
    assert (rows["DAMKAR"]["accept"], rows["PDAM"]["accept"]) == ("missed", "met")
    assert rows["DAMKAR"]["accepted_at"] is None and rows["PDAM"]["accepted_at"]
    assert len(rows["DAMKAR"]["escalations"]) == 2 and report["summary"]["accept"]["missed"] == 1

    status, error = await (await desks("pdam1")).call("GET", "/api/v1/escalations")
    assert status == 403, error
    assert (await spv.call("GET", "/api/v1/sla?day=2-12-2026"))[0] == 400
    trail = (await (await desks("admin1")).call("GET", "/api/v1/audit?limit=100"))[1]["entries"]
    assert [(e["actor"], e["target"], e["detail"]["level"]) for e in trail if e["action"] == "sla.escalation"] == [
        ("sla", f"{ticket}/DAMKAR", 2), ("sla", f"{ticket}/DAMKAR", 1)]

    status, moved = await spv.call("POST", f"/api/v1/assignments/{ids['DAMKAR']}/status", {"status": "diterima"})
    assert status == 200, moved
    assert (await spv.call("GET", "/api/v1/escalations?open=1"))[1]["escalations"] == []
    assert len((await spv.call("GET", "/api/v1/escalations"))[1]["escalations"]) == 2
