"""What is told to whom: a dispatch tells each agency's heads (agencies.conf `notify`: their
e-mail addresses and Telegram chats) and the dispatch.* webhooks; an assignment's move is a
dispatch.status webhook; an SLA escalation is a dispatch.escalated webhook and, for the heads,
a Telegram message beside the e-mail the SLA watcher writes itself.

Quiet hours: an agency with `notify_duty_hours_only = yes` has its heads told only within its
`duty_hours` (the centre's time zone), except for kebakaran and ambulans tickets, told at any
hour. A head held back by quiet hours is not told later (by morning the news is stale and the
duty phone, the console and the SLA's escalations have done their work): it is logged, and
nothing is written for them. Webhooks are for machines and keep no hours; an escalation is an
alarm of its own and keeps none either.

The hooks return at once: they start a task that writes the rows (the outbox sends them); a
failure there is logged and never reaches the dispatch.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from callengine.accounts.model import AuditEntry
from callengine.core.clock import Clock
from callengine.dispatch.model import Actor, Agency, Assignment, DispatchRules
from callengine.dispatch.sla import HEADS, PENDING, Escalation, Notification, SlaStore
from callengine.notify.config import EMAIL_CHANNEL, TELEGRAM_CHANNEL, WEBHOOK_CHANNEL, MessageSettings
from callengine.notify.contacts import parse_heads
from callengine.notify.outbox import Outbox, Outgoing
from callengine.notify.webhooks import encode, escalated_event, sent_event, status_event
from callengine.tickets.model import Ticket

log = logging.getLogger(__name__)
URGENT = ("kebakaran", "ambulans")      # told at any hour, whatever the agency's quiet hours
H = TypeVar("H", bound=Callable[..., None])


def quiet(agency: Agency, category: str | None, local: datetime) -> bool:
    """True when the agency's heads are not to be told now: outside their duty hours, when they
    asked for those only, of a ticket that is not a fire or an ambulance."""
    if not agency.notify_duty_hours_only or category in URGENT:
        return False
    start, end = agency.duty_hours
    return not start <= local.time().replace(tzinfo=None) < end


def message(ticket: Ticket, agency: Agency, assignment: Assignment, city: str, zone: ZoneInfo) -> tuple[str, str]:
    """The heads' subject and text: what, where, which ticket, the note and the deadlines; not
    the caller's number or name (caller data stays on the console)."""
    what = ", ".join(x for x in ((ticket.category or "").replace("_", " ").capitalize(), ticket.incident_type) if x)
    subject = f"112 {city}: {ticket.number} {what or 'laporan darurat'} → {agency.code}"
    place = ", ".join(x for x in (ticket.address, ticket.kelurahan and f"Kel. {ticket.kelurahan}",
                                  ticket.kecamatan and f"Kec. {ticket.kecamatan}") if x)
    lines = [f"Tiket {ticket.number} diteruskan ke {agency.name}.", f"Kejadian: {what or '-'}",
             f"Lokasi: {place or '-'}"]
    if ticket.lat is not None and ticket.lon is not None:
        lines.append(f"Koordinat: {ticket.lat:.5f}, {ticket.lon:.5f} (geo:{ticket.lat},{ticket.lon})")
    if assignment.note:
        lines.append(f"Catatan: {assignment.note}")
    lines.append(f"Terima sebelum {assignment.accept_by.astimezone(zone):%H:%M %Z}, "
                 f"berangkat sebelum {assignment.process_by.astimezone(zone):%H:%M %Z}.")
    return subject, "\n".join(lines)


@dataclass(frozen=True)
class Plan:
    """What the notifier writes, on plain data (unit-tested without a store)."""
    rules: DispatchRules
    settings: MessageSettings
    webhook_urls: tuple[str, ...]
    zone: ZoneInfo
    city: str

    def dispatched(self, ticket: Ticket, assignments: Sequence[Assignment], now: datetime) -> list[Outgoing]:
        rows = []
        for assignment in assignments:
            agency = self.rules.agencies.get(assignment.agency)
            if agency is None or not agency.notify:
                continue
            if quiet(agency, ticket.category, now.astimezone(self.zone)):
                log.info("heads not told: quiet hours", extra={"ticket": ticket.number, "agency": agency.code,
                                                               "category": ticket.category})
                continue
            subject, body = message(ticket, agency, assignment, self.city, self.zone)
            rows += [Outgoing(n, assignment.id) for n in self._heads(agency.notify, subject, body, now)]
        if assignments:
            rows += self._hooks(sent_event(ticket, list(assignments)), now, assignments[0].id)
        return rows

    def moved(self, assignment: Assignment, before: str, actor: Actor, now: datetime) -> list[Outgoing]:
        return self._hooks(status_event(assignment, before, actor), now, assignment.id)

    def escalated(self, escalation: Escalation, subject: str, body: str, now: datetime) -> list[Notification]:
        """The rows added to the escalation's own (written in its transaction): the heads'
        Telegram chats (level 1; their e-mail is the SLA watcher's) and the webhooks."""
        found: list[Notification] = []
        if escalation.level == HEADS and self.settings.telegram is not None:
            found += [Notification(TELEGRAM_CHANNEL, chat, subject, body, PENDING, now)
                      for head in parse_heads(escalation.notified) for chat in head.telegram]
        return found + [o.notification for o in self._hooks(escalated_event(escalation), now, None)]

    def _heads(self, people: Sequence[str], subject: str, body: str, now: datetime) -> list[Notification]:
        found = []
        for head in parse_heads(list(people)):
            if self.settings.email is not None:
                found += [Notification(EMAIL_CHANNEL, a, subject, body, PENDING, now) for a in head.emails]
            if self.settings.telegram is not None:
                found += [Notification(TELEGRAM_CHANNEL, c, subject, body, PENDING, now) for c in head.telegram]
        return list(dict.fromkeys(found))        # a head named twice is told once

    def _hooks(self, event: dict[str, Any], now: datetime, assignment_id: int | None) -> list[Outgoing]:
        if not self.settings.webhooks:
            return []
        text = encode(event)
        return [Outgoing(Notification(WEBHOOK_CHANNEL, url, str(event["event"]), text, PENDING, now), assignment_id)
                for url in self.webhook_urls]


class Notifier:
    """The Dispatcher's hooks (on_dispatched, on_changed) and the SLA store's wrapper."""

    def __init__(self, plan: Plan, outbox: Outbox, clock: Clock) -> None:
        self.plan, self.outbox, self.clock = plan, outbox, clock
        self.tasks: set[asyncio.Task[None]] = set()

    def on_dispatched(self, ticket: Ticket, assignments: list[Assignment]) -> None:
        self._write(f"dispatch {ticket.number}", lambda now: self.plan.dispatched(ticket, assignments, now))

    def on_changed(self, assignment: Assignment, before: str, actor: Actor) -> None:
        self._write(f"move {assignment.id}", lambda now: self.plan.moved(assignment, before, actor, now))

    def escalations(self, store: SlaStore) -> SlaStore:
        return NotifiedEscalations(store, self)

    def _write(self, what: str, rows: Callable[[datetime], list[Outgoing]]) -> None:
        async def write() -> None:
            try:
                await self.outbox.put(rows(self.clock.now()))
            except Exception:  # the database away: these notifications are lost, the dispatch stands
                log.exception("notifications not written", extra={"what": what})
        task = asyncio.create_task(write(), name=f"notify {what}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """The rows being written, written (tests, and a clean stop)."""
        await asyncio.gather(*list(self.tasks), return_exceptions=True)


class NotifiedEscalations:
    """The SLA watcher's store, with the notifier's rows added to each escalation's own, in
    its transaction (so an escalation is never written without them, nor they twice)."""

    def __init__(self, store: SlaStore, notifier: Notifier) -> None:
        self.store, self.notifier = store, notifier

    async def escalate(self, escalation: Escalation, notifications: list[Notification],
                       audit: AuditEntry) -> Escalation | None:
        extra: list[Notification] = []
        try:
            if notifications:
                first = notifications[0]
                extra = self.notifier.plan.escalated(escalation, first.subject, first.body, first.created_at)
        except Exception:  # a head's line the notifier cannot read: the escalation goes on without
            log.exception("escalation's notifications not planned")
        wanted = notifications + extra
        made = await self.store.escalate(escalation, wanted, audit)
        if made is not None:
            self.notifier.outbox.wake({n.channel for n in wanted})
        return made

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def chain(*hooks: H | None) -> Callable[..., None]:
    """Several hooks as one: each called in turn, a failing one logged, the others still called."""
    present = [h for h in hooks if h is not None]

    def call(*args: Any) -> None:
        for hook in present:
            try:
                hook(*args)
            except Exception:  # one channel's trouble is its own
                log.exception("notification hook failed", extra={"hook": getattr(hook, "__qualname__", hook)})
    return call
