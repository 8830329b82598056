"""Attachments on plain data: the kind told by the bytes, the client's file name refused when it
carries a path or a control character, the EXIF GPS position, the vault's cap, hash and
generated names, and the service with fakes (another agency's is not found, a refusal leaves
no file and is audited)."""
from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from callengine.accounts.model import AuditEntry
from callengine.attachments import images
from callengine.attachments.model import (KINDS, Attachment, BadName, NotFound, TooLarge, Unreadable, Unsupported,
                                         clean_filename, gps_position, sniff)
from callengine.attachments.service import Attachments
from callengine.attachments.storage import Vault
from callengine.dispatch.model import Actor, Assignment

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)


def jpeg(gps: dict[int, Any] | None = None, size: tuple[int, int] = (640, 480)) -> bytes:
    image = Image.new("RGB", size, (200, 60, 30))
    exif = Image.Exif()
    if gps is not None:
        exif[images.GPS_IFD] = gps
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


SAMARINDA = {1: "S", 2: (0.0, 30.0, 7.92), 3: "E", 4: (117.0, 9.0, 12.96)}


@pytest.mark.parametrize("head, kind", [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"), (b"\x89PNG\r\n\x1a\n\x00\x00", "png"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"), (b"%PDF-1.7\n", "pdf")])
def test_the_kind_is_told_by_the_bytes(head: bytes, kind: str) -> None:
    assert sniff(head) == KINDS[kind]


@pytest.mark.parametrize("head", [b"<html><script>", b"GIF89a", b"RIFF\x10\x00\x00\x00WAVEfmt ", b"", b"\xff\xd8",
                                  b"PK\x03\x04", b"  %PDF-1.4"])
def test_anything_else_is_no_kind(head: bytes) -> None:
    assert sniff(head) is None


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b.jpg", "C:\\Users\\x.jpg", "..", "..foto.jpg", "a\x00b.jpg",
                                  "a\nb.jpg", "foto\r.jpg", "x\x7f.jpg", "evil\u202egpj.exe", "x" * 201, "   ", 7])
def test_a_name_with_a_path_or_a_control_character_is_refused(name: object) -> None:
    with pytest.raises(BadName):
        clean_filename(name)


def test_a_plain_name_is_kept_as_it_is_shown() -> None:
    assert clean_filename("Foto kebakaran 1.jpg") == "Foto kebakaran 1.jpg"
    assert clean_filename("laporan_akhir.v2.pdf") == "laporan_akhir.v2.pdf"
    assert clean_filename(None) == clean_filename("") == "lampiran"


def test_gps_in_degrees_minutes_seconds_south_and_east() -> None:
    assert gps_position(SAMARINDA) == (-0.5022, 117.1536)
    assert gps_position({1: b"N", 2: ((1, 1), (30, 1), (0, 1)), 3: "W", 4: (10, 0, 36)}) == (1.5, -10.01)


@pytest.mark.parametrize("gps", [{}, {1: "S", 2: (0, 30, 7.92)}, {1: "S", 2: (91, 0, 0), 3: "E", 4: (1, 0, 0)},
                                 {1: "N", 2: (0, 0, 0), 3: "E", 4: (0, 0, 0)}, {1: "S", 2: "x", 3: "E", 4: (1, 2, 3)},
                                 {1: "S", 2: ((1, 0), (0, 1), (0, 1)), 3: "E", 4: (1, 0, 0)}])
def test_missing_or_broken_gps_is_none(gps: dict[int, Any]) -> None:
    assert gps_position(gps) is None


def test_a_photo_is_examined_its_gps_read_and_its_thumbnail_made(tmp_path: Path) -> None:
    photo, thumb = tmp_path / "p.jpg", tmp_path / "p.thumb.jpg"
    photo.write_bytes(jpeg(SAMARINDA, (1600, 1200)))
    facts = images.examine(photo, KINDS["jpeg"], thumb)
    assert (facts.width, facts.height, facts.gps) == (1600, 1200, (-0.5022, 117.1536))
    with Image.open(thumb) as small:
        assert small.format == "JPEG" and max(small.size) == images.THUMB_PX


def test_bytes_that_only_start_like_an_image_are_unreadable(tmp_path: Path) -> None:
    fake, thumb = tmp_path / "f.jpg", tmp_path / "f.thumb.jpg"
    fake.write_bytes(b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>")
    with pytest.raises(Unreadable):
        images.examine(fake, KINDS["jpeg"], thumb)
    assert not thumb.exists()


async def chunks_of(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def test_the_vault_hashes_counts_and_caps(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "attachments")
    data = jpeg()
    got = await vault.receive(chunks_of(data), 100_000)
    assert (got.size, got.sha256, got.head) == (len(data), hashlib.sha256(data).hexdigest(), data[:16])
    name = vault.keep(got, KINDS["jpeg"])
    assert vault.path(name).read_bytes() == data and not got.part.exists()
    with pytest.raises(TooLarge):
        await vault.receive(chunks_of(b"x" * 5000), 4999)
    assert [p.name for p in (tmp_path / "attachments").iterdir()] == [name]      # the part file is gone
    for bad in ("../secrets.conf", "x.jpg", name + "/..", "A" * 32 + ".jpg"):
        with pytest.raises(ValueError):
            vault.path(bad)


class Fakes:
    def __init__(self) -> None:
        self.rows: list[Attachment] = []
        self.audit: list[AuditEntry] = []
        self.assignment = Assignment(7, 3, "SMD-20261202-0001", "PDAM", "diproses", "", "taker1", T0, T0, T0)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        yield None

    async def get(self, assignment_id: int, conn: Any = None) -> Assignment | None:
        return self.assignment if assignment_id == 7 else None

    async def add(self, item: Any, conn: Any = None) -> Any:
        if isinstance(item, AuditEntry):
            self.audit.append(item)
            return None
        self.rows.append(item.__class__(**{**item.__dict__, "id": len(self.rows) + 1}))
        return self.rows[-1]


class Store:
    def __init__(self, fakes: Fakes) -> None:
        self.fakes = fakes

    async def add(self, attachment: Attachment, conn: Any = None) -> Attachment:
        return await self.fakes.add(attachment)   # type: ignore[no-any-return]

    async def get(self, attachment_id: int) -> Attachment | None:
        return next((a for a in self.fakes.rows if a.id == attachment_id), None)

    async def of_assignments(self, ids: list[int]) -> list[Attachment]:
        return [a for a in self.fakes.rows if a.assignment_id in ids]


class Clock:
    def now(self) -> datetime:
        return T0


def service(tmp_path: Path) -> tuple[Attachments, Fakes]:
    fakes = Fakes()
    return Attachments(fakes.begin, fakes, Store(fakes), fakes, Vault(tmp_path), Clock(), limit=200_000), fakes


PDAM = Actor("pdam1", "responder", "PDAM", "10.0.0.9", "Android")
DAMKAR = Actor("dmk1", "responder", "DAMKAR", "10.0.0.8")


async def test_an_upload_is_kept_under_a_generated_name_with_its_facts_and_audit(tmp_path: Path) -> None:
    attachments, fakes = service(tmp_path)
    data = jpeg(SAMARINDA)
    made = await attachments.upload(7, "foto api.jpg", chunks_of(data), PDAM)
    assert (made.original_name, made.content_type, made.size, made.sha256) == (
        "foto api.jpg", "image/jpeg", len(data), hashlib.sha256(data).hexdigest())
    assert (made.lat, made.lon, made.agency, made.ticket_id) == (-0.5022, 117.1536, "PDAM", 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([made.stored_name, made.thumbnail_name])
    assert [(e.action, e.target, e.detail["sha256"]) for e in fakes.audit] == [
        ("attachment.upload", "SMD-20261202-0001/PDAM", made.sha256)]
    found, path = await attachments.file(made.id, PDAM, thumbnail=True)
    assert found == made and path.name == made.thumbnail_name


async def test_another_agency_finds_nothing_and_is_audited(tmp_path: Path) -> None:
    attachments, fakes = service(tmp_path)
    made = await attachments.upload(7, "a.jpg", chunks_of(jpeg()), PDAM)
    for work in (attachments.upload(7, "b.jpg", chunks_of(jpeg()), DAMKAR), attachments.of_assignment(7, DAMKAR),
                 attachments.file(made.id, DAMKAR)):
        with pytest.raises(NotFound):
            await work
    assert [e.action for e in fakes.audit][1:] == ["refused.not_yours"] * 3
    assert len(fakes.rows) == 1


@pytest.mark.parametrize("name, data, error", [
    ("foto.jpg", b"<html><body>bukan foto</body></html>", Unsupported),
    ("foto.jpg", b"\xff\xd8\xff" + b"A" * 500, Unreadable),
    ("../foto.jpg", jpeg(), BadName),
    ("foto.jpg", b"\xff\xd8\xff" + b"\x00" * 300_000, TooLarge)])
async def test_a_refused_upload_leaves_no_file_and_is_audited(tmp_path: Path, name: str, data: bytes,
                                                              error: type[Exception]) -> None:
    attachments, fakes = service(tmp_path)
    with pytest.raises(error):
        await attachments.upload(7, name, chunks_of(data, 64_000), PDAM)
    assert list(tmp_path.iterdir()) == [] and fakes.rows == []
    assert [e.action for e in fakes.audit] == ["attachment.refused"]
