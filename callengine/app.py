"""The engine (`callengine run`): composes its components and runs them until a signal.

Each part lives in its feature folder and owns its tasks; this module only builds them, joins
them with the event bus, and starts them in order (stopping them in reverse).
"""
from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from typing import Any

from callengine.audio.processing import RecordingProcessor
from callengine.calls.callback import CALLBACK_EVENTS, Callbacks
from callengine.calls.dutyphone import DUTYPHONE_EVENTS, DutyPhones, voice_settings
from callengine.calls.events import CALL_EVENTS
from callengine.calls.live import LiveCalls
from callengine.calls.spy import Spying
from callengine.audio.prompts import durations
from callengine.calls.recovery import CallRecovery
from callengine.calls.tracker import KEPT_EVENTS, CallTracker
from callengine.core.bus import EventBus
from callengine.core.clock import Clock, SystemClock
from callengine.core.component import Components, Service
from callengine.core.settings import Settings, load_secrets
from callengine.db.alerts import AlertRepository, PauseRepository
from callengine.db.aml import AmlRepository
from callengine.db.callbacks import CallbackRepository
from callengine.db.calls import CallRepository
from callengine.db.cells import CellRepository
from callengine.db.database import Database
from callengine.db.migrator import Migrator
from callengine.ivr.config import load_ivr
from callengine.ivr.flow import Ivr
from callengine.ivr.pranks import PrankPolicy
from callengine.location.desk import LocationDesk
from callengine.location.live import FOLLOWED as LIVE_LOCATOR_EVENTS
from callengine.location.service import LocationService
from callengine.queueing.alerts import AlertKeeper
from callengine.queueing.pauses import Pauses
from callengine.queueing.roster import RosterFile
from callengine.queueing.status import status_json
from callengine.queueing.shifts import WAKING_EVENTS, ShiftKeeper
from callengine.telephony.ami import AmiClient, AmiError
from callengine.telephony.fastagi import AgiChannel, FastAgiServer
from callengine.telephony.queues import AmiQueues
from callengine.tickets.events import TicketOpened
from callengine.tickets.intake import RecordIntake
from callengine.tickets.model import TicketNumbers
from callengine.tickets.opener import FOLLOWED, TicketOpener
from callengine.tickets.webhooks import WebhookSink
from callengine.tickets.writer import RecordWriter, Spool
from callengine.rating.phone import RatingCalls, rating_voice
from callengine.web.live import QUEUE_EVENTS, LiveApi, LiveFeed, add_live_routes
from callengine.web.server import AmlAccess, WebServer, make_app

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = s = settings
        self.clock = clock = clock or SystemClock()
        secrets = load_secrets(settings)
        self.bus = bus = EventBus()
        self.db = db = Database(s.database_url)
        self.migrator = Migrator(db)
        calls = CallRepository(db)

        self.writer = RecordWriter(db, Spool(s.runtime_dir / "spool" / "call-records.jsonl"), bus.publish,
                                   numbers=TicketNumbers(s.city_code, s.timezone))
        desk = LocationDesk(calls, AmlRepository(db), CellRepository(db), clock, timedelta(seconds=s.aml_window_s))
        self.location = LocationService(desk, s.fastagi_host, s.hep_port, secrets["hep"], s.trunk_match,
                                        publish=bus.publish)
        # a finished call: located, then written; its end hints the recovery to read CEL's tail
        self.intake = RecordIntake(self.location.locate, self.writer, lambda: self.recovery.hint())
        self.tracker = CallTracker(self.intake, clock, publish=bus.publish)
        self.ami = AmiClient(s.ami_host, s.ami_port, s.ami_user, secrets["ami"], on_event=self.on_ami_event,
                             on_connected=self.on_ami_connected,
                             events=KEPT_EVENTS | WAKING_EVENTS | CALLBACK_EVENTS | DUTYPHONE_EVENTS)
        self.recovery = CallRecovery(
            self.tracker, s.runtime_dir / "log" / "cel-custom" / "Master.csv", s.recordings_dir,
            list_channels=self.list_channels, connected=self.ami.connected, known=calls.known_linkedids,
            pending=self.intake.pending, submit=self.writer.submit, clock=clock)
        self.tracker.recover = self.recovery.recover

        ivr_settings = load_ivr(s.ivr_file)
        self.ivr = Ivr(ivr_settings, s.language, durations(s.sounds_dir),
                       PrankPolicy(calls, ivr_settings, clock).has_history, self.tracker.annotate)
        self.fastagi = FastAgiServer(s.fastagi_host, s.fastagi_port, {"ivr": self.ivr_session})
        self.shifts = ShiftKeeper(RosterFile(s.roster_file, s.timezone), s.queue, AmiQueues(self.ami), clock,
                                  AlertKeeper(AlertRepository(db), clock), publish=bus.publish)
        recordings = RecordingProcessor(calls, s.recordings_dir, clock, self.migrator.ready)
        webhooks = WebhookSink(s.webhook_urls, secrets["webhook"])
        bus.subscribe(FOLLOWED, TicketOpener(self.writer.records).on_event, name="ticket opener")
        bus.subscribe(TicketOpened, recordings.on_ticket_opened)
        bus.subscribe(TicketOpened, webhooks.on_ticket_opened)
        self.live_calls = LiveCalls()
        feed = LiveFeed(self.live_calls)
        self.live_calls.changed = feed.publish
        bus.subscribe(CALL_EVENTS, self.live_calls.on_event)
        bus.subscribe(LIVE_LOCATOR_EVENTS, self.location.live.on_event, name="live locator")
        bus.subscribe(QUEUE_EVENTS, feed.publish)
        roster = self.shifts.roster
        queues = AmiQueues(self.ami)
        self.callbacks = Callbacks(lambda action: self.ami.action(action), roster, CallbackRepository(db),
                                   self.recovery.cel_rows, clock, s.recordings_dir)
        self.dutyphones = DutyPhones(lambda action: self.ami.action(action), feed.publish, clock,
                                     s.runtime_dir / "voice", voice_settings(s.agencies_file))
        self.ratings = RatingCalls(lambda action: self.ami.action(action), feed.publish, clock, s.runtime_dir / "voice",
                                   rating_voice(s.config_file, s.agencies_file))
        live = LiveApi(secrets["engine_api"], feed, self.live_calls,
                       lambda: self.queue_status(queues, roster), self.callbacks,
                       Pauses(s.queue, s.pause_reasons, roster, queues, PauseRepository(db), clock), self.dutyphones,
                       self.ratings, Spying(lambda action: self.ami.action(action), roster))
        app = make_app({"ami": self.ami_ok, "fastagi": self.fastagi_ok, "database": db.ping}, self.location.aml,
                       AmlAccess(s.aml_token or secrets["aml"], s.aml_allow))
        add_live_routes(app, live)
        web = WebServer(app, s.web_host, s.web_port, on_stop=feed.close)

        self.components = Components([
            bus, self.migrator, recordings, Service("webhooks", webhooks.run),
            Service("writer", self.writer.run, before_stop=lambda: self.writer.drain(timeout=5)),
            self.location, self.fastagi, web, Service("recovery", self.recovery.run),
            Service("shift keeper", self.shifts.run), Service("ami", self.ami.run),
        ])

    async def on_ami_event(self, event: dict[str, str]) -> None:
        await self.tracker.on_event(event)
        await self.shifts.on_event(event)
        await self.callbacks.on_event(event)
        await self.dutyphones.on_event(event)
        await self.ratings.on_event(event)

    async def on_ami_connected(self) -> None:
        """Bring the queue back in step with the roster; take on every live call and rebuild
        the calls (and finish the call-backs) that ended while we were not listening."""
        self.shifts.wake.set()
        await self.recovery.on_connected()
        await self.callbacks.on_connected()

    async def list_channels(self) -> list[dict[str, str]]:
        try:
            return await self.ami.action({"Action": "CoreShowChannels"}, as_list=True, timeout=15)
        except AmiError as exc:
            raise RuntimeError(f"cannot list channels: {exc}") from exc

    async def queue_status(self, queues: AmiQueues, roster: RosterFile) -> dict[str, Any]:
        states = [await queues.queue_state(name) for name in (self.settings.queue, f"{self.settings.queue}-fallback")]
        return status_json(states, roster(), self.clock.now())

    async def ivr_session(self, agi: AgiChannel) -> None:
        self.tracker.ivr_started(agi.env.get("agi_uniqueid", ""))
        await self.ivr(agi)

    async def ami_ok(self) -> bool:
        return self.ami.connected.is_set()

    async def fastagi_ok(self) -> bool:
        return self.fastagi.listening

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.components.start()
            log.info("callengine running", extra={
                "fastagi": f"{self.settings.fastagi_host}:{self.fastagi.port}",
                "web": f"http://{self.settings.web_host}:{self.settings.web_port}",
                "ami": f"{self.settings.ami_host}:{self.settings.ami_port}"})
            await stop.wait()
        finally:
            log.info("callengine stopping")
            await self.components.stop()
