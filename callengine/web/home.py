"""The home page after login, one per role: what the person's work starts from."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from callengine.accounts.service import Accounts
from callengine.web.pages import page
from callengine.web.routes import EVERYONE, Route, principal

AUDIT_ON_HOME = 15


def routes(accounts: Accounts) -> list[Route]:
    async def home(request: web.Request) -> web.Response:
        user = principal(request).user
        context: dict[str, Any] = {"user": user}
        if user.role in ("admin", "supervisor"):
            context["users"] = await accounts.users()
        if user.role == "admin":
            context["audit"] = await accounts.audit_trail(AUDIT_ON_HOME)
        return page(request, f"home/{user.role}.html", context)

    return [Route("GET", "/", home, EVERYONE, "home", "the home page of the person's role")]
