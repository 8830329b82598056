"""Accounts on the web: the login page and POST /login, logout, the person's own account
(/api/v1/me), and the admins' users and audit API."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from callengine.accounts.model import ROLES, AccountError, LoginRefused
from callengine.accounts.service import Accounts
from callengine.web.auth import SESSION_COOKIE, Network, authenticate
from callengine.web.errors import HttpError
from callengine.web.pages import page
from callengine.web.routes import EVERYONE, Param, Route, json_body, local_path, peer, principal, text_field

_STATUS = {"exists": 409, "no_user": 404, "no_token": 404}
USER_BODY = {"type": "object", "required": ["name", "role", "password"], "properties": {
    "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,40}$"}, "role": {"enum": list(ROLES)},
    "agency": {"type": ["string", "null"], "description": "a responder's agency code, e.g. DAMKAR"},
    "full_name": {"type": "string"}, "password": {"type": "string", "minLength": 10}}}
PASSWORD_BODY = {"type": "object", "required": ["current_password", "new_password"], "properties": {
    "current_password": {"type": "string"}, "new_password": {"type": "string", "minLength": 10}}}


CallTargets = Callable[[str], Awaitable[tuple[list[str], list[str]] | None]]   # a call's audit targets, or None


def routes(accounts: Accounts, network: Network, call_targets: CallTargets | None = None) -> list[Route]:
    async def login_form(request: web.Request) -> web.StreamResponse:
        target = local_path(request.query.get("next"))
        if await authenticate(accounts, request) is not None:
            raise web.HTTPSeeOther(target)
        return _login_page(request, target)

    async def login(request: web.Request) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and urlsplit(origin).netloc != request.host:
            # a form posted from another site (login CSRF); scripts send no Origin
            raise HttpError(403, "cross_origin", "a login from another site's page is refused")
        form = await request.post()
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        target = local_path(str(form.get("next", "")))
        try:
            opened = await accounts.login(name, password, peer(request))
        except LoginRefused as refused:
            headers = {hdrs.RETRY_AFTER: str(refused.retry_after_s)} if refused.reason == "throttled" else {}
            return _login_page(request, target, refused.reason, name, refused.retry_after_s,
                               status=429 if refused.reason == "throttled" else 401, headers=headers)
        response = web.HTTPSeeOther(target)
        response.set_cookie(SESSION_COOKIE, opened.cookie, httponly=True, samesite="Lax", path="/",
                            secure=network.secure(request))
        raise response

    async def logout(request: web.Request) -> web.StreamResponse:
        await accounts.logout(principal(request), peer(request))
        response = web.HTTPSeeOther("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    async def me(request: web.Request) -> web.Response:
        who = principal(request)
        body: dict[str, Any] = {**who.user.to_json(), "via": who.via}
        if who.via == "session":
            body["csrf_token"] = who.csrf_token
            body["session_idle_s"] = int(accounts.idle.total_seconds())
        return web.json_response(body)

    async def change_password(request: web.Request) -> web.Response:
        data = await json_body(request)
        current, new = text_field(data, "current_password"), text_field(data, "new_password")
        await _account_call(accounts.change_own_password(principal(request), current, new, peer(request)))
        return web.json_response({"status": "changed"})

    async def users(request: web.Request) -> web.Response:
        return web.json_response({"users": [u.to_json() for u in await accounts.users()]})

    async def add_user(request: web.Request) -> web.Response:
        data = await json_body(request)
        agency = data.get("agency")
        if agency is not None and not isinstance(agency, str):
            raise HttpError(400, "bad_field", "'agency' must be a string or null")
        user = await _account_call(accounts.add_user(
            text_field(data, "name"), text_field(data, "role"), text_field(data, "password"),
            full_name=text_field(data, "full_name", required=False), agency=agency or None,
            actor=principal(request).user.name, peer=peer(request)))
        return web.json_response(user.to_json(), status=201)

    def switch(disabled: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            if disabled and name == principal(request).user.name:
                raise HttpError(409, "self", "an admin does not disable their own account")
            user = await _account_call(accounts.set_disabled(name, disabled, actor=principal(request).user.name,
                                                             peer=peer(request)))
            return web.json_response({**user.to_json(), "disabled": disabled})
        return handler

    async def audit(request: web.Request) -> web.Response:
        """The trail, newest first; QA staff and supervisors read it per call or per person
        (an admin reads all of it)."""
        try:
            limit = int(request.query.get("limit", "100"))
            since = datetime.fromisoformat(request.query["since"]) if "since" in request.query else None
        except ValueError:
            raise HttpError(400, "bad_query", "limit is a number, since an ISO 8601 datetime with offset") from None
        if not 1 <= limit <= 1000 or (since is not None and since.tzinfo is None):
            raise HttpError(400, "bad_query", "limit is 1 to 1000; since needs its offset (e.g. +08:00)")
        user, linkedid = request.query.get("user") or None, request.query.get("linkedid") or None
        if principal(request).user.role != "admin" and not (user or linkedid):
            raise HttpError(400, "bad_query", "QA staff and supervisors read the audit per call (linkedid) "
                                              "or per person (user)")
        targets: tuple[list[str], list[str]] = ([], [])
        if linkedid is not None:
            found = await call_targets(linkedid) if call_targets is not None else None
            if found is None:
                raise HttpError(404, "not_found", f"no call {linkedid!r}")
            targets = found
        entries = await accounts.audit_trail(limit, since, user, *targets)
        return web.json_response({"entries": [e.to_json() for e in entries]})

    return [
        Route("GET", "/login", login_form, None, "accounts.login_form", "the login page"),
        Route("POST", "/login", login, None, "accounts.login",
              "log in: sets the session cookie and redirects (303); 401 on a wrong name or password, "
              "429 with Retry-After when throttled", audit="service", form=("username", "password")),
        Route("POST", "/logout", logout, EVERYONE, "accounts.logout", "end this session; redirects to /login",
              audit="service", personal=True),
        Route("GET", "/api/v1/me", me, EVERYONE, "accounts.me",
              "the account the request acts as (with the session's CSRF token)"),
        Route("POST", "/api/v1/me/password", change_password, EVERYONE, "accounts.password",
              "change one's own password; the account's other sessions end", audit="service", personal=True,
              body=PASSWORD_BODY),
        Route("GET", "/api/v1/users", users, ("admin", "supervisor"), "accounts.users", "every account"),
        Route("POST", "/api/v1/users", add_user, ("admin",), "accounts.add_user", "add an account",
              audit="service", body=USER_BODY),
        Route("POST", "/api/v1/users/{name}/disable", switch(True), ("admin",), "accounts.disable",
              "disable an account: its sessions end and its tokens are revoked", audit="service"),
        Route("POST", "/api/v1/users/{name}/enable", switch(False), ("admin",), "accounts.enable",
              "enable an account again", audit="service"),
        Route("GET", "/api/v1/audit", audit, ("admin", "qa", "supervisor"), "accounts.audit",
              "the audit trail, newest first (the append-only log: no route changes or deletes it); qa and "
              "supervisors read it per call or per person",
              query=(Param("limit", "how many entries (1-1000, default 100)", "integer"),
                     Param("since", "entries at or after this ISO 8601 datetime (with offset)"),
                     Param("linkedid", "a call's trail: its plays, downloads, exports, its ticket and assignments"),
                     Param("user", "one person's actions"))),
    ]


async def _account_call(work: Any) -> Any:
    try:
        return await work
    except AccountError as exc:
        raise HttpError(_STATUS.get(exc.code, 400), exc.code, str(exc)) from None


def _login_page(request: web.Request, target: str, error: str | None = None, name: str = "",
                retry_after_s: int = 0, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    response = page(request, "accounts/login.html",
                    {"next": target, "error": error, "username": name[:40],
                     "retry_after_min": max(1, (retry_after_s + 59) // 60)}, status)
    response.headers.update(headers or {})
    return response
