"""What the queueing domain needs from the PBX, and what it sees of a queue.

The domain (shift keeper, CLI status) speaks to `QueueControl`; telephony/queues.py
implements it over AMI. Nothing here knows AMI messages or panoramisk.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

UNREGISTERED = "tidak-terdaftar"  # pause reason of a rostered member whose softphone is not registered


class QueueControlError(Exception):
    """The PBX refused a queue action or could not be reached."""


@dataclass(frozen=True)
class Member:
    account: str
    name: str
    penalty: int
    dynamic: bool          # added by the engine; static members come from queues.conf
    paused: bool
    reason: str            # pause reason, "" when not paused
    in_call: bool          # talking or ringing: must not be removed now
    registered: bool
    calls_taken: int


@dataclass(frozen=True)
class Waiting:
    position: int
    caller: str
    wait_s: int
    priority: int


@dataclass(frozen=True)
class QueueState:
    name: str
    members: tuple[Member, ...]
    waiting: tuple[Waiting, ...]


class QueueControl(Protocol):
    async def queue_state(self, queue: str) -> QueueState: ...

    async def registered(self) -> set[str]:
        """Accounts whose softphone is registered now."""

    async def add(self, queue: str, account: str, name: str, paused: bool, reason: str) -> None: ...

    async def remove(self, queue: str, account: str) -> None: ...

    async def pause(self, queue: str, account: str, paused: bool, reason: str) -> None: ...
