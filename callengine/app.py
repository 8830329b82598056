"""The daemon: wires AMI, FastAGI, the IVR, the call tracker, the ticket store and the web server."""
from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import asdict
from datetime import timedelta

from aiohttp import web

from callengine.calls.recovery import REBUILD_WINDOW, CallRecovery
from callengine.calls.record import CallRecord
from callengine.calls.tracker import KEPT_EVENTS, CallTracker
from callengine.core.clock import Clock, SystemClock
from callengine.core.settings import Settings, load_secrets
from callengine.audio.prompts import durations
from callengine.audio.recordings import RecordingError, process_recording
from callengine.audio.worker import recording_workers
from callengine.ivr.config import load_ivr
from callengine.ivr.flow import Ivr
from callengine.location.desk import LocationDesk, from_trunk
from callengine.queueing.roster import RosterFile
from callengine.queueing.shifts import WAKING_EVENTS, ShiftKeeper
from callengine.telephony.ami import AmiClient, AmiError
from callengine.telephony.fastagi import AgiChannel, FastAgiServer
from callengine.telephony.hep import HepListener, HepPacket, listen
from callengine.telephony.sip import SipError, parse_sip
from callengine.telephony.queues import AmiQueues
from callengine.tickets.store import Ticket, TicketStore
from callengine.tickets.webhooks import WebhookSink
from callengine.tickets.writer import RecordWriter, Spool
from callengine.web.server import make_app

log = logging.getLogger(__name__)
LOCATE_TIMEOUT_S = 2.0               # the location lookups may delay a record this much, no more


class Engine:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.store = TicketStore(settings.database_url)
        self.writer = RecordWriter(self.store, Spool(settings.runtime_dir / "spool" / "call-records.jsonl"),
                                   self.after_commit)
        self.desk = LocationDesk(self.store, self.clock, timedelta(seconds=settings.aml_window_s))
        self.tracker = CallTracker(self.locate_then_write, self.clock)
        self.ivr_settings = load_ivr(settings.ivr_file)
        self.ivr = Ivr(self.ivr_settings, settings.language, durations(settings.sounds_dir),
                       self.has_prank_history, self.tracker.annotate)
        self.fastagi = FastAgiServer(settings.fastagi_host, settings.fastagi_port, {"ivr": self.ivr_session})
        self.ami = AmiClient(settings.ami_host, settings.ami_port, settings.ami_user,
                             load_secrets(settings)["ami"], on_event=self.on_event,
                             on_connected=self.on_ami_connected, events=KEPT_EVENTS | WAKING_EVENTS)
        self.background: set[asyncio.Task[None]] = set()
        self.locating: set[str] = set()   # finished calls between tracker and writer
        self.recovery = CallRecovery(
            self.tracker, settings.runtime_dir / "log" / "cel-custom" / "Master.csv", settings.recordings_dir,
            list_channels=self.list_channels, connected=self.ami.connected, known=self.store.known_linkedids,
            pending=lambda: self.writer.waiting() | self.locating, submit=self.writer.submit, clock=self.clock)
        self.tracker.recover = self.recovery.recover
        self.audio_worker = recording_workers()
        self.webhooks = WebhookSink(settings.webhook_urls, load_secrets(settings)["webhook"])
        roster = RosterFile(settings.roster_file, settings.timezone)
        self.shifts = ShiftKeeper(roster, settings.queue, AmiQueues(self.ami), self.clock, self.alert)

    async def locate_then_write(self, record: CallRecord) -> None:
        """Where the caller was (from every source) goes on the record before it is written;
        a failing location source never keeps a record from the store."""
        self.locating.add(record.linkedid)
        try:
            # shielded: a query cancelled mid-flight can leave SQLite locked; a late answer is dropped
            found = await asyncio.wait_for(asyncio.shield(self.desk.locate(record)), LOCATE_TIMEOUT_S)
            record.locations, record.location = found
        except Exception as exc:  # the store or the cell table away: write what we have
            log.warning("call recorded without its location: %s", str(exc) or type(exc).__name__,
                        extra={"linkedid": record.linkedid})
        await self.writer.submit(record)
        self.locating.discard(record.linkedid)
        self.recovery.hint()

    def on_sip(self, packet: HepPacket) -> None:
        """A SIP message Asterisk handled; an INVITE from the trunk may say where the caller is."""
        try:
            message = parse_sip(packet.payload)
        except SipError as exc:
            log.warning("captured SIP message unreadable: %s", exc)
            return
        call_id = message.header("call-id")
        if message.method == "INVITE" and call_id:
            log.debug("INVITE captured", extra={"sip_call_id": call_id, "source": packet.source})
            # Location headers are the telco's word: from anyone else (refused callers,
            # Asterisk's own INVITEs to call takers) they are ignored, not even kept.
            if not from_trunk(packet.source, self.settings.trunk_match):
                return
            self.desk.invite(call_id, message.header("geolocation"), message.header("content-type"), message.body,
                             message.header("p-access-network-info"))

    async def after_commit(self, record: CallRecord, ticket: Ticket) -> None:
        """Work that must never delay the record: it runs once record and ticket are committed."""
        self.webhooks.submit("ticket.created", {"ticket": ticket.to_json(), "call": record.to_json()})
        if record.recording:
            self._process_later(record.linkedid, record.recording)

    def _process_later(self, linkedid: str, relative: str) -> None:
        task = asyncio.create_task(self.process_recording(linkedid, relative))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def process_recording(self, linkedid: str, relative: str) -> None:
        """Browser copy, duration, waveform and checksum of the call's recording, kept on its record."""
        try:
            loop = asyncio.get_running_loop()
            facts = await loop.run_in_executor(self.audio_worker, process_recording, self.settings.recordings_dir,
                                               relative)
            await self.store.set_recording_facts(linkedid, asdict(facts))
        except RecordingError as exc:  # e.g. a caller gone before any audio: the WAV stays as it is
            log.warning("recording not processed: %s", exc, extra={"linkedid": linkedid})
        except Exception as exc:  # a store outage: the WAV stays; facts can be rebuilt later
            log.error("recording facts not stored: %s", exc, extra={"linkedid": linkedid})
        else:
            log.info("recording processed", extra={"linkedid": linkedid, "duration_s": facts.duration_s,
                                                   "browser_copy": facts.browser_copy})

    async def on_event(self, event: dict[str, str]) -> None:
        await self.tracker.on_event(event)
        await self.shifts.on_event(event)

    async def alert(self, kind: str, message: str) -> None:
        """Keep an alert for supervisors; a store outage must not stop the shift keeper."""
        try:
            await self.store.add_alert(self.clock.now(), kind, message)
        except Exception as exc:  # driver errors vary by backend; the log line already carries it
            log.error("alert not stored (%s): %s", exc, message)

    async def ivr_session(self, agi: AgiChannel) -> None:
        self.tracker.ivr_started(agi.env.get("agi_uniqueid", ""))
        await self.ivr(agi)

    async def has_prank_history(self, caller: str) -> bool:
        since = self.clock.now() - timedelta(days=self.ivr_settings.prank_days)
        return await self.store.prank_calls(caller, since) >= self.ivr_settings.prank_calls

    async def on_ami_connected(self) -> None:
        """Bring the queue back in step with the roster; take on every live call and rebuild
        the calls that ended while we were not listening (engine down, AMI lost)."""
        self.shifts.wake.set()
        await self.recovery.on_connected()

    async def list_channels(self) -> list[dict[str, str]]:
        try:
            return await self.ami.action({"Action": "CoreShowChannels"}, as_list=True, timeout=15)
        except AmiError as exc:
            raise RuntimeError(f"cannot list channels: {exc}") from exc

    async def ami_ok(self) -> bool:
        return self.ami.connected.is_set()

    async def fastagi_ok(self) -> bool:
        return self.fastagi.listening

    async def migrate(self) -> None:
        """The schema, as soon as the database answers. Until then the engine runs all the
        same: the IVR and queue work, and records wait in the spool. Then the recordings a
        previous run had no time to process."""
        while True:
            try:
                await self.store.migrate()
                pending = await self.store.unprocessed_recordings(self.clock.now() - REBUILD_WINDOW)
                for linkedid, relative in pending:
                    self._process_later(linkedid, relative)
                return
            except Exception as exc:  # driver errors vary by backend
                log.error("database unavailable at start (%s); call records go to the spool", exc)
                await asyncio.sleep(5)

    async def run(self) -> None:
        migrating = asyncio.create_task(self.migrate())
        await asyncio.wait([migrating], timeout=10)
        await self.fastagi.start()
        runner = web.AppRunner(make_app({"ami": self.ami_ok, "fastagi": self.fastagi_ok,
                                         "database": self.store.ping}, self.desk.aml))
        capture = await listen(self.settings.fastagi_host, self.settings.hep_port,
                               HepListener(load_secrets(self.settings)["hep"], self.on_sip))
        await runner.setup()
        await web.TCPSite(runner, self.settings.web_host, self.settings.web_port).start()
        log.info("callengine running", extra={
            "fastagi": f"{self.settings.fastagi_host}:{self.fastagi.port}",
            "web": f"http://{self.settings.web_host}:{self.settings.web_port}",
            "ami": f"{self.settings.ami_host}:{self.settings.ami_port}"})
        tasks = [migrating, asyncio.create_task(self.ami.run()), asyncio.create_task(self.writer.run()),
                 asyncio.create_task(self.recovery.run()),
                 asyncio.create_task(self.shifts.run()), asyncio.create_task(self.webhooks.run())]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            log.info("callengine stopping")
            await self.writer.drain(timeout=5)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.fastagi.stop()
            await runner.cleanup()
            capture.close()
            await self.store.close()
            self.audio_worker.shutdown(wait=False, cancel_futures=True)
