"""The ticket a 112 call becomes, as the rest of the engine sees it."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

NEW = "baru"   # a ticket's first status; then diterima, diproses, selesai


@dataclass(frozen=True)
class Ticket:
    id: int
    linkedid: str
    status: str
    category: str | None
    caller: str | None
    created_at: datetime
    number: str | None = None   # SMD-20261202-0042

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "created_at": self.created_at.isoformat()}


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
