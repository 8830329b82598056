"""The chain of custody of a call: its evidence exported as one signed bundle, and its legal hold.

An export reads the original recording once, checks those very bytes against the SHA-256 on
the call's record, and bundles them: a recording that fails (altered, missing, never hashed) is
kept in the audit and raised as an alert, and the export is refused unless the person asks for
it anyway, when the manifest and the PDF's first line say so. Every export is audited with who,
from where and why; so is every legal hold set or lifted (from the console or the command line).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from callengine.accounts.model import AuditEntry
from callengine.audio.recordings import MP3, OPUS, RecordingError, resolve
from callengine.calls.record import CallRecord
from callengine.core.clock import Clock
from callengine.core.pdf import MissingFont
from callengine.db.alerts import AlertRepository
from callengine.db.audit import AuditRepository
from callengine.db.calls import CallRepository
from callengine.db.tickets import TicketRepository
from callengine.evidence import bundle, pdf
from callengine.evidence.keys import KeyProblem, fingerprint
from callengine.tickets.model import Ticket, call_audit_targets
from callengine.tickets.story import TicketStory

log = logging.getLogger(__name__)
MIN_REASON, MAX_REASON = 5, 500
LINKEDID = re.compile(r"[^\x00-\x1f\x7f/\\]{1,150}")   # Asterisk's [system name-]epoch.sequence: no path
SOUND = ("ok", "none")      # the recording's states an export goes ahead with: checked, or the call has none
Tx = Any                    # a unit of work of the database, opaque here


class EvidenceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Requester:
    name: str                 # the account, or cli:<os user>
    via: str                  # web, cli
    peer: str | None = None   # the web client's address


@dataclass(frozen=True)
class Centre:
    city: str
    city_code: str
    zone: ZoneInfo            # the PDF's times


@dataclass(frozen=True)
class Bundle:
    name: str                 # evidence-<linkedid>-<UTC time>-<manifest's SHA-256, 12>.zip
    data: bytes
    manifest: dict[str, Any]
    manifest_sha256: str

    def save(self, folder: Path) -> Path:
        """Written into `folder` (made if need be), never over another file."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.name
        with path.open("xb") as f:
            f.write(self.data)
        return path


@dataclass(frozen=True)
class Recording:
    files: dict[str, bytes]   # the bundle's recording/<name>: the original WAV and its browser copy
    integrity: str            # ok, none (no recording), mismatch, missing, unhashed
    facts: dict[str, Any]     # the path and the SHA-256 on the record and found, for the manifest
    warning: str | None = None


@dataclass
class Custody:
    calls: CallRepository
    tickets: TicketRepository
    story: TicketStory
    audit: AuditRepository
    alerts: AlertRepository
    key: Callable[[], Ed25519PrivateKey]   # the centre's, made at first use
    recordings_dir: Path
    centre: Centre
    clock: Clock

    async def export(self, linkedid: str, reason: object, who: Requester, allow_mismatch: bool = False) -> Bundle:
        why = _reason(reason)
        call = await self._call(linkedid)
        try:
            key = await asyncio.to_thread(self.key)
        except KeyProblem as exc:
            raise EvidenceError("cannot_export", str(exc)) from None
        recording = await asyncio.to_thread(self._recording, call)
        if recording.integrity not in SOUND:
            await self._unsound(call, recording, who, why)
            if not allow_mismatch:
                raise EvidenceError("recording_mismatch", f"{recording.warning}. Export refused; the check is kept "
                                    "in the audit and the alerts. To export it anyway, marked as such: "
                                    "--allow-mismatch (web: \"allow_mismatch\": true)")
        made = await self._bundle(call, recording, who, why, key)
        await self.audit.add(AuditEntry(self.clock.now(), who.name, "evidence.export", f"call/{call.linkedid}", {
            "reason": why, "bundle": made.name, "manifest_sha256": made.manifest_sha256,
            "recording_integrity": recording.integrity, "via": who.via}, who.peer))
        return made

    async def _bundle(self, call: CallRecord, recording: Recording, who: Requester, why: str,
                      key: Ed25519PrivateKey) -> Bundle:
        """The call's files, its ticket's story, their audit trail and the PDF of them, signed."""
        ticket = await self.tickets.by_linkedid(call.linkedid)
        story = await self.story.of(ticket, call) if ticket is not None else None
        trail = [e.to_json() for e in await self.audit.about(*call_audit_targets(call.linkedid, ticket))]
        now = self.clock.now()
        facts = {"centre": {"city": self.centre.city, "city_code": self.centre.city_code},
                 "linkedid": call.linkedid, "ticket": ticket.number if ticket else None,
                 "exported_at": now.isoformat(), "exported_by": who.name, "via": who.via, "peer": who.peer,
                 "reason": why, "recording_integrity": recording.integrity, "warning": recording.warning,
                 "recording": recording.facts}
        files = {**recording.files, "call.json": _json(call.to_json()), "ticket.json": _json(story),
                 "audit.json": _json(trail)}
        try:
            files["summary.pdf"] = await asyncio.to_thread(
                pdf.summary, facts, bundle.describe(files), call.to_json(), story, trail,
                fingerprint(key.public_key()), self.centre.zone)
        except MissingFont as exc:
            raise EvidenceError("cannot_export", str(exc)) from None
        data, manifest = await asyncio.to_thread(bundle.build, files, facts, key, now)
        signed = hashlib.sha256(manifest).hexdigest()
        return Bundle(f"evidence-{_safe(call.linkedid)}-{now:%Y%m%dT%H%M%SZ}-{signed[:12]}.zip", data,
                      json.loads(manifest), signed)

    async def _call(self, linkedid: str) -> CallRecord:
        call = await self.calls.get(_linkedid(linkedid))
        if call is None:
            raise EvidenceError("not_found", f"no call {linkedid!r} in the ticket store")
        return call

    def _recording(self, call: CallRecord) -> Recording:
        """The original's bytes, read once: the bytes checked are the bytes bundled. Blocking."""
        if not call.recording:
            return Recording({}, "none", {"path": None})
        facts = call.recording_facts or {}
        expected = str(facts.get("sha256") or "").lower() or None
        noted = {"path": call.recording, "sha256_on_record": expected}
        try:
            wav = resolve(self.recordings_dir, call.recording)
            original = wav.read_bytes()
        except (RecordingError, OSError) as exc:
            return Recording({}, "missing", noted, f"PERINGATAN (WARNING): the original recording {call.recording} "
                                                   f"is not there ({exc}): the bundle holds no audio")
        found = hashlib.sha256(original).hexdigest()
        files = {f"recording/{wav.name}": original}
        suffix = PurePosixPath(str(facts.get("browser_copy") or "")).suffix
        if suffix in (OPUS.suffix, MP3.suffix) and (copy := wav.with_suffix(suffix)).is_file():
            files[f"recording/{copy.name}"] = copy.read_bytes()
        noted["sha256_found"] = found
        if expected is None:
            return Recording(files, "unhashed", noted, f"PERINGATAN (WARNING): the original recording "
                             f"{call.recording} has no SHA-256 on its record (never processed): nothing shows it "
                             "is what was recorded")
        if found != expected:
            return Recording(files, "mismatch", noted, f"PERINGATAN (WARNING): the original recording "
                             f"{call.recording} does NOT match the SHA-256 on its record (record {expected}, file "
                             f"{found}): it may have been altered since the call")
        return Recording(files, "ok", noted)

    async def _unsound(self, call: CallRecord, recording: Recording, who: Requester, why: str) -> None:
        log.error("recording failed its check at an evidence export",
                  extra={"linkedid": call.linkedid, "integrity": recording.integrity})
        detail = {**recording.facts, "during": "evidence.export", "reason": why}
        await self.audit.add(AuditEntry(self.clock.now(), who.name, f"recording.{recording.integrity}",
                                        f"call/{call.linkedid}", detail, who.peer))
        await self.alerts.add(self.clock.now(), f"recording_{recording.integrity}",
                              f"call {call.linkedid}: {recording.warning}")


@dataclass
class LegalHold:
    """A call's ticket under legal hold (its recording is never pruned), or released; the
    change and its audit row commit together."""
    tickets: TicketRepository
    audit: AuditRepository
    begin: Callable[[], AbstractAsyncContextManager[Tx]]
    clock: Clock

    async def set(self, linkedid: str, held: bool, who: Requester) -> Ticket:
        async with self.begin() as tx:
            ticket = await self.tickets.set_legal_hold(_linkedid(linkedid), held, tx)
            if ticket is None:
                raise EvidenceError("not_found", f"no ticket for call {linkedid!r} in the ticket store")
            action = "legal_hold.set" if held else "legal_hold.clear"
            await self.audit.add(AuditEntry(self.clock.now(), who.name, action, f"call/{linkedid}",
                                            {"ticket": ticket.number, "via": who.via}, who.peer), tx)
        return ticket


def _linkedid(text: str) -> str:
    if not LINKEDID.fullmatch(text):
        raise EvidenceError("bad_linkedid", f"{text[:160]!r} is not a linkedid (e.g. 1733123456.42)")
    return text


def _reason(reason: object) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if len(text) < MIN_REASON:
        raise EvidenceError("reason_needed", "say why the evidence is exported (the reason, at least "
                                             f"{MIN_REASON} characters: e.g. the police's request and its number)")
    if len(text) > MAX_REASON:
        raise EvidenceError("bad_reason", f"the reason is longer than {MAX_REASON} characters")
    return text


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode()


def _safe(text: str) -> str:
    """A linkedid as part of a file name: it came from Asterisk, so nothing but [A-Za-z0-9._-]."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:64]
