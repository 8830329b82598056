"""What the ticket store tells the rest of the engine."""
from __future__ import annotations

from dataclasses import dataclass

from callengine.calls.record import CallRecord
from callengine.tickets.model import Ticket


@dataclass(frozen=True)
class TicketOpened:
    """A call record and its new ticket are committed (once per call, whatever was replayed)."""
    record: CallRecord
    ticket: Ticket
