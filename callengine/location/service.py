"""Caller location as a component: the HEP capture through which Asterisk shows the engine its
INVITEs (Asterisk 16 hides SIP bodies from the dialplan), and the location a finished call's
record gets before it is stored, bounded in time."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from callengine.calls.record import CallRecord
from callengine.core.deadline import answer_within
from callengine.location.aml import AmlReport
from callengine.location.desk import LocationDesk, from_trunk
from callengine.location.live import LiveLocator
from callengine.telephony.hep import HepListener, HepPacket, listen
from callengine.telephony.sip import SipError, parse_sip

log = logging.getLogger(__name__)
LOCATE_TIMEOUT_S = 2.0   # the location lookups may delay a record this much, no more


class LocationService:
    def __init__(self, desk: LocationDesk, host: str, hep_port: int, hep_password: str,
                 trunk: Sequence[str], publish: Callable[[object], None] = lambda event: None) -> None:
        self.desk = desk
        self.live = LiveLocator(desk, publish)
        self.host, self.hep_port, self.hep_password = host, hep_port, hep_password
        self.trunk = tuple(trunk)
        self.capture: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.capture = await listen(self.host, self.hep_port, HepListener(self.hep_password, self.on_sip, only=b"INVITE "))
        try:
            await answer_within(self.desk.learn_recent_aml(), LOCATE_TIMEOUT_S)
        except TimeoutError:  # it goes on; calls ask the store for their AML reports meanwhile
            log.warning("recent AML reports not read within %s s", LOCATE_TIMEOUT_S)

    async def stop(self) -> None:
        if self.capture is not None:
            self.capture.close()

    def on_sip(self, packet: HepPacket) -> None:
        """A SIP message Asterisk handled; an INVITE from the trunk may say where the caller is."""
        if not packet.payload.startswith(b"INVITE "):   # responses, ACKs, BYEs, REGISTERs: nothing to read
            return
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
            if not from_trunk(packet.source, self.trunk):
                return
            self.desk.invite(call_id, message.header("geolocation"), message.header("content-type"), message.body,
                             message.header("p-access-network-info"))
            task = asyncio.get_running_loop().create_task(self.live.invited(call_id))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def aml(self, report: AmlReport) -> str | None:
        """An AML report: kept (and attached to a call that ended), and onto the live map."""
        self.live.aml(report)
        return await self.desk.aml(report)

    async def locate(self, record: CallRecord) -> None:
        """Where the caller was, from every source, onto the record; a failing source never
        keeps a record from the store."""
        try:
            found = await answer_within(self.desk.locate(record), LOCATE_TIMEOUT_S)
            record.locations, record.location = found
        except Exception as exc:  # the store or the cell table away: write what we have
            log.warning("call recorded without its location: %s", str(exc) or type(exc).__name__,
                        extra={"linkedid": record.linkedid})
