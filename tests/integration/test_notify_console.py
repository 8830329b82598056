"""Notifications on the real console process: a local SMTP server (aiosmtpd), a local Telegram
Bot API (`POST /bot<token>/sendMessage`) and a webhook sink, all on loopback, the agencies'
duty hours set so that it is "night" now. A fire ticket dispatched to DAMKAR (quiet hours on)
still reaches its heads by e-mail and Telegram (kebakaran goes at any hour), with a signed
dispatch.sent webhook, and its move a dispatch.status; a crime ticket to POLRES at night tells
no head (not deferred: nothing is written for them) though the webhook goes; with the SMTP
server down, e-mail rows retry while Telegram arrives; the console killed with e-mail pending
and restarted with the server back delivers each e-mail once."""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from callengine.core.settings import DEFAULT_AGENCIES, load_settings
from callengine.tickets.webhooks import SIGNATURE_HEADER, signature
from console_lab import ConsoleLab, call_records, save_all
from lab import free_port
from test_console_desk import desks  # noqa: F401 (the desks fixture: a person's session)
from test_console_tickets import NOW, PASSWORD, call

pytestmark = pytest.mark.integration
TOKEN = "123456:test-token-abcdefghij"
SECRET = "webhook-secret-for-tests"
KADIS, KABID = "kadis.damkar@samarindakota.go.id", "kabid.damkar@samarindakota.go.id"


class Mailbox:
    """aiosmtpd on loopback, in its own thread: every message kept (recipients, bytes)."""

    def __init__(self, port: int) -> None:
        self.port, self.messages = port, []
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((tuple(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str, ticket: str) -> list[str]:
        return [text for rcpts, text in self.messages if address in rcpts and ticket in text]


class Sink:
    """The Bot API's sendMessage and a webhook receiver on loopback, in their own thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self.telegram: list[dict[str, Any]] = []
        self.hooks: list[tuple[dict[str, str], bytes]] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        assert self.ready.wait(10)

    def _serve(self) -> None:
        async def send(request: web.Request) -> web.Response:
            if request.match_info["token"] != TOKEN:
                return web.json_response({"ok": False, "description": "Unauthorized"}, status=401)
            message = await request.json()
            self.telegram.append(message)
            return web.json_response({"ok": True, "result": {"message_id": len(self.telegram),
                                                             "chat": {"id": int(message["chat_id"])},
                                                             "text": message["text"]}})

        async def hook(request: web.Request) -> web.Response:
            self.hooks.append((dict(request.headers), await request.read()))
            return web.Response(status=204)

        async def start() -> None:
            app = web.Application()
            app.router.add_post(r"/bot{token}/sendMessage", send)
            app.router.add_post("/hook", hook)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self.ready.set()
        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def chats(self, chat: str, ticket: str) -> list[str]:
        return [m["text"] for m in self.telegram if str(m["chat_id"]) == chat and ticket in m["text"]]

    def events(self, name: str, ticket: str) -> list[dict[str, Any]]:
        found = []
        for headers, body in self.hooks:
            event = json.loads(body)
            assert headers[SIGNATURE_HEADER] == signature(SECRET, body)
            if event["event"] == name and ticket in body.decode():
                found.append({**event, "delivery": headers["X-Callengine-Delivery"]})
        return found


def night_hours() -> str:
    """A duty-hours window that is not now (the centre's time): it is night for the agencies."""
    hour = datetime.now(ZoneInfo("Asia/Makassar")).hour
    start = hour + 3 if hour + 4 <= 23 else hour - 4
    return f"{start:02d}:00-{start:02d}:59"


def agencies(folder: Path, smtp: int, sink: int) -> Path:
    text = DEFAULT_AGENCIES.read_text()
    text = text.replace("notify = Kepala Dinas Hendra Wijaya <kadis.damkar@samarindakota.go.id>, "
                        "Kabid Operasi Rudi Hartono <+6281250012001> <tg:100200301>\nnotify_duty_hours_only = no",
                        f"notify = Kepala Dinas Hendra Wijaya <{KADIS}> <tg:100200300>, Kabid Operasi Rudi "
                        f"Hartono <+6281250012001> <{KABID}> <tg:100200301>\nnotify_duty_hours_only = yes\n"
                        f"duty_hours = {night_hours()}")
    text = text.replace("Kabag Ops Kompol Yudi Pratama <+6281250042002>\nnotify_duty_hours_only = yes",
                        "Kabag Ops Kompol Yudi Pratama <+6281250042002> <kabagops@polresta.go.id> <tg:100400402>"
                        f"\nnotify_duty_hours_only = yes\nduty_hours = {night_hours()}")
    assert "tg:100200300" in text and "tg:100400402" in text
    text = re.sub(r"\nemail = no.*?\n", "\nemail = yes\n", text)
    text = re.sub(r"\nemail_port = 25\n", f"\nemail_port = {smtp}\n", text)
    text = re.sub(r"\ntelegram = no.*?\n", "\ntelegram = yes\n", text)
    text = re.sub(r"\ntelegram_url = .*?\n", f"\ntelegram_url = http://127.0.0.1:{sink}\n", text)
    text = re.sub(r"\nsend_retry_after = .*?\n", "\nsend_retry_after = 1s\n", text)
    text = re.sub(r"\nsend_retry_max = .*?\n", "\nsend_retry_max = 2s\n", text)
    text = re.sub(r"\nsend_attempts = .*?\n", "\nsend_attempts = 60\n", text)
    path = folder / "agencies.conf"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-notify-"))
    mailbox, sink = Mailbox(free_port()), Sink()
    mailbox.start()
    lab = ConsoleLab(folder, f"[paths]\nagencies = {agencies(folder, mailbox.port, sink.port)}\n"
                             f"[webhooks]\nurls = http://127.0.0.1:{sink.port}/hook\n")
    settings = load_settings(lab.config)
    settings.runtime_dir.mkdir(parents=True, exist_ok=True)
    settings.secrets_file.write_text(f"[secrets]\nwebhook = {SECRET}\ntelegram = {TOKEN}\n")
    for name, role in (("taker1", "calltaker"), ("spv1", "supervisor")):
        lab.add_user(name, role, PASSWORD)
    lab.numbers = asyncio.run(seed(lab.config))  # type: ignore[attr-defined]
    lab.mailbox, lab.sink, lab.db = mailbox, sink, settings.runtime_dir / "callengine.db"  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    mailbox.stop()
    sink.loop.call_soon_threadsafe(sink.loop.stop)
    shutil.rmtree(folder, ignore_errors=True)


async def seed(config: Path) -> dict[str, str]:
    async with call_records(config) as records:
        numbers = await save_all(records, [call(f"{n}.1", f"+628{n}{n}11111111", "answered", 10 * n)
                                           for n in range(1, 4)])
        await records.tickets.change(numbers["2.1"], {"category": "kriminal", "incident_type": "Pencurian"}, NOW)
    return numbers


async def until(what: str, probe: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = probe()
        if found:
            return found
        await asyncio.sleep(0.1)  # wait-ok: polling the sinks and the delivery log for the outbox's work
    raise AssertionError(f"no {what} within {timeout} s")


def rows(centre: ConsoleLab, assignment: int) -> list[dict[str, Any]]:
    """The written channels' rows of the delivery log (the duty phone's voice rows aside: no engine here)."""
    with sqlite3.connect(centre.db) as c:  # type: ignore[attr-defined]
        c.row_factory = sqlite3.Row
        return [dict(r) for r in c.execute("SELECT * FROM notifications WHERE assignment_id = ? AND channel != 'voice' "
                                           "ORDER BY id",
                                           (assignment,))]


async def dispatch(desk: Any, ticket: str, agency: str) -> int:
    status, body = await desk.call("POST", f"/api/v1/tickets/{ticket}/dispatch", {"agencies": [agency], "note": "cepat"})
    assert status == 201, body
    return int(body["assignments"][0]["id"])


async def test_a_fire_at_night_reaches_damkars_heads_and_the_webhooks_sign_the_dispatch_and_the_move(
        centre: ConsoleLab, desks: Any) -> None:
    taker, mailbox, sink = await desks("taker1"), centre.mailbox, centre.sink  # type: ignore[attr-defined]
    ticket = centre.numbers["1.1"]  # type: ignore[attr-defined]
    assignment = await dispatch(taker, ticket, "DAMKAR")
    await until("e-mail to both heads", lambda: mailbox.to(KADIS, ticket) and mailbox.to(KABID, ticket))
    await until("Telegram to both heads", lambda: sink.chats("100200300", ticket) and sink.chats("100200301", ticket))
    [sent] = await until("dispatch.sent", lambda: sink.events("dispatch.sent", ticket))
    assert [a["agency"] for a in sent["assignments"]] == ["DAMKAR"] and sent["ticket"]["category"] == "kebakaran"
    assert "DAMKAR" in mailbox.to(KADIS, ticket)[0] and "+6281111111111" not in mailbox.to(KADIS, ticket)[0]

    status, _ = await taker.call("POST", f"/api/v1/assignments/{assignment}/status", {"status": "diterima"})
    assert status == 200
    [moved] = await until("dispatch.status", lambda: sink.events("dispatch.status", ticket))
    assert (moved["from"], moved["to"], moved["by"], moved["agency"]) == ("diteruskan", "diterima", "taker1", "DAMKAR")
    log = await until("every row sent", lambda: (found := rows(centre, assignment)) and all(
        r["status"] == "sent" for r in found) and found)
    assert sorted((r["channel"], r["recipient"]) for r in log) == sorted([
        ("email", KADIS), ("email", KABID), ("telegram", "100200300"), ("telegram", "100200301"),
        ("webhook", f"http://127.0.0.1:{sink.port}/hook"), ("webhook", f"http://127.0.0.1:{sink.port}/hook")])
    assert all(r["attempts"] == 1 and r["sent_at"] for r in log)


async def test_a_crime_at_night_tells_no_head_of_a_quiet_agency_but_the_webhook_goes(centre: ConsoleLab,
                                                                                     desks: Any) -> None:
    taker, sink = await desks("taker1"), centre.sink  # type: ignore[attr-defined]
    ticket = centre.numbers["2.1"]  # type: ignore[attr-defined]
    assignment = await dispatch(taker, ticket, "POLRES")
    await until("dispatch.sent", lambda: sink.events("dispatch.sent", ticket))
    assert [r["channel"] for r in rows(centre, assignment)] == ["webhook"]
    assert not sink.chats("100400402", ticket) and not centre.mailbox.to("kabagops@polresta.go.id", ticket)  # type: ignore[attr-defined]


async def test_smtp_down_retries_e_mail_while_telegram_arrives_and_a_restart_delivers_it_once(
        centre: ConsoleLab, desks: Any) -> None:
    taker, mailbox, sink = await desks("taker1"), centre.mailbox, centre.sink  # type: ignore[attr-defined]
    ticket = centre.numbers["3.1"]  # type: ignore[attr-defined]
    mailbox.stop()
    assignment = await dispatch(taker, ticket, "DAMKAR")
    await until("Telegram to both heads", lambda: sink.chats("100200300", ticket) and sink.chats("100200301", ticket))
    await until("e-mail retried", lambda: all(r["attempts"] >= 2 for r in rows(centre, assignment)
                                              if r["channel"] == "email"))
    mails = [r for r in rows(centre, assignment) if r["channel"] == "email"]
    assert len(mails) == 2 and all(r["status"] == "pending" and r["last_error"] for r in mails)

    centre.console.kill()                       # e-mail still pending: only the database knows
    mailbox.start()
    centre.console.start()
    await until("e-mail after the restart", lambda: mailbox.to(KADIS, ticket) and mailbox.to(KABID, ticket))
    await until("e-mail rows sent", lambda: all(r["status"] == "sent" for r in rows(centre, assignment)
                                                if r["channel"] == "email"))
    await asyncio.sleep(2)  # wait-ok: two more outbox rounds, to show nothing is sent twice
    assert len(mailbox.to(KADIS, ticket)) == 1 and len(mailbox.to(KABID, ticket)) == 1
    assert len(sink.chats("100200300", ticket)) == 1 and len(sink.events("dispatch.sent", ticket)) == 1
