"""Reports on the real console process and the command line: yesterday's calls (local time) seeded
through the store; the JSON API and its downloads for supervisors, viewers and admins only (a
call taker and a responder get 403), a bad period a 400 naming its parameter; `callengine
report` in each format; the daily summary e-mailed (aiosmtpd on loopback) to both heads once,
and not again after the console restarts."""
from __future__ import annotations

import asyncio
import io
import re
import shutil
import sqlite3
import subprocess
import tempfile
import zipfile
from datetime import datetime, timedelta
from email import message_from_string
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from callengine.calls.record import CallRecord
from callengine.core.settings import DEFAULT_AGENCIES, load_settings
from console_lab import ConsoleLab, call_records, save_all
from lab import free_port
from test_console_desk import Desk, desks  # noqa: F401 (the desks fixture: a person's session)
from test_console_tickets import PASSWORD
from test_notify_console import Mailbox, until

pytestmark = pytest.mark.integration
WITA = ZoneInfo("Asia/Makassar")
YESTERDAY = datetime.now(WITA).date() - timedelta(days=1)
HEADS = ("walikota@samarindakota.go.id", "kadis.kominfo@samarindakota.go.id")
SUBJECT = f"Ringkasan harian 112 Samarinda {YESTERDAY.isoformat()}"


def call(linkedid: str, hour: int, disposition: str, wait: float) -> CallRecord:
    started = datetime.combine(YESTERDAY, datetime.min.time(), WITA).replace(hour=hour)
    answered = started + timedelta(seconds=wait) if disposition == "answered" else None
    return CallRecord(linkedid, "+6281111111111", "081111111111", "112", started, answered,
                      started + timedelta(seconds=wait + 60), "kebakaran", "112", wait,
                      "taker1" if answered else None, 60.0 if answered else None, disposition, 16, "Normal Clearing",
                      "caller", None)


def agencies(folder: Path, smtp: int) -> Path:
    text = re.sub(r"\nemail = no.*?\n", "\nemail = yes\n", DEFAULT_AGENCIES.read_text())
    path = folder / "agencies.conf"
    path.write_text(re.sub(r"\nemail_port = 25\n", f"\nemail_port = {smtp}\n", text))
    return path


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-reports-"))
    mailbox = Mailbox(free_port())
    mailbox.start()
    lab = ConsoleLab(folder, f"[paths]\nagencies = {agencies(folder, mailbox.port)}\n"
                             f"[reports]\ndaily_at = 00:00\ndaily_to = {', '.join(HEADS)}\n")
    for name, role, extra in (("taker1", "calltaker", ()), ("spv1", "supervisor", ()), ("view1", "viewer", ()),
                              ("admin1", "admin", ()), ("dmk1", "responder", ("--agency", "DAMKAR"))):
        lab.add_user(name, role, PASSWORD, *extra)
    asyncio.run(seed(lab.config))
    lab.mailbox, lab.db = mailbox, load_settings(lab.config).runtime_dir / "callengine.db"  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    mailbox.stop()
    shutil.rmtree(folder, ignore_errors=True)


async def seed(config: Path) -> None:
    async with call_records(config) as records:     # 2 answered (12 s and 25 s), 1 abandoned
        await save_all(records, [call("1.1", 9, "answered", 12), call("1.2", 10, "answered", 25),
                                 call("1.3", 11, "abandoned", 40)])


async def download(desk: Desk, path: str) -> tuple[int, dict[str, str], bytes]:
    reply = await desk.http.get(f"{desk.centre.url}{path}")
    return reply.status, dict(reply.headers), await reply.read()


async def test_supervisors_viewers_and_admins_read_every_table_others_are_refused(centre: ConsoleLab,
                                                                                desks: Any) -> None:
    day = YESTERDAY.isoformat()
    for name in ("spv1", "view1", "admin1"):
        status, body = await (await desks(name)).call("GET", f"/api/v1/reports?day={day}")
        assert status == 200, body
        assert body["period"] == {"kind": "day", "from": day, "to": day, "label": body["period"]["label"]}
        summary = {r["indikator"]: r for r in next(t for t in body["tables"] if t["name"] == "ringkasan")["rows"]}
        assert (summary["Panggilan masuk"]["nilai"], summary["Dijawab"]["nilai"]) == (3, 2)
        assert summary["Dijawab ≤15 detik (dari ditawarkan)"]["persen"] == 0.3333
        assert {t["name"] for t in body["tables"]} >= {"harian", "sla_instansi", "penilaian", "qa", "petugas"}
    for name in ("taker1", "dmk1"):
        person = await desks(name)
        assert (await person.call("GET", f"/api/v1/reports?day={day}"))[0] == 403
        assert (await download(person, f"/api/v1/reports/export?day={day}&format=csv"))[0] == 403


async def test_a_bad_period_is_a_400_naming_the_parameter(desks: Any) -> None:
    spv = await desks("spv1")
    for query, named in (("day=2026-13-01", "day"), ("month=2026-1", "month"), ("from=2026-12-01", "to"),
                         ("from=2026-12-10&to=2026-12-01", "to"), ("day=2026-12-01&month=2026-12", "month"),
                         ("", "day")):
        status, body = await spv.call("GET", f"/api/v1/reports?{query}")
        assert status == 400 and body["error"] == "bad_query" and body["message"].startswith(named), (query, body)
    status, body = await spv.call("GET", "/api/v1/reports/export?month=2026-12&format=docx")
    assert status == 400 and body["message"].startswith("format")


async def test_the_exports_download_in_each_format(desks: Any) -> None:
    viewer, month = await desks("view1"), f"{YESTERDAY:%Y-%m}"
    status, headers, body = await download(viewer, f"/api/v1/reports/export?month={month}&format=xlsx")
    assert status == 200 and headers["Content-Disposition"] == f'attachment; filename="laporan-112-{month}.xlsx"'
    assert load_workbook(io.BytesIO(body))["ringkasan"]["B2"].value == 3
    status, headers, body = await download(viewer, f"/api/v1/reports/export?month={month}&format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv") and "Panggilan masuk,3," in body.decode()
    status, headers, body = await download(viewer, f"/api/v1/reports/export?month={month}&format=pdf")
    assert status == 200 and headers["Content-Type"] == "application/pdf" and body.startswith(b"%PDF")


def test_the_command_line_writes_each_format(centre: ConsoleLab, tmp_path: Path) -> None:
    day = YESTERDAY.isoformat()
    for name in ("r.csv", "r.zip", "r.xlsx", "r.pdf"):
        done = centre.cli("report", "--day", day, "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        assert "membaca panggilan" in done.stderr and str(tmp_path / name) in done.stdout
    assert "Panggilan masuk,3," in (tmp_path / "r.csv").read_text()
    with zipfile.ZipFile(tmp_path / "r.zip") as archive:
        assert "Dijawab,2,0.6667" in archive.read("01_ringkasan.csv").decode()
    assert load_workbook(tmp_path / "r.xlsx")["ringkasan"]["B4"].value == 2
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True).stdout
    assert "Samarinda" in text and "Panggilan masuk" in text
    forced = centre.cli("report", "--month", f"{YESTERDAY:%Y-%m}", "--format", "xlsx", "--out", str(tmp_path / "m"))
    assert forced.returncode == 0 and (tmp_path / "m").read_bytes().startswith(b"PK")
    bad = centre.cli("report", "--day", "2026-02-30", "--out", str(tmp_path / "x.csv"))
    assert bad.returncode == 1 and "--day" in bad.stderr and not (tmp_path / "x.csv").exists()


def subjects(centre: ConsoleLab) -> list[tuple[str, ...]]:
    return [rcpts for rcpts, text in centre.mailbox.messages  # type: ignore[attr-defined]
            if str(make_header(decode_header(message_from_string(text)["Subject"]))) == SUBJECT]


async def test_the_daily_summary_reaches_each_head_once_even_across_a_restart(centre: ConsoleLab) -> None:
    sent = await until("the daily summary to both heads", lambda: len(subjects(centre)) == 2 and subjects(centre))
    assert sorted(r for rcpts in sent for r in rcpts) == sorted(HEADS)
    [(_, text), *_] = [m for m in centre.mailbox.messages if m[0] == sent[0]]  # type: ignore[attr-defined]
    body = message_from_string(text).get_payload(decode=True).decode()
    assert "Panggilan masuk" in body and "Waktu tanggap instansi dan SLA" in body
    centre.console.kill()
    start = len(centre.console.lines)
    centre.console.start()
    centre.console.wait_log("daily summary already written", start=start, day=YESTERDAY.isoformat())
    assert len(subjects(centre)) == 2
    with sqlite3.connect(centre.db) as c:  # type: ignore[attr-defined]
        assert c.execute("SELECT count(*) FROM notifications WHERE subject = ?", (SUBJECT,)).fetchone() == (2,)
