"""The rating's web side.

- `POST /api/v1/tickets/{number}/rating-link` (call taker, supervisor): a one-time link for the
  citizen, `{"url", "path", "expires_at"}`, to send by SMS or WhatsApp.
- `GET /rate/{token}`: the public page (no login; Bahasa Indonesia by default): five big buttons
  and a comment box. `POST /rate/{token}` (form `score` 1–5, `comment`) stores the rating once;
  then the link answers 410 with a clear page. A bad score is 400, an unknown link 404, an
  address asking too often 429 with Retry-After.

CSRF: the page is public, so there is no session a forged form could ride on. The only
credential is the rating token in the URL: random (256 bits), single-use, expiring; a page of
another site cannot know it, so it cannot forge the post, and whoever knows it may rate anyway.
The token is therefore this form's CSRF token. The form posts to its own URL, a post whose
Origin is another site is refused all the same, and the CSP's form-action 'self' holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import hdrs, web

from callengine.rating.service import AddressLimiter, RatingError, Ratings
from callengine.web.auth import PUBLIC
from callengine.web.errors import HttpError
from callengine.web.pages import page
from callengine.web.routes import PUBLIC_PAGES, Route, peer, principal

LINKERS = ("calltaker", "supervisor")
RATE_PAGE = "/rate/{token}"
SCORES = (1, 2, 3, 4, 5)


@dataclass
class RatingApi:
    ratings: Ratings
    limiter: AddressLimiter

    async def new_link(self, request: web.Request) -> web.Response:
        number = request.match_info["number"]
        try:
            token, expires = await self.ratings.new_link(number, principal(request).user.name)
        except RatingError as exc:
            raise HttpError(exc.status, exc.code, str(exc)) from None
        path = RATE_PAGE.replace("{token}", token)
        return web.json_response({"ticket": number, "path": path, "url": f"{request.url.origin()}{path}",
                                  "expires_at": expires.isoformat()}, status=201)

    async def rate_page(self, request: web.Request) -> web.Response:
        refused = self._throttled(request)
        if refused is not None:
            return refused
        try:
            request_ = await self.ratings.open_link(request.match_info["token"])
        except RatingError as exc:
            return self._page(request, {"state": exc.code}, exc.status)
        return self._page(request, {"state": "open", "ticket": request_.ticket_number})

    async def rate(self, request: web.Request) -> web.Response:
        refused = self._throttled(request)
        if refused is not None:
            return refused
        origin = request.headers.get(hdrs.ORIGIN)
        if origin and origin != str(request.url.origin()):
            return self._page(request, {"state": "forbidden"}, 403)
        form = await request.post()
        try:
            rating = await self.ratings.rate_by_link(request.match_info["token"], form.get("score"),
                                                     form.get("comment"), peer(request))
        except RatingError as exc:
            ticket = None
            if exc.status == 400:        # a bad score: the form again, with what went wrong
                try:
                    ticket = (await self.ratings.open_link(request.match_info["token"])).ticket_number
                except RatingError:
                    pass
            return self._page(request, {"state": exc.code, "ticket": ticket}, exc.status)
        return self._page(request, {"state": "thanks", "score": rating.score})

    def _throttled(self, request: web.Request) -> web.Response | None:
        wait = self.limiter.check(peer(request))
        if wait is None:
            return None
        seconds = max(1, int(wait.total_seconds() + 0.999))
        response = self._page(request, {"state": "throttled"}, 429)
        response.headers[hdrs.RETRY_AFTER] = str(seconds)
        return response

    def _page(self, request: web.Request, context: dict[str, Any], status: int = 200) -> web.Response:
        response = page(request, "rating/rate.html", {"ticket": None, "score": None, "scores": SCORES,
                                                       "action": request.path, **context}, status)
        response.headers[hdrs.CACHE_CONTROL] = "no-store"
        response.headers["X-Robots-Tag"] = "noindex"
        return response

    def routes(self) -> list[Route]:
        return [Route("POST", "/api/v1/tickets/{number}/rating-link", self.new_link, LINKERS, "tickets.rating_link",
                      "a one-time link to the public rating page, to send the citizen by SMS or WhatsApp",
                      tags=("rating",))]

    def mount_public(self, app: web.Application) -> None:
        """The public rating page, outside the route table (routes.PUBLIC_PAGES says why)."""
        if RATE_PAGE not in PUBLIC_PAGES:
            raise ValueError(f"{RATE_PAGE} is not a reviewed public page (routes.PUBLIC_PAGES)")
        resource = app.router.add_resource(RATE_PAGE, name="rating.page")
        resource.add_route("GET", self.rate_page)
        resource.add_route("POST", self.rate)
        app[PUBLIC].add(resource)
