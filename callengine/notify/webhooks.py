"""dispatch.* webhooks: the same signed POSTs as the tickets' (tickets/webhooks.py: HMAC-SHA256
of the body in X-Callengine-Signature with the `webhook` secret, to [webhooks] urls), sent from
the delivery log by the outbox, so they are retried with backoff and survive a restart.
X-Callengine-Delivery is `notification-<row id>`: the same on every retry, so a receiver can
drop a second copy.

Events (JSON, `event` first):
- dispatch.sent: a ticket dispatched: the ticket's number, category, incident type, place, and
  the new assignments;
- dispatch.status: an assignment moved (from, to, by whom, from which device);
- dispatch.escalated: an SLA deadline missed and escalated (stage, level, whom).
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from callengine.dispatch.model import Actor, Assignment
from callengine.dispatch.sla import Escalation
from callengine.notify.outbox import OutboxRow, Refused
from callengine.tickets.model import Ticket
from callengine.tickets.webhooks import post, signed_headers

SENT, STATUS, ESCALATED = "dispatch.sent", "dispatch.status", "dispatch.escalated"
TICKET_FIELDS = ("number", "status", "category", "incident_type", "priority", "address", "kelurahan", "kecamatan",
                 "lat", "lon")        # no caller's number or name: those stay on the console


def sent_event(ticket: Ticket, assignments: list[Assignment]) -> dict[str, Any]:
    facts = ticket.to_json()
    return {"event": SENT, "ticket": {k: facts.get(k) for k in TICKET_FIELDS},
            "assignments": [a.to_json() for a in assignments]}


def status_event(assignment: Assignment, before: str, actor: Actor) -> dict[str, Any]:
    return {"event": STATUS, "ticket_number": assignment.ticket_number, "agency": assignment.agency,
            "from": before, "to": assignment.status, "by": actor.name, "device": actor.device,
            "assignment": assignment.to_json()}


def escalated_event(escalation: Escalation) -> dict[str, Any]:
    data = escalation.to_json()
    data.pop("id")            # known once stored: the sender adds it from the row
    return {"event": ESCALATED, "escalation": data}


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False)


class WebhookSender:
    def __init__(self, secret: Callable[[], str | None], timeout_s: float = 10.0) -> None:
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, row: OutboxRow) -> None:
        secret = self.secret()
        if not secret:
            raise LookupError("no `webhook` secret in runtime/secrets.conf yet (the engine writes it at its start)")
        body = self.body(row)
        outcome = await post(self.session(), row.recipient, body,
                             signed_headers(secret, body, f"notification-{row.id}"))
        if outcome is None:
            return
        if outcome.startswith("retry"):
            raise ConnectionError(outcome.removeprefix("retry: "))
        raise Refused(outcome)

    @staticmethod
    def body(row: OutboxRow) -> bytes:
        event = json.loads(row.body)
        if row.escalation_id is not None and isinstance(event.get("escalation"), dict):
            event["escalation"] = {"id": row.escalation_id, **event["escalation"]}
        return encode(event).encode()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)
