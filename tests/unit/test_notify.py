"""Notifications on plain data: the heads' contacts, the [notify] keys, quiet hours (kebakaran
and ambulans at any hour), what a dispatch, a move and an escalation write, and the outbox's
retries with fakes: a channel that is down retries alone, a refusal is final, the attempts
count across a restart."""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callengine.core.conf import ConfigError
from callengine.core.settings import DEFAULT_AGENCIES, DEFAULT_DESK
from callengine.dispatch.config import load_agencies
from callengine.dispatch.model import Actor, Agency, Assignment, DispatchRules, Sla, forwarded
from callengine.dispatch.sla import FAILED, PENDING, SENT, Escalation, Notification
from callengine.notify.config import RetrySettings, TelegramSettings, load_messages, MessageSettings, EmailSettings
from callengine.notify.contacts import ContactError, parse_head
from callengine.notify.notifier import Plan, chain, quiet
from callengine.notify.outbox import Outbox, Outgoing, OutboxRow, Refused
from callengine.notify.webhooks import WebhookSender
from callengine.tickets.desk import load_desk
from callengine.tickets.model import Ticket

ZONE = ZoneInfo("Asia/Makassar")
NIGHT = datetime(2026, 12, 2, 23, 30, tzinfo=ZONE)
DAY = datetime(2026, 12, 2, 10, 0, tzinfo=ZONE)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def agency(code: str, quiet_hours: bool, *heads: str) -> Agency:
    return Agency(code, f"Dinas {code}", "x", ("+62541741113",), heads, quiet_hours, (time(7, 30), time(16)))


def ticket(category: str) -> Ticket:
    return Ticket(1, "1.1", "baru", category, "+6281111111111", DAY, "SMD-20261202-0001",
                  incident_type="Kebakaran rumah/permukiman", address="Jl. Juanda 4", kelurahan="Air Hitam",
                  kecamatan="Samarinda Ulu", lat=-0.5, lon=117.15, caller_name="Budi")


# ---- contacts and config ------------------------------------------------------------------

def test_a_head_carries_e_mail_phone_and_telegram_contacts_and_the_old_form_still_reads() -> None:
    head = parse_head("Kepala Dinas Hendra <kadis@damkar.go.id> <tg:100200301> <0812-5001-2001>")
    assert (head.name, head.emails, head.telegram, head.phones) == (
        "Kepala Dinas Hendra", ("kadis@damkar.go.id",), ("100200301",), ("+6281250012001",))
    assert parse_head("Kabid Operasi Rudi <+6281250012001>").phones == ("+6281250012001",)
    assert parse_head("Grup Siaga <tg:-1001234567>").telegram == ("-1001234567",)
    for bad in ("Kabid <tg:abc>", "<kadis@damkar.go.id>", "Kabid <kadis@damkar>", "Kabid <x"):
        with pytest.raises(ContactError):
            parse_head(bad)


def with_notify(tmp_path: Path, notify: str, heads: str | None = None) -> Path:
    text = DEFAULT_AGENCIES.read_text()
    text = text[:text.index("\n[notify]\n")] + "\n[notify]\nvoice = yes\n" + notify
    if heads is not None:
        text = text.replace("Kabid Operasi Rudi Hartono <+6281250012001> <tg:100200301>", heads)
    path = tmp_path / "agencies.conf"
    path.write_text(text)
    return path


def test_the_notify_keys_are_read_and_checked_with_the_agencies(tmp_path: Path) -> None:
    desk = load_desk(DEFAULT_DESK)
    path = with_notify(tmp_path, "email = yes\nemail_host = mail.samarindakota.go.id\nemail_port = 587\n"
                                 "email_starttls = yes\nemail_user = 112\nemail_from = 112@samarindakota.go.id\n"
                                 "telegram = yes\ntelegram_url = http://127.0.0.1:8081/\n"
                                 "send_attempts = 3\nsend_retry_after = 2s\nsend_retry_max = 1m\n")
    load_agencies(path, desk)
    found = load_messages(path)
    assert found.email == EmailSettings("mail.samarindakota.go.id", 587, True, "112", "112@samarindakota.go.id")
    assert found.telegram == TelegramSettings("http://127.0.0.1:8081")
    assert found.retry == RetrySettings(3, timedelta(seconds=2), timedelta(minutes=1))
    assert found.channels == ("email", "telegram", "webhook")
    assert load_messages(DEFAULT_AGENCIES).channels == ("webhook",)          # shipped: e-mail, Telegram off
    for notify, key in (("email_port = 0\n", "email_port"), ("email_from = nobody\n", "email_from"),
                        ("telegram_url = ftp://x\n", "telegram_url"), ("telegram_token = abc\n", "telegram_token"),
                        ("send_retry_after = 5m\nsend_retry_max = 1m\n", "send_retry_max"),
                        ("emial = yes\n", "emial")):
        with pytest.raises(ConfigError, match=rf"\[notify\] {key}"):
            load_agencies(with_notify(tmp_path, notify), desk)
    with pytest.raises(ConfigError, match=r"\[DAMKAR\] notify: .*<tg:x1>"):
        load_agencies(with_notify(tmp_path, "", "Kabid Rudi <tg:x1>"), desk)


# ---- quiet hours and what is written -------------------------------------------------------

def test_quiet_hours_hold_back_only_non_urgent_tickets_of_agencies_that_ask_for_them() -> None:
    quiet_one, always = agency("PDAM", True), agency("DAMKAR", False)
    assert quiet(quiet_one, "lainnya", NIGHT) and not quiet(quiet_one, "lainnya", DAY)
    assert not quiet(quiet_one, "kebakaran", NIGHT) and not quiet(quiet_one, "ambulans", NIGHT)
    assert not quiet(always, "lainnya", NIGHT)
    assert quiet(quiet_one, None, NIGHT)                                   # no category: not urgent
    assert quiet(quiet_one, "lainnya", datetime(2026, 12, 2, 16, 0, tzinfo=ZONE))   # the end is excluded
    assert not quiet(quiet_one, "lainnya", datetime(2026, 12, 2, 7, 30, tzinfo=ZONE))


RULES = DispatchRules({"DAMKAR": agency("DAMKAR", True, "Kadis <kadis@damkar.go.id> <tg:11>", "Kabid <+62812500>"),
                       "PDAM": agency("PDAM", True, "Dirtek <teknik@pdam.co.id> <tg:22>"),
                       "POLRES": agency("POLRES", False, "Kapolres <+6281250042001>")}, {}, {},
                      {"default": Sla(timedelta(minutes=5), timedelta(minutes=30))})
ON = MessageSettings(EmailSettings(), TelegramSettings(), True)


def assigned(code: str, number: int, at: datetime) -> Assignment:
    made = forwarded(1, "SMD-20261202-0001", code, "dua rumah", "taker1", at, Sla(timedelta(minutes=1),
                                                                                 timedelta(minutes=5)))
    return Assignment(**{**made.__dict__, "id": number})


def test_a_fire_at_night_tells_every_head_and_a_water_leak_only_the_webhooks() -> None:
    plan = Plan(RULES, ON, ("http://hooks.example/a",), ZONE, "Samarinda")
    night = NIGHT.astimezone(timezone.utc)
    rows = plan.dispatched(ticket("kebakaran"), [assigned("DAMKAR", 1, night), assigned("PDAM", 2, night)], night)
    heads = sorted((r.notification.channel, r.notification.recipient, r.assignment_id) for r in rows
                   if r.notification.channel != "webhook")
    assert heads == [("email", "kadis@damkar.go.id", 1), ("email", "teknik@pdam.co.id", 2),
                     ("telegram", "11", 1), ("telegram", "22", 2)]
    mail = next(r.notification for r in rows if r.notification.recipient == "kadis@damkar.go.id")
    assert mail.status == PENDING and "SMD-20261202-0001" in mail.subject and "DAMKAR" in mail.subject
    assert "Jl. Juanda 4" in mail.body and "Budi" not in mail.body and "+62811" not in mail.body
    [hook] = [r.notification for r in rows if r.notification.channel == "webhook"]
    event = json.loads(hook.body)
    assert (hook.recipient, hook.subject, event["event"]) == ("http://hooks.example/a", "dispatch.sent", "dispatch.sent")
    assert [a["agency"] for a in event["assignments"]] == ["DAMKAR", "PDAM"] and "caller" not in event["ticket"]

    leak = plan.dispatched(ticket("lainnya"), [assigned("PDAM", 3, night)], night)
    assert [r.notification.channel for r in leak] == ["webhook"]
    by_day = plan.dispatched(ticket("lainnya"), [assigned("PDAM", 3, DAY)], DAY)
    assert sorted(r.notification.channel for r in by_day) == ["email", "telegram", "webhook"]
    off = Plan(RULES, MessageSettings(None, TelegramSettings(), False), (), ZONE, "Samarinda")
    assert [r.notification.channel for r in off.dispatched(ticket("kebakaran"), [assigned("DAMKAR", 1, DAY)], DAY)] \
        == ["telegram"]


def test_a_move_and_an_escalation_are_webhooks_and_an_escalation_reaches_the_heads_telegram() -> None:
    plan = Plan(RULES, ON, ("http://hooks.example/a", "http://hooks.example/b"), ZONE, "Samarinda")
    moved = Assignment(**{**assigned("DAMKAR", 1, DAY).__dict__, "status": "diterima"})
    rows = plan.moved(moved, "diteruskan", Actor("dmk1", "responder", "DAMKAR", "10.0.0.9", "Firefox"), DAY)
    assert [r.notification.recipient for r in rows] == ["http://hooks.example/a", "http://hooks.example/b"]
    event = json.loads(rows[0].notification.body)
    assert (event["event"], event["from"], event["to"], event["by"], event["device"]) == (
        "dispatch.status", "diteruskan", "diterima", "dmk1", "Firefox")
    escalation = Escalation(1, "accept", 1, DAY, DAY, 30.0, RULES.agencies["DAMKAR"].notify,
                            ticket_number="SMD-20261202-0001", agency="DAMKAR")
    found = plan.escalated(escalation, "SLA terlewat", "terlambat", DAY)
    assert [(n.channel, n.recipient) for n in found] == [
        ("telegram", "11"), ("webhook", "http://hooks.example/a"), ("webhook", "http://hooks.example/b")]
    body = WebhookSender.body(OutboxRow(9, "webhook", "http://hooks.example/a", "dispatch.escalated",
                                        found[1].body, 0, 1, 42))
    assert json.loads(body)["escalation"]["id"] == 42
    supervisor = Escalation(**{**escalation.__dict__, "level": 2, "notified": ("spv1",)})
    assert [n.channel for n in plan.escalated(supervisor, "s", "b", DAY)] == ["webhook", "webhook"]


def test_chained_hooks_each_run_even_when_one_fails() -> None:
    called = []

    def broken(*args: object) -> None:
        raise RuntimeError("voice away")
    chain(broken, None, lambda *args: called.append(args))("ticket", ["a"])
    assert called == [("ticket", ["a"])]


# ---- the outbox ----------------------------------------------------------------------------

class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[int, dict[str, object]] = {}

    async def add(self, rows: list[Outgoing]) -> list[int]:
        ids = []
        for row in rows:
            ids.append(len(self.rows) + 1)
            self.rows[ids[-1]] = {**row.notification.__dict__, "assignment_id": row.assignment_id,
                                  "escalation_id": row.escalation_id}
        return ids

    async def pending(self, channel: str, limit: int) -> list[OutboxRow]:
        return [OutboxRow(i, r["channel"], r["recipient"], r["subject"], r["body"], r["attempts"],  # type: ignore[arg-type]
                          r["assignment_id"], r["escalation_id"])  # type: ignore[arg-type]
                for i, r in self.rows.items() if r["channel"] == channel and r["status"] == PENDING][:limit]

    async def update(self, row_id: int, status: str, attempts: int, last_error: str | None,
                     sent_at: datetime | None) -> None:
        self.rows[row_id].update(status=status, attempts=attempts, last_error=last_error, sent_at=sent_at)


class FakeSender:
    def __init__(self, *failures: Exception) -> None:
        self.failures, self.sent = list(failures), []

    async def send(self, row: OutboxRow) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(row.recipient)


class Ticks:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def note(channel: str, recipient: str) -> Outgoing:
    return Outgoing(Notification(channel, recipient, "s", "b", PENDING, DAY), 1)


async def test_a_channel_down_retries_with_backoff_alone_and_the_other_is_sent_at_once() -> None:
    store, ticks = FakeStore(), Ticks()
    email, telegram = FakeSender(ConnectionRefusedError("smtp down"), ConnectionRefusedError("smtp down")), FakeSender()
    outbox = Outbox(store, {"email": email, "telegram": telegram}, Clock(DAY),
                    RetrySettings(5, timedelta(seconds=10), timedelta(seconds=15)), monotonic=ticks)
    await outbox.put([note("email", "kadis@damkar.go.id"), note("telegram", "11"), note("voice", "+62541")])
    assert [r["channel"] for r in store.rows.values()] == ["email", "telegram"]     # no sender, no row

    assert await outbox.round("telegram") == outbox.poll_s and telegram.sent == ["11"]
    assert store.rows[2]["status"] == SENT and store.rows[2]["sent_at"] == DAY and store.rows[2]["attempts"] == 1
    assert await outbox.round("email") == 5.0 and email.sent == []       # poll_s caps the 10 s backoff
    assert (store.rows[1]["status"], store.rows[1]["attempts"]) == (PENDING, 1)
    assert "smtp down" in str(store.rows[1]["last_error"])
    ticks.t += 9
    await outbox.round("email")
    assert store.rows[1]["attempts"] == 1                                # not due yet: not tried
    ticks.t += 1
    await outbox.round("email")
    assert store.rows[1]["attempts"] == 2
    ticks.t += 15                                                         # doubled to 20, capped at 15
    await outbox.round("email")
    assert (store.rows[1]["status"], store.rows[1]["attempts"], email.sent) == (SENT, 3, ["kadis@damkar.go.id"])


async def test_a_refusal_is_final_the_attempts_run_out_and_a_restart_sends_what_was_pending() -> None:
    store, ticks = FakeStore(), Ticks()
    retry = RetrySettings(3, timedelta(seconds=1), timedelta(seconds=1))
    sender = FakeSender(Refused("HTTP 400 chat not found"))
    outbox = Outbox(store, {"telegram": sender}, Clock(DAY), retry, monotonic=ticks)
    await outbox.put([note("telegram", "99")])
    await outbox.round("telegram")
    assert (store.rows[1]["status"], store.rows[1]["attempts"]) == (FAILED, 1)
    assert "chat not found" in str(store.rows[1]["last_error"])

    down = FakeSender(*[TimeoutError()] * 5)
    outbox = Outbox(store, {"email": down}, Clock(DAY), retry, monotonic=ticks)
    await outbox.put([note("email", "a@b.go.id")])
    await outbox.round("email")
    assert store.rows[2]["attempts"] == 1
    restarted = Outbox(store, {"email": FakeSender(TimeoutError())}, Clock(DAY), retry, monotonic=ticks)
    await restarted.round("email")                          # no backoff remembered: tried at once
    assert (store.rows[2]["status"], store.rows[2]["attempts"]) == (PENDING, 2)
    ticks.t += 1
    await restarted.round("email")
    assert (store.rows[2]["status"], store.rows[2]["attempts"]) == (SENT, 3)
    assert (await store.pending("email", 10)) == []
