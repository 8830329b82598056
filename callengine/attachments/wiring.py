"""The attachments service on the database's repositories and runtime/attachments/, and its API."""
from __future__ import annotations

from pathlib import Path

from callengine.attachments.http import AttachmentApi
from callengine.attachments.service import Attachments
from callengine.attachments.storage import Vault
from callengine.core.clock import Clock
from callengine.db.assignments import AssignmentRepository
from callengine.db.attachments import AttachmentRepository
from callengine.db.audit import AuditRepository
from callengine.db.database import Database


def stored_attachments(db: Database, runtime_dir: Path, clock: Clock) -> AttachmentApi:
    return AttachmentApi(Attachments(db.begin, AssignmentRepository(db), AttachmentRepository(db),
                                     AuditRepository(db), Vault(runtime_dir / "attachments"), clock))
