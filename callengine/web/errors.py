"""Errors of the console: JSON `{"error": "<id>", "message": "..."}` under /api/, a readable page
elsewhere; aiohttp's own 4xx (404, 405, 413) the same way; a bug is a 500 with one log line
and nothing of it shown."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import hdrs, web

from callengine.web.pages import page

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_IDS = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
        405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type", 429: "throttled"}


class HttpError(Exception):
    """A request refused: its status, an id a program can test and a message a person can read."""

    def __init__(self, status: int, error: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.headers = dict(headers or {})


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HttpError as exc:
        return refusal(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:     # redirects pass as they are
            raise
        if exc.status >= 500:
            log.error("console answered %s: %s", exc.status, exc.text, extra={"path": request.path})
        headers = {hdrs.ALLOW: exc.headers[hdrs.ALLOW]} if hdrs.ALLOW in exc.headers else None
        return refusal(request, HttpError(exc.status, _IDS.get(exc.status, "error"), exc.reason, headers))
    except Exception:  # a bug: logged with its traceback, never shown to the person
        log.exception("console request failed", extra={"path": request.path, "method": request.method})
        return refusal(request, HttpError(500, "internal", "internal error; it is logged"))


def refusal(request: web.Request, error: HttpError) -> web.Response:
    if request.path.startswith("/api/"):
        return web.json_response({"error": error.error, "message": error.message}, status=error.status,
                                 headers=error.headers)
    try:
        response = page(request, "errors/error.html",
                        {"status": error.status, "error": error.error, "message": error.message}, error.status)
    except Exception:  # the error page itself failed (a template bug): plain text still tells the status
        log.exception("error page failed", extra={"path": request.path})
        response = web.Response(text=f"{error.status} {error.message}\n", status=error.status)
    response.headers.update(error.headers)
    return response
