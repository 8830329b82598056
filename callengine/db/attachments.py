"""Attachments of assignments: the rows; the files are the vault's (attachments/storage.py)."""
from __future__ import annotations

from dataclasses import asdict, fields, replace

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from callengine.attachments.model import Attachment
from callengine.db.database import Database
from callengine.db.models import AttachmentRow

_COLUMNS = [getattr(AttachmentRow, f.name) for f in fields(Attachment)]


class AttachmentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, attachment: Attachment, conn: AsyncConnection | None = None) -> Attachment:
        """Stored (in the caller's transaction, with its audit row); with its id."""
        values = {k: v for k, v in asdict(attachment).items() if k != "id"}
        async with self.db.begin(conn) as c:
            new_id = (await c.execute(insert(AttachmentRow).values(**values).returning(AttachmentRow.id))).scalar_one()
        return replace(attachment, id=new_id)

    async def get(self, attachment_id: int) -> Attachment | None:
        async with self.db.connect() as c:
            row = (await c.execute(select(*_COLUMNS).where(AttachmentRow.id == attachment_id))).mappings().first()
        return Attachment(**row) if row else None

    async def of_assignments(self, assignment_ids: list[int]) -> list[Attachment]:
        """In the order they were uploaded."""
        if not assignment_ids:
            return []
        query = select(*_COLUMNS).where(AttachmentRow.assignment_id.in_(assignment_ids)).order_by(AttachmentRow.id)
        async with self.db.connect() as c:
            return [Attachment(**row) for row in (await c.execute(query)).mappings()]
