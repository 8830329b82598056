"""The ticket a 112 call becomes, as the rest of the engine sees it."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

NEW = "baru"   # a ticket's first status; then diterima, diproses, selesai


@dataclass(frozen=True)
class Ticket:
    id: int
    linkedid: str
    status: str
    category: str | None
    caller: str | None
    created_at: datetime

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "created_at": self.created_at.isoformat()}
