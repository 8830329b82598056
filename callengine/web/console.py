"""The console (`callengine console`): the people's web process. It composes its components and
builds the aiohttp app from the features' route tables; it never speaks AMI.

Middlewares, outermost first: the language (Bahasa Indonesia unless `?lang=en`), the error
shapes (JSON under /api/, pages elsewhere), the gate (session or token, role, CSRF, audit).
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web

from callengine.accounts import http as accounts_http
from callengine.accounts.model import AccountError
from callengine.accounts.service import Accounts
from callengine.accounts.wiring import stored_accounts
from callengine.attachments.wiring import stored_attachments
from callengine.core.clock import Clock, SystemClock
from callengine.core.component import Components, Service, run_until_signal
from callengine.core.settings import ConsoleSettings, Settings, read_secret
from callengine.db.alerts import AlertRepository, PauseRepository
from callengine.db.assignments import AssignmentRepository
from callengine.db.audit import AuditRepository
from callengine.db.callbacks import CallbackRepository
from callengine.db.calls import CallRepository
from callengine.db.database import Database
from callengine.db.escalations import DeliveryLog, SlaRepository
from callengine.db.migrator import Migrator
from callengine.db.tickets import TicketRepository
from callengine.desk.http import DeskApi, tile_origin
from callengine.dispatch.config import load_agencies, load_escalate_after, load_voice
from callengine.dispatch.sla import SlaBook, SlaWatcher, roster_supervisors
from callengine.dispatch.sla_http import SlaApi
from callengine.dispatch.voice import CHANNEL as VOICE, DispatcherAssignments, SpokenMessages, VoiceNotifier
from callengine.dispatch.wiring import stored_dispatch
from callengine.evidence.wiring import stored_evidence
from callengine.notify.notifier import chain
from callengine.qa.http import CallsApi
from callengine.qa.wiring import stored_scores
from callengine.notify.wiring import Notifications
from callengine.rating.wiring import stored_ratings
from callengine.reports.wiring import ConsoleReports
from callengine.queueing.roster import lazy_roster
from callengine.rostering.http import RosterApi
from callengine.rostering.service import RosterEditor
from callengine.tickets.desk import load_desk
from callengine.tickets.http import TicketApi
from callengine.tickets.model import call_audit_targets
from callengine.tickets.service import TicketDesk
from callengine.wallboard.http import WallboardApi
from callengine.wallboard.service import Wallboard
from callengine.web import home, i18n, openapi
from callengine.web.auth import CSRF_FIELD, PUBLIC, Network, authenticate, declared, guard, register
from callengine.web.engine_link import EngineLink
from callengine.web.errors import errors
from callengine.web.pages import PAGE_CONTEXT, PageContext
from callengine.web.routes import EVERYONE, PRINCIPAL, Route, local_path
from callengine.web.server import ProtocolLog, WebServer

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
TEMPLATES, STATIC = HERE / "templates", HERE / "static"
MAX_BODY = 1024 * 1024
UPKEEP_EVERY_S = 3600.0
Check = Callable[[], Awaitable[bool]]
VENDOR = {"leaflet": "leaflet/dist", "wavesurfer": "wavesurfer.js/dist", "chartjs": "chart.js/dist"}   # npm, package.json


def security_headers(tiles: str) -> dict[str, str]:
    images = " ".join(filter(None, ("'self' data:", tile_origin(tiles))))
    return {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        # styles inline too: wavesurfer.js puts its <style> in its shadow root (scripts stay 'self' only)
        "Content-Security-Policy": f"default-src 'self'; img-src {images}; style-src 'self' 'unsafe-inline'; "
                                   "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    }


def make_console(settings: Settings, accounts: Accounts, checks: Mapping[str, Check],
                 features: Sequence[Route] = (), call_targets: accounts_http.CallTargets | None = None
                 ) -> web.Application:
    """The console's app: its own routes, the accounts', and those of `features`."""
    network = Network(settings.console.trusted_proxies, settings.console.secure_cookies == "always")
    app = web.Application(middlewares=[i18n.middleware(i18n.load_catalogues()), errors, guard(accounts, network)],
                          client_max_size=MAX_BODY,
                          handler_args={"logger": ProtocolLog(logging.getLogger("aiohttp.server"))})
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES), extensions=["jinja2.ext.i18n"],
                               autoescape=True, undefined=jinja2.StrictUndefined)
    app[PAGE_CONTEXT] = _page_context(settings)
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["local"] = _local_time(settings.timezone)
    env.filters["device"] = device_label
    app[PUBLIC] = {app.router.add_static("/static", STATIC, name="static"), *_vendor(app, settings.console)}

    async def healthz(request: web.Request) -> web.Response:
        results = {name: await check() for name, check in checks.items()}
        ok = all(results.values())
        return web.json_response({"status": "ok" if ok else "degraded", "checks": results}, status=200 if ok else 503)

    async def openapi_json(request: web.Request) -> web.Response:
        return web.json_response(openapi.document(declared(request.app), f"callengine console {settings.city}"))

    register(app, [
        Route("GET", "/healthz", healthz, None, "healthz", "the console and its database answer"),
        Route("GET", "/api/v1/openapi.json", openapi_json, EVERYONE, "openapi", "this document"),
        *accounts_http.routes(accounts, network, call_targets),
        *home.routes(accounts),
        *features,
    ])
    app.on_response_prepare.append(_headers(security_headers(settings.console.tiles)))
    return app


def _vendor(app: web.Application, console: ConsoleSettings) -> list[web.AbstractResource]:
    """/static/vendor/<package>/ from npm's folder; a package missing is logged, and the pages
    that use it fall back (the desk shows coordinates without a map)."""
    found = []
    for name, folder in VENDOR.items():
        path = console.assets_dir / folder
        if path.is_dir():
            found.append(app.router.add_static(f"/static/vendor/{name}", path))
        else:
            log.warning("browser package %s missing (%s): run ./scripts/setup", name, path)
    return found


def _headers(headers: Mapping[str, str]) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(headers)
        if PRINCIPAL in request:   # a person's data: never in a shared cache
            response.headers["Cache-Control"] = "no-store"
    return add


def _page_context(settings: Settings) -> PageContext:
    def context(request: web.Request) -> dict[str, Any]:
        who = request.get(PRINCIPAL)
        others = [(k, v) for k, v in request.query.items() if k != "lang"]
        here = local_path(request.path)
        switch = {code: f"{here}?{urlencode([*others, ('lang', code)])}" for code in i18n.LANGUAGES}
        return {"who": who, "csrf_token": who.csrf_token if who else None, "csrf_field": CSRF_FIELD,
                "lang": request.get(i18n.LANG, i18n.DEFAULT), "language_links": switch, "city": settings.city,
                "zone": settings.timezone.key}
    return context


# the browsers a user agent names, the most specific first (Edge's also says Chrome and Safari)
BROWSERS = (("Edge", r"Edg/(\d+)"), ("Opera", r"OPR/(\d+)"), ("Samsung Internet", r"SamsungBrowser/(\d+)"),
            ("Firefox", r"Firefox/(\d+)"), ("Chrome", r"Chrome/(\d+)"), ("Safari", r"Version/(\d+)[\d.]* .*Safari"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
           ("Mac OS", "macOS"), ("Linux", "Linux"))


def device_label(agent: str) -> str:
    """A user agent as a person reads it ("Chrome 131, Android"); anything else (a duty phone,
    a script) as it is."""
    if not agent.startswith("Mozilla/"):
        return agent
    browser = next((f"{name} {found[1]}" for name, shape in BROWSERS if (found := re.search(shape, agent))), None)
    system = next((label for mark, label in SYSTEMS if mark in agent), None)
    return ", ".join(filter(None, (browser, system))) or agent


def _local_time(zone: ZoneInfo) -> Callable[[datetime | str | None, bool], str]:
    """The page's filter `local`: a time (or the API's ISO 8601 text) in the centre's zone, to
    the minute, or to the second for a timeline."""
    def local(moment: datetime | str | None, seconds: bool = False) -> str:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        shape = "%d-%m-%Y %H:%M:%S %Z" if seconds else "%d-%m-%Y %H:%M %Z"
        return moment.astimezone(zone).strftime(shape) if moment else ""
    return local


class Console:
    """The console process's components: the database (migrated at start), the web server, and
    the upkeep of the accounts' tables."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.db = db = Database(settings.database_url)
        self.accounts = stored_accounts(db, timedelta(seconds=settings.console.session_idle_s), clock)
        clock = clock or SystemClock()
        options = load_desk(settings.desk_file)
        calls = CallRepository(db)
        dispatch = stored_dispatch(db, load_agencies(settings.agencies_file, options), clock, self.signed_in)
        attachments = stored_attachments(db, settings.runtime_dir, clock)
        sla_store, zone = SlaRepository(db), settings.timezone
        sla = SlaApi(SlaBook(sla_store, clock, zone))
        self.notify = Notifications(settings, db, dispatch.rules, clock, zone)
        self.sla = SlaWatcher(self.notify.notifier.escalations(sla_store), dispatch.rules, clock,
                              roster_supervisors(settings.roster_file, zone),
                              load_escalate_after(settings.agencies_file), zone, self.notify.sla_channels)
        timeline = sla.book.with_notices(attachments.attachments.timeline(dispatch.dispatcher.timeline))
        self.rating = stored_ratings(settings, db, clock)
        tickets = TicketApi(TicketRepository(db), calls, clock, TicketDesk(db, options, clock), options,
                            CallbackRepository(db), timeline, self.rating.ratings.of_ticket, self.takes_calls)
        self.link = EngineLink(f"http://{settings.web_host}:{settings.web_port}",
                               lambda: read_secret(settings, "engine_api"))
        self.voice = VoiceNotifier(load_voice(settings.agencies_file), dispatch.rules, settings.city,
                                   SpokenMessages(settings.runtime_dir / "voice"), self.link.command, self.link.feed,
                                   DispatcherAssignments(dispatch.dispatcher), DeliveryLog(db, VOICE), clock)
        self.rating.calls(self.link.command, self.link.feed)
        dispatch.dispatcher.on_dispatched = chain(dispatch.feed.on_dispatched, self.voice.on_dispatched,
                                                  self.notify.notifier.on_dispatched)
        dispatch.dispatcher.on_changed = chain(dispatch.feed.on_changed, self.notify.notifier.on_changed)
        desk = DeskApi(self.link, calls, TicketRepository(db), clock, settings.console, self.signed_in)
        reviews = CallsApi(calls, TicketRepository(db), AuditRepository(db), AlertRepository(db),
                           settings.recordings_dir, clock, zone, settings.console.tiles)
        features = [*tickets.routes(), *desk.routes(), *dispatch.routes(), *attachments.routes(),
                    *sla.routes(), *self.rating.api.routes(), *reviews.routes(),
                    *stored_scores(settings, db, clock).routes(),
                    *stored_evidence(settings, db, clock, tickets.story).routes(),
                    *(reports := ConsoleReports(settings, db, clock, self.notify.outbox)).routes()]
        self.wallboard = Wallboard(self.link, calls, TicketRepository(db), AssignmentRepository(db),
                                   AlertRepository(db), PauseRepository(db), lazy_roster(settings.roster_file, zone),
                                   clock, [self.link.feed, dispatch.feed])
        features += WallboardApi(self.wallboard, self.signed_in, settings.pause_reasons,
                                 settings.console.tiles).routes()
        features += RosterApi(RosterEditor(settings.roster_file, zone, clock), self.accounts.record).routes()
        self.app = make_console(settings, self.accounts, {"database": db.ping}, features,
                                self.call_audit(calls, TicketRepository(db)))
        self.rating.api.mount_public(self.app)
        self.components = Components([
            Migrator(db), self.link,
            WebServer(self.app, settings.console.host, settings.console.port,
                      on_stop=chain(self.link.feed.close, dispatch.feed.close, self.wallboard.feed.close)),
            Service("accounts upkeep", self.upkeep),
            Service("sla watcher", lambda: self.sla.run(settings.console.sla_check_every)),
            Service("duty phones", self.voice.run),
            Service("rating calls", self.rating.run),
            Service("notifications", self.notify.run),
            Service("daily report", reports.run),
            Service("wallboard", self.wallboard.run),
        ])

    @staticmethod
    def call_audit(calls: CallRepository, tickets: TicketRepository) -> accounts_http.CallTargets:
        """A call's audit targets for GET /api/v1/audit?linkedid= (None: no such call)."""
        async def targets(linkedid: str) -> tuple[list[str], list[str]] | None:
            if await calls.get(linkedid) is None:
                return None
            return call_audit_targets(linkedid, await tickets.by_linkedid(linkedid))
        return targets

    async def takes_calls(self, name: str) -> bool:
        """An active account that answers calls: a ticket may be handed to it."""
        try:
            user = await self.accounts.user(name)
        except AccountError:
            return False
        return not user.disabled and user.role in ("calltaker", "supervisor")

    async def signed_in(self, request: web.Request) -> bool:
        return await authenticate(self.accounts, request) is not None

    async def upkeep(self) -> None:
        while True:
            try:
                await self.accounts.prune()
            except Exception as exc:  # the database away: the next round tries again
                log.warning("accounts upkeep failed: %s", exc)
            await asyncio.sleep(UPKEEP_EVERY_S)  # wait-ok: an upkeep pace

    async def run(self) -> None:
        def started() -> None:
            log.info("console running", extra={"url": self.settings.console.url})
        try:
            await run_until_signal(self.components, started)
        finally:
            log.info("console stopped")
