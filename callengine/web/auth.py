"""The console's gate: who a request is, whether their role may use the route, the CSRF token of
every write from a session, and the audit of every write.

- A request is its session cookie, or `Authorization: Bearer <token>` (a personal API token,
  acting as its user; a browser never sends one by itself, so it needs no CSRF token).
- No one: pages redirect to /login, /api/ answers 401 JSON. Wrong role: 403.
- A route the table does not declare is refused (500, logged): nothing is open by omission.
- The client's address and scheme come from X-Forwarded-For / -Proto only when the direct
  peer is a configured trusted proxy.
"""
from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import hdrs, web

from callengine.accounts.model import Principal
from callengine.accounts.service import Accounts, same_secret
from callengine.web.errors import HttpError
from callengine.web.routes import PEER, PRINCIPAL, Route

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION_COOKIE = "callengine_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
ROUTES = web.AppKey("routes", dict)            # aiohttp route -> its Route
PUBLIC = web.AppKey("public_resources", set)   # resources anyone may read (static assets)
SECURE = web.RequestKey("secure", bool)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Network:
    """Where requests come from: which proxies are believed, and whether cookies are always Secure."""
    trusted_proxies: tuple[str, ...] = ()
    always_secure: bool = False
    networks: tuple[IPNetwork, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies)
        object.__setattr__(self, "networks", nets)

    def trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client(self, request: web.Request) -> tuple[str, bool]:
        """The client's address and whether it came over TLS."""
        remote, secure = request.remote or "", request.secure
        if not self.trusted(remote):
            return remote, secure
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
        for hop in reversed(hops):           # the nearest hop not one of our proxies is the client
            if not _is_address(hop):
                break                        # garbage a client wrote before our proxy appended: stop
            remote = hop
            if not self.trusted(hop):
                break
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        return remote, secure or proto == "https"

    def secure(self, request: web.Request) -> bool:
        """Whether the cookies set on this response are marked Secure."""
        return self.always_secure or request.get(SECURE, request.secure)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def guard(accounts: Accounts, network: Network) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[PEER], request[SECURE] = network.client(request)
        match = request.match_info
        if match.http_exception is not None or match.route.resource in request.app[PUBLIC]:
            return await handler(request)          # 404/405, static assets
        route: Route | None = request.app[ROUTES].get(match.route)
        if route is None:
            log.error("route without an access declaration refused", extra={"path": request.path})
            raise HttpError(500, "internal", "route without an access declaration")
        if route.roles is None:
            return await handler(request)
        who = await authenticate(accounts, request)
        if who is None:
            raise _unauthenticated(request, route)
        request[PRINCIPAL] = who
        if who.user.role not in route.roles:
            await _refused(accounts, request, route, who, "forbidden")
            raise HttpError(403, "forbidden", f"the role {who.user.role!r} may not use this")
        if route.writes and who.via == "session" and not same_secret(await _csrf_token(request), who.csrf_token or ""):
            await _refused(accounts, request, route, who, "csrf")
            raise HttpError(403, "csrf", f"a write from a session needs its CSRF token ({CSRF_HEADER} header "
                                         f"or {CSRF_FIELD} form field)")
        if not (route.writes and route.audit == "request"):
            return await handler(request)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except (HttpError, web.HTTPException) as exc:
            status = exc.status
            raise
        finally:
            await accounts.record(who.user.name, route.name, request.path,
                                  {"method": request.method, "status": status, "via": who.via}, request[PEER])
    return gate


async def authenticate(accounts: Accounts, request: web.Request) -> Principal | None:
    """The bearer token if the request carries an Authorization header (and nothing else then),
    otherwise the session cookie."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        scheme, _, secret = header.partition(" ")
        return await accounts.bearer(secret.strip()) if scheme.lower() == "bearer" else None
    return await accounts.session(request.cookies.get(SESSION_COOKIE))


def _unauthenticated(request: web.Request, route: Route) -> Exception:
    if route.api or hdrs.AUTHORIZATION in request.headers:
        return HttpError(401, "unauthenticated", "log in (POST /login) or send Authorization: Bearer <token>",
                         {hdrs.WWW_AUTHENTICATE: 'Bearer realm="callengine"'})
    wanted = request.path_qs if request.method in ("GET", "HEAD") else ""
    return web.HTTPSeeOther("/login" + (f"?next={quote(wanted, safe='')}" if wanted and wanted != "/" else ""))


async def _csrf_token(request: web.Request) -> str | None:
    """The header, else the form field. Reading a form here buffers it (aiohttp keeps it for the
    handler's `request.post()`); a handler that streams a large upload with `request.multipart()`
    must have the token sent in the header."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in FORMS:
        value = (await request.post()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return given


async def _refused(accounts: Accounts, request: web.Request, route: Route, who: Principal, why: str) -> None:
    """A write refused to a known person is kept: a viewer trying to write, a forged form."""
    log.warning("console request refused: %s", why, extra={"user": who.user.name, "path": request.path,
                                                            "method": request.method})
    if route.writes:
        await accounts.record(who.user.name, f"refused.{why}", request.path,
                              {"method": request.method, "route": route.name, "via": who.via}, request[PEER])


def register(app: web.Application, routes: Iterable[Route]) -> None:
    """Add the routes to the app's router, each with its declaration for the gate."""
    table = app.get(ROUTES, {})
    names = {r.name for r in table.values()}
    for route in routes:
        if route.name in names:
            raise ValueError(f"two routes named {route.name!r}")
        names.add(route.name)
        table[app.router.add_route(route.method, route.path, route.handler, name=route.name)] = route
    app[ROUTES] = table


def declared(app: web.Application) -> Sequence[Route]:
    return list(app[ROUTES].values())
