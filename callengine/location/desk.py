"""The location desk: every location a call gets, from every source, kept and ranked.

- The INVITE (seen through the SIP capture): PIDF-LO by value and the serving cell of
  P-Access-Network-Info, looked up in the cell table. Kept by SIP Call-ID until the call ends.
- AML reports (HTTP or SMS), stored as they arrive and matched to calls by caller number
  within a window, whether they come before the call ends or after it was recorded.

Bad input is logged with its reason and dropped; the call is never held up by it.
"""
from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from callengine.calls.record import CallRecord
from callengine.core.clock import Clock
from callengine.core.deadline import answer_within
from callengine.location.aml import AmlReport
from callengine.location.celldb import lookup
from callengine.location.model import CellId, Location, LocationError, best
from callengine.location.pani import parse_pani
from callengine.location.pidf import locations_from_sip
from callengine.db.aml import AmlRepository
from callengine.db.calls import CallRepository
from callengine.db.cells import CellRepository

log = logging.getLogger(__name__)
SIP_TTL_S = 3600.0        # an INVITE's locations wait this long for their call to end
LOOKUP_TIMEOUT_S = 1.0    # the cell table must not hold up the record
RECENT_AML_MARGIN = timedelta(days=1)
RECENT_AML_RETRY_S = 30.0  # how often a call may try to read the recent reports while the store is away


@dataclass
class _FromSip:
    seen: float
    locations: list[Location] = field(default_factory=list)
    cell: CellId | None = None


class RecentAml:
    """Which numbers sent AML reports lately, and since when that is known for every number.

    AML comes in through the engine alone, so a caller without a recent report needs no query
    at the end of their call (most callers: their phone sent none). Until the store was read
    once, nothing is known and every call asks the store, as it must."""

    def __init__(self, keep: timedelta) -> None:
        self.keep = keep
        self.latest: dict[str, datetime] = {}
        self.known_since: datetime | None = None

    def loaded(self, latest: dict[str, datetime], since: datetime) -> None:
        for number, at in latest.items():
            self.seen(number, at)
        self.known_since = since if self.known_since is None else min(self.known_since, since)

    def seen(self, number: str, at: datetime) -> None:
        if at > self.latest.get(number, at - timedelta(seconds=1)):
            self.latest[number] = at

    def may_have(self, number: str, since: datetime) -> bool:
        """Whether the number may have a report received at `since` or later."""
        if self.known_since is None or since < self.known_since:
            return True
        latest = self.latest.get(number)
        return latest is not None and latest >= since

    def forget_before(self, now: datetime) -> None:
        """Numbers silent for longer than `keep` are dropped: what is known starts later."""
        cutoff = now - self.keep
        if self.known_since is None or cutoff <= self.known_since:
            return
        self.latest = {number: at for number, at in self.latest.items() if at >= cutoff}
        self.known_since = cutoff


class LocationDesk:
    def __init__(self, calls: CallRepository, aml: AmlRepository, cells: CellRepository, clock: Clock,
                 aml_window: timedelta) -> None:
        self.calls, self.aml_reports, self.cells = calls, aml, cells
        self.clock = clock
        self.aml_window = aml_window
        # a call lasting up to a day still finds its reports without asking the store
        self.recent_aml = RecentAml(aml_window + RECENT_AML_MARGIN)
        self.from_sip: dict[str, _FromSip] = {}
        self._aml_load_tried = float("-inf")

    async def load_recent_aml(self) -> None:
        since = self.clock.now() - self.recent_aml.keep
        self.recent_aml.loaded(await self.aml_reports.latest_by_number(since), since)

    def invite(self, call_id: str, geolocation: str | None, content_type: str | None, body: bytes,
               access_network_info: str | None) -> None:
        """What an INVITE says of where the caller is; each bad part is logged and skipped."""
        self._expire()
        found = _FromSip(time.monotonic())
        if geolocation or (content_type and "pidf" in content_type.lower()) or b"pidf" in body[:4096]:
            try:
                found.locations = locations_from_sip(geolocation, content_type, body)
            except LocationError as exc:
                log.warning("PIDF-LO refused: %s", exc, extra={"sip_call_id": call_id})
        if access_network_info:
            try:
                found.cell = parse_pani(access_network_info)
            except LocationError as exc:
                log.warning("P-Access-Network-Info refused: %s", exc, extra={"sip_call_id": call_id})
        if found.locations or found.cell:
            self.from_sip[call_id] = found

    async def from_invite(self, sip_call_id: str, linkedid: str) -> list[Location]:
        """What the call's INVITE said of where the caller is (PIDF-LO, the serving cell), while
        the call goes on; kept for the record at its end."""
        sip = self.from_sip.get(sip_call_id)
        if sip is None:
            return []
        return [*sip.locations, *(await self._cell(sip.cell, linkedid) if sip.cell is not None else [])]

    async def locate(self, record: CallRecord) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Every location of the call (with its source) and the best one, for its record."""
        found: list[Location] = []
        sip = self.from_sip.pop(record.sip_call_id or "", None)
        if sip is not None:
            found += sip.locations
            if sip.cell is not None:
                found += await self._cell(sip.cell, record.linkedid)
        if record.caller:
            found += await self._aml_of(record.caller, record)
        chosen = best(found)
        return [loc.to_json() for loc in found], chosen.to_json() if chosen else None

    async def _aml_of(self, caller: str, record: CallRecord) -> list[Location]:
        since, until = record.started_at - self.aml_window, record.ended_at + self.aml_window
        if self.recent_aml.known_since is None:
            await self.learn_recent_aml()
        if not self.recent_aml.may_have(caller, since):
            return []
        return [location_from_json(loc) for loc in await self.aml_reports.locations(caller, since, until)]

    async def learn_recent_aml(self) -> None:
        """Read which numbers sent reports lately; tried at start, then by a call at most every 30 s
        while it fails."""
        now = time.monotonic()
        if now - self._aml_load_tried < RECENT_AML_RETRY_S:
            return
        self._aml_load_tried = now
        try:
            await self.load_recent_aml()
        except Exception as exc:  # the store away: every call asks it, as before
            log.warning("recent AML reports not read: %s", str(exc) or type(exc).__name__)

    async def aml(self, report: AmlReport) -> str | None:
        """Keep the report; attach it to the caller's call if one ended within the window.
        The linkedid it went to, or None (a later call will pick it up)."""
        now = self.clock.now()
        await self.aml_reports.add(report.number, report.transport, report.location.to_json() if report.location
                                 else None, report.raw, now)
        if report.number:
            self.recent_aml.seen(report.number, now)
            self.recent_aml.forget_before(now)
        if report.number is None or report.location is None:
            return None
        linkedid = await self.calls.call_near(report.number, now - self.aml_window, now)
        if linkedid is not None:
            await self.calls.add_location(linkedid, report.location.to_json(), _best_json)
        return linkedid

    async def _cell(self, cell: CellId, linkedid: str) -> list[Location]:
        try:
            found = await answer_within(lookup(self.cells, cell), LOOKUP_TIMEOUT_S)
        except Exception as exc:  # the cell table is a help, never a condition
            log.warning("cell lookup failed: %s", str(exc) or type(exc).__name__, extra={"linkedid": linkedid})
            return []
        if found is None:
            log.info("serving cell not in the cell table", extra={"linkedid": linkedid, "cell": str(cell)})
            return []
        return [found]

    def _expire(self) -> None:
        cutoff = time.monotonic() - SIP_TTL_S
        for call_id in [k for k, v in self.from_sip.items() if v.seen < cutoff]:
            del self.from_sip[call_id]


def from_trunk(source: str, trunk: Sequence[str]) -> bool:
    """Whether a captured SIP message was sent from a trunk address (`[trunk] match`). Only the
    telco vouches for PIDF-LO and P-Access-Network-Info; anyone else can write them."""
    try:
        address = ipaddress.ip_address(source)
    except ValueError:  # no source in the capture: not known to be the trunk
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(trunk)))


@lru_cache(maxsize=8)
def _networks(trunk: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trunk)


def location_from_json(data: dict[str, Any]) -> Location:
    at = datetime.fromisoformat(data["at"]) if data.get("at") else None
    return Location(data["lat"], data["lon"], data.get("radius_m"), data["source"], data.get("method"), at,
                    data.get("detail") or {})


def _best_json(locations: list[dict[str, Any]]) -> dict[str, Any] | None:
    chosen = best(location_from_json(loc) for loc in locations)
    return chosen.to_json() if chosen else None
