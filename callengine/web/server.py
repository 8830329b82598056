"""aiohttp application. Each check is a named async predicate; /healthz runs them all."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

Check = Callable[[], Awaitable[bool]]


def make_app(checks: Mapping[str, Check]) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        results = {name: await check() for name, check in checks.items()}
        failing = [name for name, ok in results.items() if not ok]
        body = {"status": "ok" if not failing else "degraded", "checks": results, "failing": failing}
        return web.json_response(body, status=200 if not failing else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app
