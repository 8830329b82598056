"""Accounts of the console: who a person is, what their role lets them do, how they are known
to a request (a session or a personal API token)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# calltaker: the desk; supervisor: the queue and staff; qa: recordings and scoring; admin:
# accounts and configuration; responder: their agency's assignments; viewer: read-only
# (heads of office, the regent).
ROLES = ("calltaker", "supervisor", "qa", "admin", "responder", "viewer")
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")      # as the roster's accounts: a call taker's user name is theirs
AGENCY = re.compile(r"^[A-Z0-9_-]{2,20}$")         # DAMKAR, BPBD, RSUD, POLRES, PDAM …


class AccountError(Exception):
    """A request about accounts that cannot be done: `code` names why (for the JSON API),
    the message says it to a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LoginRefused(Exception):
    """`throttled` (with the seconds to wait) or `invalid` (name or password wrong, or the
    account disabled: the person is not told which)."""

    def __init__(self, reason: str, retry_after_s: int = 0) -> None:
        super().__init__(reason)
        self.reason, self.retry_after_s = reason, retry_after_s


@dataclass(frozen=True)
class User:
    id: int
    name: str
    full_name: str
    role: str
    agency: str | None
    disabled: bool
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "full_name": self.full_name, "role": self.role, "agency": self.agency,
                "disabled": self.disabled, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class StoredSession:
    key_hash: str
    user: User
    created_at: datetime
    last_seen_at: datetime
    csrf_token: str
    revoked_at: datetime | None


@dataclass(frozen=True)
class Token:
    id: int
    user: User
    label: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "user": self.user.name, "label": self.label,
                "created_at": self.created_at.isoformat(), "expires_at": self.expires_at.isoformat(),
                "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


@dataclass(frozen=True)
class Principal:
    """Who a request acts as. A session carries its CSRF token; a bearer token needs none
    (a browser never sends it by itself)."""
    user: User
    via: str                       # "session" or "token"
    session_key: str | None = None
    csrf_token: str | None = None
    token_id: int | None = None


@dataclass(frozen=True)
class NewSession:
    """A session just opened: the cookie's value (shown once, kept only hashed) and its CSRF token."""
    user: User
    cookie: str
    csrf_token: str


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str | None
    action: str
    target: str
    detail: dict[str, Any]
    peer: str | None

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "actor": self.actor, "action": self.action, "target": self.target,
                "detail": self.detail, "peer": self.peer}
