"""The ticket a 112 call becomes, as the rest of the engine sees it."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

NEW = "baru"   # a ticket's first status; then as its assignments go (dispatch/model.py)


@dataclass(frozen=True)
class Ticket:
    id: int
    linkedid: str
    status: str
    category: str | None
    caller: str | None
    created_at: datetime
    number: str | None = None   # SMD-20261202-0042
    # the desk's form, filled by the call taker while talking (FORM_FIELDS)
    classification: str | None = None
    duplicate_of: str | None = None
    incident_type: str | None = None
    description: str | None = None
    address: str | None = None
    kelurahan: str | None = None
    kecamatan: str | None = None
    lat: float | None = None
    lon: float | None = None
    caller_name: str | None = None
    callback_number: str | None = None
    victims: int | None = None
    priority: int | None = None
    taker: str | None = None            # the account that answered the call
    answered_at: datetime | None = None
    wrapped_up_at: datetime | None = None
    updated_at: datetime | None = None
    legal_hold: bool = False            # its recording is never pruned (`calls hold`, evidence/)

    def to_json(self) -> dict[str, object]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


# what the desk's form writes (PATCH /api/v1/tickets/{number}); the rest is the engine's
FORM_FIELDS = ("classification", "duplicate_of", "incident_type", "description", "address", "kelurahan",
               "kecamatan", "lat", "lon", "caller_name", "callback_number", "victims", "priority")
CLASSIFICATIONS = ("darurat", "informasi", "prank", "ghost", "salah_sambung", "duplikat")


@dataclass(frozen=True)
class TicketNumbers:
    """Human ticket numbers, <CITY CODE>-<YYYYMMDD>-<NNNN>: the centre's local day, and the
    day's sequence counted by the database."""
    city_code: str
    zone: ZoneInfo

    def day(self, at: datetime) -> str:
        return at.astimezone(self.zone).strftime("%Y%m%d")

    def number(self, day: str, sequence: int) -> str:
        return f"{self.city_code}-{day}-{sequence:04d}"


def call_audit_targets(linkedid: str, ticket: Ticket | None) -> tuple[list[str], list[str]]:
    """What `AuditRepository.about`/`newest` take for a call's whole trail: the call and its
    ticket, and the rows under the ticket's number (its assignments, attachments, escalations)."""
    number = [ticket.number] if ticket and ticket.number else []
    return [f"call/{linkedid}", *number], number
