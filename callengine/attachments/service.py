"""Attachments of an assignment: uploaded by the agency's responders (or, for them, by the call
taker or supervisor), read by those and by QA and admins. A responder sees only their own
agency's: another agency's assignment or attachment is NotFound, as if it did not exist, and
kept in the audit as refused.not_yours.

An upload is streamed to the vault (size-capped, hashed), sniffed, looked at (images: that
they decode, their EXIF GPS, a thumbnail), then its row and its audit row commit together;
anything refused leaves no file behind and is audited with its reason. Imports neither
aiohttp nor SQLAlchemy.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

from callengine.accounts.model import AuditEntry
from callengine.attachments import images
from callengine.attachments.model import (MAX_BYTES, Attachment, AttachmentError, NotAllowed, NotFound, Unsupported,
                                         clean_filename, sniff)
from callengine.attachments.storage import Vault
from callengine.core.clock import Clock
from callengine.dispatch.model import Actor, Assignment

log = logging.getLogger(__name__)
Tx = Any
RESPONDER = "responder"
UPLOADERS = ("calltaker", "supervisor", RESPONDER)
READERS = (*UPLOADERS, "qa", "admin")
Timeline = Callable[[int], Awaitable[list[dict[str, Any]]]]
Owned = TypeVar("Owned", Assignment, Attachment)          # what belongs to one agency


class AssignmentReader(Protocol):
    async def get(self, assignment_id: int, conn: Tx = None) -> Assignment | None: ...


class AttachmentStore(Protocol):
    async def add(self, attachment: Attachment, conn: Tx = None) -> Attachment: ...
    async def get(self, attachment_id: int) -> Attachment | None: ...
    async def of_assignments(self, assignment_ids: list[int]) -> list[Attachment]: ...


class AuditStore(Protocol):
    async def add(self, entry: AuditEntry, conn: Tx = None) -> None: ...


class Attachments:
    def __init__(self, begin: Callable[[], AbstractAsyncContextManager[Tx]], assignments: AssignmentReader,
                 store: AttachmentStore, audit: AuditStore, vault: Vault, clock: Clock,
                 limit: int = MAX_BYTES) -> None:
        self.begin, self.assignments, self.store, self.audit = begin, assignments, store, audit
        self.vault, self.clock, self.limit = vault, clock, limit

    async def upload(self, assignment_id: int, filename: object, chunks: AsyncIterator[bytes],
                     actor: Actor) -> Attachment:
        if actor.role not in UPLOADERS:
            raise NotAllowed(f"the role {actor.role!r} does not upload documentation")
        assignment = await self._assignment(assignment_id, actor)
        target = f"{assignment.ticket_number}/{assignment.agency}"
        received = thumb_path = None
        try:
            name = clean_filename(filename)
            received = await self.vault.receive(chunks, self.limit)
            kind = sniff(received.head)
            if kind is None:
                raise Unsupported("the file is not a JPEG, PNG, WebP image or a PDF document (told by its bytes, "
                                  "not its name)")
            facts = None
            thumb_name = None
            if kind.image:
                thumb_name, thumb_path = self.vault.thumbnail_path(received)
                facts = await asyncio.to_thread(images.examine, received.part, kind, thumb_path)
            stored = self.vault.keep(received, kind)
        except AttachmentError as exc:
            self.vault.discard(received.part if received else None, thumb_path)
            await self.audit.add(AuditEntry(self.clock.now(), actor.name, "attachment.refused", target, {
                "assignment": assignment.id, "error": exc.code, "reason": str(exc),
                "size": received.size if received else None}, actor.peer))
            raise
        except BaseException:
            self.vault.discard(received.part if received else None, thumb_path)
            raise
        now = self.clock.now()
        lat, lon = facts.gps if facts and facts.gps else (None, None)
        attachment = Attachment(0, assignment.id, assignment.ticket_id, assignment.agency, name, kind.content_type,
                                received.size, received.sha256, stored, thumb_name, lat, lon,
                                facts.width if facts else None, facts.height if facts else None, actor.name, now,
                                actor.peer)
        try:
            async with self.begin() as tx:
                attachment = await self.store.add(attachment, tx)
                await self.audit.add(AuditEntry(now, actor.name, "attachment.upload", target, {
                    "assignment": assignment.id, "attachment": attachment.id, "name": name,
                    "type": kind.content_type, "size": received.size, "sha256": received.sha256,
                    "gps": [lat, lon] if lat is not None else None, "device": actor.device}, actor.peer), tx)
        except BaseException:
            self.vault.discard(stored, thumb_name)
            raise
        log.info("attachment kept", extra={"assignment": assignment.id, "attachment": attachment.id,
                                            "size": received.size, "type": kind.content_type})
        return attachment

    async def refuse(self, assignment_id: int, actor: Actor, error: AttachmentError) -> NoReturn:
        """An upload the API refused before its file was read (a form the parser refuses, a
        declared length over the cap): audited as the service's own refusals, then raised."""
        if actor.role not in UPLOADERS:
            raise NotAllowed(f"the role {actor.role!r} does not upload documentation")
        assignment = await self._assignment(assignment_id, actor)
        await self.audit.add(AuditEntry(self.clock.now(), actor.name, "attachment.refused",
                                        f"{assignment.ticket_number}/{assignment.agency}", {
                                            "assignment": assignment.id, "error": error.code, "reason": str(error),
                                            "size": None}, actor.peer))
        raise error

    async def of_assignment(self, assignment_id: int, actor: Actor) -> list[Attachment]:
        assignment = await self._assignment(assignment_id, actor)
        return await self.store.of_assignments([assignment.id])

    async def file(self, attachment_id: int, actor: Actor, thumbnail: bool = False) -> tuple[Attachment, Path]:
        """The attachment and the path of its file (or its thumbnail's)."""
        found = await self._yours(await self.store.get(attachment_id), actor, f"attachment/{attachment_id}")
        name = found.thumbnail_name if thumbnail else found.stored_name
        if name is None:
            raise NotFound(f"attachment {attachment_id} has no thumbnail (it is not an image)")
        return found, self.vault.path(name)

    def timeline(self, assignments_of: Timeline) -> Timeline:
        """A ticket's timeline (dispatch.Dispatcher.timeline) with each assignment's attachments."""
        async def with_attachments(ticket_id: int) -> list[dict[str, Any]]:
            assignments = await assignments_of(ticket_id)
            found = await self.store.of_assignments([a["id"] for a in assignments])
            return [{**a, "attachments": [f.to_json() for f in found if f.assignment_id == a["id"]]}
                    for a in assignments]
        return with_attachments

    async def _assignment(self, assignment_id: int, actor: Actor) -> Assignment:
        return await self._yours(await self.assignments.get(assignment_id), actor, f"assignment/{assignment_id}")

    async def _yours(self, found: Owned | None, actor: Actor, target: str) -> Owned:
        """`found` unless it is missing or, for a responder, another agency's: then NotFound (no
        other agency's work leaks, not even that it exists), that refusal kept in the audit."""
        if found is not None and actor.role == RESPONDER and found.agency != actor.agency:
            await self.audit.add(AuditEntry(self.clock.now(), actor.name, "refused.not_yours", target,
                                            {"agency": actor.agency}, actor.peer))
            found = None
        if found is None:
            raise NotFound(f"no {target.replace('/', ' ')}")
        return found
