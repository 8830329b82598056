"""What the shift keeper changes in the 112 queue, published on the event bus."""
from __future__ import annotations

from dataclasses import dataclass

JOINED, LEFT, PAUSED, UNPAUSED = "joined", "left", "paused", "unpaused"


@dataclass(frozen=True)
class MemberChanged:
    queue: str
    account: str
    change: str          # joined, left, paused, unpaused
    reason: str = ""     # the pause reason, e.g. tidak-terdaftar


@dataclass(frozen=True)
class SupervisorAlert:
    kind: str            # e.g. shift_absent
    message: str
