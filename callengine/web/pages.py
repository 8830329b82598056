"""Server-rendered pages: a template with what every page shows (who is logged in, their CSRF
token, the language and its switch, the city). Feature modules render through `page()`, so
an error page drawn before any handler ran has the same frame."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

PageContext = Callable[[web.Request], dict[str, Any]]
PAGE_CONTEXT = web.AppKey("page_context", PageContext)


def page(request: web.Request, template: str, context: Mapping[str, Any] | None = None,
         status: int = 200) -> web.Response:
    merged = {**request.app[PAGE_CONTEXT](request), **(context or {})}
    return aiohttp_jinja2.render_template(template, request, merged, status=status)
