"""The QA's call API: search (`GET /api/v1/calls`), one call with its ticket
(`GET /api/v1/calls/{linkedid}`), and its recording (`GET /api/v1/calls/{linkedid}/audio`):
the browser copy streamed with HTTP Range (206), or the original WAV (`?original=1`) with a
reason. The files are found from the call's record only, never from the request. Every play
(a request from the first byte) and every download is written to the audit log; the original's
SHA-256 is checked each time, and a mismatch is said in the `X-Recording-Integrity` header,
kept in the audit and raised as an alert. A call taker finds and plays only the calls they
answered."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import hdrs, web

from callengine.accounts.model import AuditEntry
from callengine.audio.recordings import RecordingError, resolve, sha256_of
from callengine.calls.record import CallRecord
from callengine.core.clock import Clock
from callengine.db.alerts import AlertRepository
from callengine.db.audit import AuditRepository
from callengine.db.calls import CallRepository
from callengine.db.tickets import TicketRepository
from callengine.evidence.service import MIN_REASON
from callengine.qa.replay import marks
from callengine.qa.search import SORTS, BadSearch, CallSearch, local_days, parse
from callengine.web.errors import HttpError
from callengine.web.pages import page
from callengine.web.routes import Param, Route, peer, principal

log = logging.getLogger(__name__)
REVIEWERS = ("qa", "supervisor", "admin", "calltaker")    # a call taker: their own calls only
COPIES = {".ogg": "audio/ogg", ".mp3": "audio/mpeg"}


@dataclass
class CallsApi:
    calls: CallRepository
    tickets: TicketRepository
    audit: AuditRepository
    alerts: AlertRepository
    recordings_dir: Path
    clock: Clock
    zone: ZoneInfo
    tiles: str = ""                   # the map's tile URL ([console] tiles); none: coordinates only

    async def search(self, request: web.Request) -> web.Response:
        try:
            wanted = parse(request.query)
        except BadSearch as exc:
            raise HttpError(400, "bad_query", str(exc)) from None
        user = principal(request).user
        if user.role == "calltaker":
            wanted = wanted.only_of(user.name)
        found, total = await self.calls.search(wanted)
        return web.json_response({"total": total, "offset": wanted.offset, "limit": wanted.limit, "calls": [
            {**_summary(call), "ticket": number} for call, number in found]})

    async def one(self, request: web.Request) -> web.Response:
        call = await self._call(request)
        ticket = await self.tickets.by_linkedid(call.linkedid)
        marked = [m.to_json() for m in marks(call, (call.recording_facts or {}).get("duration_s"))]
        return web.json_response({**call.to_json(), "marks": marked, "ticket": ticket.to_json() if ticket else None})

    async def search_page(self, request: web.Request) -> web.Response:
        """The search form and its results (server-rendered: it works without JavaScript, and
        every result page is a link a reviewer can keep)."""
        query = local_days(request.query, self.zone)
        error, found, total, wanted = None, [], 0, None
        try:
            wanted = parse(query)
            user = principal(request).user
            found, total = await self.calls.search(wanted.only_of(user.name) if user.role == "calltaker" else wanted)
        except BadSearch as exc:
            error = str(exc)
        return page(request, "qa/calls.html", {
            "query": request.query, "error": error, "calls": [(_summary(c), number) for c, number in found],
            "total": total, "wanted": wanted, "pages": _pages(request, wanted, total),
            "sorts": {key: "?" + urlencode({**{k: v for k, v in request.query.items() if k not in ("sort", "offset")},
                                            "sort": key}) for key in SORTS}}, status=400 if error else 200)

    async def call_page(self, request: web.Request) -> web.Response:
        call = await self._call(request)
        ticket = await self.tickets.by_linkedid(call.linkedid)
        facts = call.recording_facts or {}
        integrity = "unchecked"
        if facts.get("sha256") and call.recording:
            try:
                integrity = await self._check(request, call, resolve(self.recordings_dir, call.recording),
                                              str(facts["sha256"]))
            except RecordingError:
                integrity = "mismatch"
        return page(request, "qa/call.html", {
            "call": call, "ticket": ticket, "facts": facts, "integrity": integrity, "tiles": self.tiles,
            "player": {"audio": f"/api/v1/calls/{call.linkedid}/audio" if facts.get("sha256") else None,
                       "peaks": facts.get("waveform") or [], "duration": facts.get("duration_s"),
                       "marks": [m.to_json() for m in marks(call, facts.get("duration_s"))],
                       "location": call.location}})

    async def audio(self, request: web.Request) -> web.StreamResponse:
        call = await self._call(request)
        facts = call.recording_facts or {}
        if not call.recording or not facts.get("sha256"):
            raise HttpError(404, "no_recording", f"call {call.linkedid} has no processed recording")
        original = request.query.get("original") == "1"
        reason = (request.query.get("reason") or "").strip()
        if original and len(reason) < MIN_REASON:
            raise HttpError(400, "reason_needed", "a download of the original asks for its reason "
                                                  f"(?reason=, at least {MIN_REASON} characters)")
        try:
            wav = resolve(self.recordings_dir, call.recording)
        except RecordingError as exc:
            raise HttpError(404, "no_recording", str(exc)) from None
        path = wav if original else wav.with_suffix(Path(str(facts.get("browser_copy", ""))).suffix)
        if path.suffix not in (".wav", *COPIES) or not path.is_file():
            raise HttpError(404, "no_recording", f"the recording of call {call.linkedid} is not on disk")
        integrity = "unchecked"
        if original or _from_start(request):          # a play or a download, not the player's next range
            integrity = await self._check(request, call, wav, str(facts["sha256"]))
            await self._audited(request, "recording.download" if original else "recording.play", call,
                                {"file": path.name, "integrity": integrity, **({"reason": reason} if original else {})})
        response = web.FileResponse(path, headers={
            hdrs.CONTENT_TYPE: "audio/wav" if original else COPIES[path.suffix], "X-Recording-Integrity": integrity,
            **({hdrs.CONTENT_DISPOSITION: f'attachment; filename="{call.linkedid}.wav"'} if original else {})})
        return response

    async def _check(self, request: web.Request, call: CallRecord, wav: Path, expected: str) -> str:
        """'ok', or 'mismatch' (audited and raised as an alert, the file still served: evidence
        is shown with its warning, never hidden)."""
        if await asyncio.to_thread(sha256_of, wav) == expected.lower():
            return "ok"
        log.error("recording checksum mismatch", extra={"linkedid": call.linkedid, "recording": call.recording})
        await self._audited(request, "recording.mismatch", call, {"recording": call.recording, "expected": expected})
        await self.alerts.add(self.clock.now(), "recording_mismatch",
                              f"recording of call {call.linkedid} ({call.recording}) no longer matches its SHA-256")
        return "mismatch"

    async def _audited(self, request: web.Request, action: str, call: CallRecord, detail: dict[str, Any]) -> None:
        await self.audit.add(AuditEntry(self.clock.now(), principal(request).user.name, action,
                                        f"call/{call.linkedid}", detail, peer(request)))

    async def _call(self, request: web.Request) -> CallRecord:
        linkedid = request.match_info["linkedid"]
        call = await self.calls.get(linkedid)
        user = principal(request).user
        if call is None or (user.role == "calltaker" and call.agent != user.name):
            raise HttpError(404, "not_found", f"no call {linkedid!r}")   # another taker's: not even that it exists
        return call

    def routes(self) -> list[Route]:
        search = (Param("caller", "any local form: 0812…, 62812…, +62812…"), Param("agent", "the call taker"),
                  Param("category", "the IVR's category"), Param("disposition", "answered, abandoned, ivr, failed …"),
                  Param("ticket", "the ticket's number"), Param("from", "ISO 8601 with offset: started at or after"),
                  Param("to", "ISO 8601 with offset: started before"), Param("prank", "1 or 0"),
                  Param("ghost", "1 or 0"), Param("located", "1: with a location, 0: without"),
                  Param("classification", "the ticket's: darurat, informasi, prank, ghost, salah_sambung, duplikat"),
                  Param("rating", "the citizen's rating, 1 to 5", "integer"),
                  Param("min_talk", "seconds", "number"), Param("scored", "1: scored by QA, 0: not yet"),
                  Param("min_score", "the call's QA score (its reviewers' mean) at least, 0..100", "number"),
                  Param("max_score", "the call's QA score at most, 0..100", "number"),
                  Param("sort", "started_at, wait_s or talk_s (largest first)"),
                  Param("limit", "at most 200", "integer"), Param("offset", "for the next page", "integer"))
        return [
            Route("GET", "/calls", self.search_page, REVIEWERS, "calls.search_page",
                  "the call search page (the same filters; from and to may be local days)", query=search,
                  tags=("qa",)),
            Route("GET", "/calls/{linkedid}", self.call_page, REVIEWERS, "calls.page",
                  "one call: the player with its waveform and moments, the ticket, the location, the IVR",
                  tags=("qa",)),
            Route("GET", "/api/v1/calls", self.search, REVIEWERS, "calls.search",
                  "calls, newest first, each with its ticket's number (a call taker: their own)", query=search,
                  tags=("qa",)),
            Route("GET", "/api/v1/calls/{linkedid}", self.one, REVIEWERS, "calls.get",
                  "one call's record with its ticket", tags=("qa",)),
            Route("GET", "/api/v1/calls/{linkedid}/audio", self.audio, REVIEWERS, "calls.audio",
                  "the recording: the browser copy (HTTP Range → 206), or the original WAV with ?original=1 and a "
                  "reason; every play and download audited, the original's SHA-256 checked "
                  "(X-Recording-Integrity: ok, mismatch)",
                  query=(Param("original", "1: the original WAV, as a download"),
                         Param("reason", "why the original is downloaded (required with original=1)")),
                  tags=("qa",)),
        ]


def _pages(request: web.Request, wanted: CallSearch | None, total: int) -> dict[str, str | None]:
    """The previous and next result pages' links (the query as it is, another offset)."""
    if wanted is None:
        return {"previous": None, "next": None}
    def at(offset: int) -> str:
        return str(request.rel_url.update_query(offset=str(offset)))
    return {"previous": at(max(0, wanted.offset - wanted.limit)) if wanted.offset else None,
            "next": at(wanted.offset + wanted.limit) if wanted.offset + wanted.limit < total else None}


def _from_start(request: web.Request) -> bool:
    wanted = request.headers.get(hdrs.RANGE, "").replace(" ", "")
    return not wanted or wanted.startswith("bytes=0-")


def _summary(call: CallRecord) -> dict[str, Any]:
    return {k: v for k, v in call.to_json().items() if k in (
        "linkedid", "caller", "caller_status", "started_at", "answered_at", "ended_at", "category", "agent", "wait_s",
        "talk_s", "disposition", "ghost", "prank", "recording")} | {"located": call.location is not None}
