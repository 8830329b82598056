"""The console's route table: every route declares who may use it, and feature modules
(`<feature>/http.py`) build their routes with what is here.

A route is public only if it is one of the few the design names (/login, /healthz; static
assets are added by the app); every other route lists its roles, and a write that a viewer
may make must be marked `personal` (it touches only the person's own account or session):
a viewer is read-only by construction, not by each handler's care.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from callengine.accounts.model import ROLES, Principal
from callengine.web.errors import HttpError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
# The one reviewed exception, outside the route table (served like the static assets, with no
# session and no role): the citizen's rating page, opened from a link sent by SMS or WhatsApp.
# Its single-use, random, expiring token in the path is its only key (stored hashed), it is
# rate-limited per address, and it writes nothing but that ticket's rating (rating/http.py).
PUBLIC_PAGES = frozenset({"/rate/{token}"})
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EVERYONE = ROLES
PRINCIPAL = web.RequestKey("principal", Principal)
PEER = web.RequestKey("peer", str)
MAX_JSON = 256 * 1024


@dataclass(frozen=True)
class Param:
    """A query parameter, for the OpenAPI document."""
    name: str
    description: str
    type: str = "string"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    roles: tuple[str, ...] | None         # None: public (only PUBLIC_PATHS)
    name: str                             # unique; a write's audit action when the middleware audits it
    summary: str
    audit: str = "request"                # writes: "request" (the middleware keeps a row) or "service" (the
                                          # handler's service keeps it, in the change's own transaction)
    personal: bool = False                # a write on the person's own account or session
    query: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None    # JSON schema of a JSON body
    form: tuple[str, ...] = ()            # fields of a form body
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.roles is None and self.path not in PUBLIC_PATHS:
            raise ValueError(f"{self.method} {self.path}: only {', '.join(sorted(PUBLIC_PATHS))} may be public")
        unknown = set(self.roles or ()) - set(ROLES)
        if unknown:
            raise ValueError(f"{self.method} {self.path}: unknown roles {sorted(unknown)}")
        if self.roles is not None and not self.roles:
            raise ValueError(f"{self.method} {self.path}: no role may use it")
        if self.writes and "viewer" in (self.roles or ()) and not self.personal:
            raise ValueError(f"{self.method} {self.path}: a viewer is read-only (mark own-account writes personal)")
        if self.audit not in ("request", "service"):
            raise ValueError(f"{self.method} {self.path}: audit is 'request' or 'service'")

    @property
    def writes(self) -> bool:
        return self.method in WRITES

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


def principal(request: web.Request) -> Principal:
    """Who the request acts as (set by the auth middleware on every private route)."""
    return request[PRINCIPAL]


def peer(request: web.Request) -> str:
    """The client's address (from a trusted proxy's X-Forwarded-For where one is configured)."""
    return request.get(PEER) or request.remote or ""


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a 400/413/415 saying what is wrong with it."""
    if request.content_type != "application/json":
        raise HttpError(415, "unsupported_media_type", "send the body as application/json")
    if (request.content_length or 0) > MAX_JSON:
        raise HttpError(413, "too_large", f"the body is larger than {MAX_JSON} bytes")
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise HttpError(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "bad_json", "the body must be a JSON object")
    return data


def text_field(data: dict[str, Any], key: str, required: bool = True, default: str = "") -> str:
    value = data.get(key, None if required else default)
    if not isinstance(value, str):
        raise HttpError(400, "bad_field", f"{key!r} must be a string" if value is not None else f"{key!r} is missing")
    return value


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site (a login's `next`, a language switch's return),
    else `default`: never an open redirect to another host (`//evil`, `/\\evil`, `https://…`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or any(
            c in target for c in "\r\n\\"):
        return default
    return target
