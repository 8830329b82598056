"""Roster edits through the real console process: the shipped roster.conf (with its comments), a
swap and an override through the API, the file on disk changed by exactly those lines, one audit
row per write (refused ones too), a refused edit a 400 with its reason and the file untouched, and
the roles: supervisors and admins edit, viewers read, call takers and responders get 403."""
from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callengine.core.settings import PROJECT_DIR
from callengine.queueing.roster import load_roster
from console_lab import ConsoleLab
from test_console_desk import desks  # noqa: F401 (the desks fixture: a person's session)
from test_console_tickets import PASSWORD

pytestmark = pytest.mark.integration
WITA = ZoneInfo("Asia/Makassar")
SHIPPED = (PROJECT_DIR / "config" / "roster.conf").read_text()
LATER = datetime.now(WITA).date() + timedelta(days=20)


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-roster-"))
    lab = ConsoleLab(folder)
    (folder / "roster.conf").write_text(SHIPPED)
    for name, role, extra in (("taker1", "calltaker", ()), ("spv1", "supervisor", ()), ("view1", "viewer", ()),
                              ("admin1", "admin", ()), ("dmk1", "responder", ("--agency", "DAMKAR"))):
        lab.add_user(name, role, PASSWORD, *extra)
    lab.roster = folder / "roster.conf"   # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


def added_lines(before: str, after: str) -> list[str]:
    assert [line for line in before.splitlines() if line not in after.splitlines()] == []
    return [line for line in after.splitlines() if line not in before.splitlines()]


async def test_a_swap_and_an_override_are_written_into_roster_conf_and_audited(centre: ConsoleLab,
                                                                             desks: Any) -> None:
    path: Path = centre.roster  # type: ignore[attr-defined]
    path.write_text(SHIPPED)
    roster = load_roster(path, WITA)
    morning, afternoon = roster.rostered(LATER, "pagi"), roster.rostered(LATER, "siang")
    spv, admin = await desks("spv1"), await desks("admin1")
    status, body = await spv.call("POST", "/api/v1/roster/swap", {"date": LATER.isoformat(),
                                                                  "accounts": [morning[0], afternoon[0]]})
    assert status == 200, body
    swapped_morning = [afternoon[0], *morning[1:]]
    swapped_afternoon = [morning[0], *afternoon[1:]]
    assert [(c["shift"], c["after"]) for c in body["changes"]] == [("pagi", swapped_morning),
                                                                   ("siang", swapped_afternoon)]
    day = LATER.isoformat()
    assert added_lines(SHIPPED, path.read_text()) == [f"{day} pagi = {', '.join(swapped_morning)}",
                                                      f"{day} siang = {', '.join(swapped_afternoon)}"]
    assert (path.parent / "roster.conf.bak").read_text() == SHIPPED

    status, body = await admin.call("POST", "/api/v1/roster/overrides",
                                    {"date": day, "shift": "malam", "accounts": ["spv1", "taker6"]})
    assert status == 200 and body["changes"][0]["after"] == ["spv1", "taker6"], body
    assert added_lines(SHIPPED, path.read_text())[-1] == f"{day} malam = spv1, taker6"

    status, week = await spv.call("GET", f"/api/v1/roster?from={day}&days=2")
    assert status == 200 and [d["date"] for d in week["days"]] == [day, (LATER + timedelta(days=1)).isoformat()]
    pagi, _, malam = week["days"][0]["shifts"]
    assert [p["account"] for p in pagi["people"]] == swapped_morning and pagi["override"] is True
    assert [p["name"] for p in malam["people"]] == ["Supervisor Satu", "Operator Enam"]

    status, body = await spv.call("DELETE", f"/api/v1/roster/overrides/{day}/malam")
    assert status == 200 and body["changes"][0]["override"] is False
    assert f"{day} malam" not in path.read_text()

    status, trail = await admin.call("GET", "/api/v1/audit?limit=20")
    rows = [e for e in trail["entries"] if e["action"].startswith("roster.")]
    assert [(e["actor"], e["action"]) for e in rows[:3]] == [("spv1", "roster.override.remove"),
                                                             ("admin1", "roster.override"), ("spv1", "roster.swap")]
    assert rows[2]["detail"]["changes"][0]["before"] == morning and rows[1]["target"] == f"{day} malam"


async def test_a_refused_edit_answers_400_with_its_reason_and_leaves_the_file_alone(centre: ConsoleLab,
                                                                                 desks: Any) -> None:
    path: Path = centre.roster  # type: ignore[attr-defined]
    before, stamp = path.read_bytes(), path.stat().st_mtime_ns
    spv, admin = await desks("spv1"), await desks("admin1")
    day = LATER.isoformat()
    for body, error, message in (
            ({"date": day, "shift": "malam", "accounts": []}, "empty", f"that leaves shift malam on {day} with nobody"),
            ({"date": day, "shift": "malam", "accounts": ["budi"]}, "unknown", "'budi' is neither a person nor"),
            ({"date": "2020-01-01", "shift": "malam", "accounts": ["taker1"]}, "past",
             "shift malam on 2020-01-01 ended at 2020-01-02 07:00"),
            ({"date": "24-12-2026", "shift": "malam", "accounts": ["taker1"]}, "bad_field", "date: '24-12-2026'")):
        status, refused = await spv.call("POST", "/api/v1/roster/overrides", body)
        assert (status, refused["error"]) == (400, error) and message in refused["message"], refused
    status, refused = await spv.call("DELETE", f"/api/v1/roster/overrides/{LATER + timedelta(days=1)}/pagi")
    assert (status, refused["error"]) == (404, "not_found")
    status, refused = await spv.call("POST", "/api/v1/roster/swap", {"date": day, "accounts": ["taker1", "taker1"]})
    assert status == 400
    assert (await spv.call("POST", "/api/v1/roster/swap", {"date": day, "accounts": ["taker1", "taker2"]},
                           csrf=False))[0] == 403
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in path.parent.glob(".roster.conf*")) == []
    status, trail = await admin.call("GET", "/api/v1/audit?limit=20")
    refusals = [e["detail"].get("refused") for e in trail["entries"] if e["action"].startswith("roster.")][:6]
    assert refusals == ["bad_field", "not_found", "bad_field", "past", "unknown", "empty"]


async def test_call_takers_and_responders_are_refused_viewers_only_read(centre: ConsoleLab, desks: Any) -> None:
    day = LATER.isoformat()
    swap = {"date": day, "accounts": ["taker1", "taker3"]}
    for name in ("taker1", "dmk1"):
        person = await desks(name)
        assert (await person.call("GET", "/api/v1/roster"))[0] == 403
        assert (await person.call("POST", "/api/v1/roster/swap", swap))[0] == 403
        assert (await person.call("DELETE", f"/api/v1/roster/overrides/{day}/pagi"))[0] == 403
        assert (await person.http.get(f"{centre.url}/roster")).status == 403
    viewer = await desks("view1")
    status, week = await viewer.call("GET", "/api/v1/roster?days=7")
    assert status == 200 and len(week["days"]) == 7 and week["from"] == datetime.now(WITA).date().isoformat()
    assert (await viewer.call("POST", "/api/v1/roster/swap", swap))[0] == 403
    page = await viewer.http.get(f"{centre.url}/roster")
    html = await page.text()
    assert page.status == 200 and "Jadwal" in html and "Operator Satu" in html and 'id="swap-form"' not in html
    status, refused = await viewer.call("GET", "/api/v1/roster?days=400")
    assert (status, refused["error"]) == (400, "bad_field")


def test_a_supervisor_swaps_on_the_page_and_sees_a_refusal_beside_its_form(  # type: ignore[no-untyped-def]
        browser, centre: ConsoleLab) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from console_lab import log_in

    soon = datetime.now(WITA).date() + timedelta(days=3)          # within the week the page opens on
    path: Path = centre.roster  # type: ignore[attr-defined]
    roster = load_roster(path, WITA)
    morning, afternoon = roster.rostered(soon, "pagi")[0], roster.rostered(soon, "siang")[0]
    log_in(browser, centre.url, "spv1", PASSWORD)
    wait = WebDriverWait(browser, 10)
    wait.until(shown.url_to_be(f"{centre.url}/"))
    browser.find_element(By.LINK_TEXT, "Jadwal").click()
    cell = f'tr[data-date="{soon}"] td[data-shift="pagi"]'
    assert browser.find_element(By.CSS_SELECTOR, f'{cell} li[data-account="{morning}"]')

    override = browser.find_element(By.ID, "override-form")
    browser.execute_script("arguments[0].value = arguments[1]", override.find_element(By.NAME, "date"), str(soon))
    Select(override.find_element(By.NAME, "shift")).select_by_value("malam")
    override.find_element(By.CSS_SELECTOR, "button[type=submit]").click()       # nobody ticked
    error = override.find_element(By.CSS_SELECTOR, ".error")
    wait.until(lambda b: error.text)
    assert "Ditolak" in error.text and f"that leaves shift malam on {soon} with nobody" in error.text

    swap = browser.find_element(By.ID, "swap-form")
    browser.execute_script("arguments[0].value = arguments[1]", swap.find_element(By.NAME, "date"), str(soon))
    Select(swap.find_element(By.NAME, "first")).select_by_value(morning)
    Select(swap.find_element(By.NAME, "second")).select_by_value(afternoon)
    swap.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    status = "return document.getElementById('roster-status').textContent"   # read in the page: it redraws
    wait.until(lambda b: b.execute_script(status))                            # the page read again
    assert "roster.conf" in browser.execute_script(status)
    assert browser.find_element(By.CSS_SELECTOR, f'{cell} li[data-account="{afternoon}"]')
    assert browser.find_element(By.CSS_SELECTOR, f'{cell}[data-override="true"] .unoverride')
    assert f"{soon} pagi = {afternoon}" in path.read_text()
