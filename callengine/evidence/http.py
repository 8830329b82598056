"""The console's chain-of-custody API: a call's evidence bundle as a download
(`POST /api/v1/calls/{linkedid}/evidence`, with the reason), and its legal hold set and lifted
(`POST`/`DELETE /api/v1/calls/{linkedid}/hold`). The service writes each one's audit row
(audit="service"). The call is found by its linkedid in the database; the path's text never
reaches the filesystem."""
from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import hdrs, web

from callengine.evidence.service import Custody, EvidenceError, LegalHold, Requester
from callengine.web.errors import HttpError
from callengine.web.routes import Route, json_body, peer, principal

EXPORTERS = ("qa", "supervisor", "admin")
HOLDERS = ("supervisor", "qa", "admin")
HTTP_STATUS = {"not_found": 404, "bad_linkedid": 400, "reason_needed": 400, "bad_reason": 400,
               "recording_mismatch": 409, "cannot_export": 500}
T = TypeVar("T")


async def answer(work: Awaitable[T]) -> T:
    """The service's refusals as the API's JSON errors."""
    try:
        return await work
    except EvidenceError as exc:
        raise HttpError(HTTP_STATUS[exc.code], exc.code, str(exc)) from None


def requester(request: web.Request) -> Requester:
    return Requester(principal(request).user.name, "web", peer(request))


@dataclass
class EvidenceApi:
    custody: Custody
    holds: LegalHold

    async def export(self, request: web.Request) -> web.Response:
        data = await json_body(request)
        made = await answer(self.custody.export(request.match_info["linkedid"], data.get("reason"), requester(request),
                                                allow_mismatch=data.get("allow_mismatch") is True))
        return web.Response(body=made.data, content_type="application/zip", headers={
            hdrs.CONTENT_DISPOSITION: f'attachment; filename="{made.name}"',
            "X-Recording-Integrity": made.manifest["recording_integrity"]})

    async def hold(self, request: web.Request) -> web.Response:
        linkedid = request.match_info["linkedid"]
        ticket = await answer(self.holds.set(linkedid, request.method == "POST", requester(request)))
        return web.json_response({"linkedid": linkedid, "ticket": ticket.number, "legal_hold": ticket.legal_hold})

    def routes(self) -> list[Route]:
        export = {"type": "object", "required": ["reason"], "properties": {
            "reason": {"type": "string", "minLength": 5, "maxLength": 500},
            "allow_mismatch": {"type": "boolean", "description": "export even when the original recording fails "
                                                                 "its SHA-256 check (the bundle says so)"}}}
        return [
            Route("POST", "/api/v1/calls/{linkedid}/evidence", self.export, EXPORTERS, "evidence.export",
                  "the call's evidence as a signed ZIP: the original WAV and browser copy, the record, the ticket "
                  "with its timeline, a PDF summary, the audit trail, a manifest of SHA-256s signed with the "
                  "centre's Ed25519 key; the original checked first (409 on a mismatch unless allow_mismatch); "
                  "audited with the reason", audit="service", body=export, tags=("qa",)),
            Route("POST", "/api/v1/calls/{linkedid}/hold", self.hold, HOLDERS, "legal_hold.set",
                  "put the call's ticket under legal hold: its recording is never pruned", audit="service",
                  tags=("qa",)),
            Route("DELETE", "/api/v1/calls/{linkedid}/hold", self.hold, HOLDERS, "legal_hold.clear",
                  "lift the call's legal hold", audit="service", tags=("qa",)),
        ]
