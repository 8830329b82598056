"""Documentation uploads on the real console process: a PDAM responder's photo kept under a
generated name with its SHA-256, EXIF GPS and thumbnail, served with its sniffed type and
nosniff; a PDF without a thumbnail; DAMKAR's responder sees none of it; uploads that lie about
their type, are too large or carry a path in their name are refused; every upload audited;
the ticket shows its attachments; the responder's list carries the ticket's facts."""
from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from callengine.core.settings import load_settings
from console_lab import ConsoleLab, call_records, save_all
from test_console_desk import Desk, desks  # noqa: F401 (the desks fixture: a person's session)
from test_console_tickets import NOW, PASSWORD, call

pytestmark = pytest.mark.integration
TICKET = {"incident_type": "Kebakaran rumah/permukiman", "kecamatan": "Samarinda Ulu", "kelurahan": "Air Hitam",
          "description": "Rumah terbakar, hidran kering", "address": "Jl. Juanda Gg. 4 No. 12", "lat": -0.4871,
          "lon": 117.1402, "callback_number": "+628111111111", "caller_name": "Budi"}
SAMARINDA = {1: "S", 2: (0.0, 30.0, 7.92), 3: "E", 4: (117.0, 9.0, 12.96)}    # EXIF GPS: -0.5022, 117.1536
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def jpeg(gps: dict[int, Any] | None = None, size: tuple[int, int] = (640, 480)) -> bytes:
    """A photo as a phone's camera writes it, with its GPS block."""
    import io

    from PIL import Image
    image = Image.new("RGB", size, (200, 60, 30))
    for x in range(0, size[0], 40):                       # something to see in the thumbnail
        image.paste((250, 200, 40), (x, size[1] // 3, x + 20, size[1] // 3 * 2))
    exif = Image.Exif()
    if gps is not None:
        exif[0x8825] = gps
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def seed(config: Path) -> str:
    async with call_records(config) as records:
        numbers = await save_all(records, [call("1.1", "+6281111111111", "answered", 10)])
        await records.tickets.change(numbers["1.1"], TICKET, NOW)
    return numbers["1.1"]


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-attach-"))
    lab = ConsoleLab(folder)
    for name, role, agency in (("taker1", "calltaker", None), ("admin1", "admin", None), ("view1", "viewer", None),
                               ("dmk1", "responder", "DAMKAR"), ("pdam1", "responder", "PDAM")):
        lab.add_user(name, role, PASSWORD, *(["--agency", agency] if agency else []))
    lab.ticket = asyncio.run(seed(lab.config))  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def assignments(centre: ConsoleLab) -> dict[str, int]:
    async def dispatch() -> dict[str, int]:
        from aiohttp import ClientSession, CookieJar
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
            taker = await Desk(centre, http).login("taker1")
            status, body = await taker.call("POST", f"/api/v1/tickets/{centre.ticket}/dispatch",  # type: ignore
                                            {"agencies": ["DAMKAR", "PDAM"], "note": "butuh air"})
            assert status == 201, body
            return {a["agency"]: a["id"] for a in body["assignments"]}
    return asyncio.run(dispatch())


def multipart(filename: str, data: bytes, content_type: str = "image/jpeg") -> tuple[bytes, str]:
    """The form a browser sends, written by hand so that the name's bytes go as they are."""
    boundary = "----callengine7MA4YWxkTrZu0gW"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def upload(desk: Desk, assignment: int, filename: str, data: bytes,
                 content_type: str = "image/jpeg") -> tuple[int, Any]:
    body, kind = multipart(filename, data, content_type)
    reply = await desk.http.post(f"{desk.centre.url}/api/v1/assignments/{assignment}/attachments", data=body,
                                 headers={"Content-Type": kind, "X-CSRF-Token": desk.csrf})
    return reply.status, await reply.json()


async def fetch(desk: Desk, path: str) -> tuple[int, bytes, Any]:
    reply = await desk.http.get(f"{desk.centre.url}{path}")
    return reply.status, await reply.read(), reply.headers


async def test_a_photo_is_kept_with_its_hash_gps_and_thumbnail(centre: ConsoleLab, assignments: dict[str, int],
                                                                desks: Any) -> None:
    pdam, taker = await desks("pdam1"), await desks("taker1")
    photo = jpeg(SAMARINDA, (1200, 900))
    status, made = await upload(pdam, assignments["PDAM"], "hidran kering.jpg", photo)
    assert status == 201, made
    assert made["sha256"] == hashlib.sha256(photo).hexdigest() and made["size"] == len(photo)
    assert (made["content_type"], made["original_name"], made["uploaded_by"]) == ("image/jpeg", "hidran kering.jpg",
                                                                                  "pdam1")
    assert made["gps"] == {"lat": -0.5022, "lon": 117.1536} and (made["width"], made["height"]) == (1200, 900)

    status, body, headers = await fetch(pdam, made["url"])
    assert status == 200 and body == photo and hashlib.sha256(body).hexdigest() == made["sha256"]
    assert headers["Content-Type"] == "image/jpeg" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"].startswith('inline; filename="hidran kering.jpg"')
    status, thumb, headers = await fetch(pdam, made["thumbnail"])
    assert status == 200 and thumb.startswith(b"\xff\xd8\xff") and headers["Content-Type"] == "image/jpeg"

    stored = load_settings(centre.config).runtime_dir / "attachments"
    names = [p.name for p in stored.iterdir()]
    assert len(names) == 2 and not any("hidran" in n for n in names)       # never the client's name on disk

    listed = (await pdam.call("GET", f"/api/v1/assignments/{assignments['PDAM']}/attachments"))[1]["attachments"]
    assert [a["id"] for a in listed] == [made["id"]]
    ticket = (await taker.call("GET", f"/api/v1/tickets/{centre.ticket}"))[1]  # type: ignore[attr-defined]
    pdam_row = next(a for a in ticket["assignments"] if a["agency"] == "PDAM")
    assert [a["sha256"] for a in pdam_row["attachments"]] == [made["sha256"]]
    trail = (await (await desks("admin1")).call("GET", "/api/v1/audit?limit=100"))[1]["entries"]
    assert any(e["action"] == "attachment.upload" and e["actor"] == "pdam1" and e["detail"]["sha256"] == made["sha256"]
               for e in trail)


async def test_a_pdf_and_a_png_are_accepted_by_their_bytes(assignments: dict[str, int], desks: Any) -> None:
    import io

    from PIL import Image
    taker = await desks("taker1")
    status, made = await upload(taker, assignments["PDAM"], "berita acara.pdf", PDF, "application/octet-stream")
    assert status == 201 and made["content_type"] == "application/pdf" and made["thumbnail"] is None
    status, body, headers = await fetch(taker, made["url"])
    assert body == PDF and headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"].startswith("attachment;")
    assert (await fetch(taker, f"{made['url']}/thumbnail"))[0] == 404
    png = io.BytesIO()
    Image.new("RGBA", (50, 40), (0, 0, 255, 128)).save(png, "PNG")
    status, made = await upload(taker, assignments["PDAM"], "denah.jpg", png.getvalue())   # named .jpg: it is a PNG
    assert status == 201 and made["content_type"] == "image/png" and made["gps"] is None and made["thumbnail"]


async def test_another_agency_cannot_list_read_or_upload(assignments: dict[str, int], desks: Any) -> None:
    pdam, dmk = await desks("pdam1"), await desks("dmk1")
    status, made = await upload(pdam, assignments["PDAM"], "bukti.jpg", jpeg())
    assert status == 201
    mine = (await dmk.call("GET", "/api/v1/assignments?status=open"))[1]["assignments"]
    assert [a["agency"] for a in mine] == ["DAMKAR"]
    for path in (f"/api/v1/assignments/{assignments['PDAM']}/attachments", made["url"], made["thumbnail"]):
        status, body, _ = await fetch(dmk, path)
        assert status == 404 and b"PDAM" not in body, path
    status, error = await upload(dmk, assignments["PDAM"], "x.jpg", jpeg())
    assert status == 404 and error["error"] == "not_found"
    assert (await fetch(await desks("view1"), made["url"]))[0] == 403
    trail = (await (await desks("admin1")).call("GET", "/api/v1/audit?limit=100"))[1]["entries"]
    refused = {e["target"] for e in trail if e["actor"] == "dmk1" and e["action"] == "refused.not_yours"}
    assert {f"assignment/{assignments['PDAM']}", f"attachment/{made['id']}"} <= refused


async def test_the_responders_list_carries_the_tickets_facts(centre: ConsoleLab, assignments: dict[str, int],
                                                             desks: Any) -> None:
    pdam = await desks("pdam1")
    status, body = await pdam.call("GET", "/api/v1/assignments?status=open")
    [mine] = body["assignments"]
    assert status == 200 and mine["id"] == assignments["PDAM"] and body["now"]
    ticket = mine["ticket"]
    assert ticket["number"] == centre.ticket  # type: ignore[attr-defined]
    assert {k: ticket[k] for k in TICKET} == TICKET and ticket["category"] == "kebakaran"
    taker_view = (await (await desks("taker1")).call("GET", "/api/v1/assignments"))[1]["assignments"]
    assert all("ticket" not in a for a in taker_view)


@pytest.mark.parametrize("filename, data, status, error", [
    ("foto.jpg", b"<html><script>alert(document.cookie)</script></html>", 415, "unsupported_type"),
    ("foto.jpg", b"Ini bukan foto, hanya teks.\n" * 20, 415, "unsupported_type"),
    ("foto.jpg", b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>", 400, "bad_file"),
    ("../../runtime/secrets.conf", jpeg(), 400, "bad_filename"),
    ("..\\..\\foto.jpg", jpeg(), 400, "bad_filename"),
    ("/etc/passwd", jpeg(), 400, "bad_filename"),
    ("foto\tkebakaran.jpg", jpeg(), 400, "bad_filename"),
    ("foto\x01.jpg", jpeg(), 400, "bad_form")])         # aiohttp's parser refuses the part's header itself
async def test_a_lying_or_pathed_upload_is_refused(assignments: dict[str, int], desks: Any, filename: str,
                                                   data: bytes, status: int, error: str) -> None:
    pdam = await desks("pdam1")
    got, body = await upload(pdam, assignments["PDAM"], filename, data)
    assert (got, body["error"]) == (status, error), body


async def test_an_oversized_upload_is_refused(centre: ConsoleLab, assignments: dict[str, int], desks: Any) -> None:
    pdam = await desks("pdam1")
    stored = load_settings(centre.config).runtime_dir / "attachments"
    before = sorted(p.name for p in stored.iterdir()) if stored.exists() else []
    big = b"\xff\xd8\xff\xe0" + b"\x00" * (10 * 1024 * 1024)
    status, body = await upload(pdam, assignments["PDAM"], "besar.jpg", big)
    assert status == 413 and body["error"] == "too_large"
    reply = await pdam.http.post(f"{centre.url}/api/v1/assignments/{assignments['PDAM']}/attachments",
                                 data=chunked(big), headers={"Content-Type": multipart("b.jpg", b"")[1],
                                                             "X-CSRF-Token": pdam.csrf})
    assert reply.status == 413 and (await reply.json())["error"] == "too_large"   # no length said: cut while read
    assert sorted(p.name for p in stored.iterdir()) == before               # nothing left behind
    trail = (await (await desks("admin1")).call("GET", "/api/v1/audit?limit=20"))[1]["entries"]
    assert any(e["action"] == "attachment.refused" and e["detail"]["error"] == "too_large" for e in trail)


async def chunked(data: bytes) -> Any:
    body, _ = multipart("b.jpg", data)
    for i in range(0, len(body), 256 * 1024):
        yield body[i:i + 256 * 1024]


async def test_csrf_and_a_form_without_a_file(assignments: dict[str, int], desks: Any) -> None:
    pdam = await desks("pdam1")
    body, kind = multipart("a.jpg", jpeg())
    reply = await pdam.http.post(f"{pdam.centre.url}/api/v1/assignments/{assignments['PDAM']}/attachments",
                                 data=body, headers={"Content-Type": kind})
    assert reply.status == 403 and (await reply.json())["error"] == "csrf"
    status, error = await pdam.call("POST", f"/api/v1/assignments/{assignments['PDAM']}/attachments", {"file": "x"})
    assert status == 415


async def test_the_repository_on_both_databases(database_url: str) -> None:
    from datetime import timezone

    from callengine.attachments.model import Attachment
    from callengine.db.assignments import AssignmentRepository
    from callengine.db.attachments import AttachmentRepository
    from callengine.dispatch.model import forwarded
    from test_dispatch_store import FAST, T0, WITA, ticket_in
    from test_store import stored

    store = await stored(database_url)
    try:
        ticket_id, ticket = await ticket_in(store)
        made = await AssignmentRepository(store).add(forwarded(ticket_id, ticket, "PDAM", "", "taker1", T0, FAST))
        repo = AttachmentRepository(store)
        photo = Attachment(0, made.id, ticket_id, "PDAM", "foto api.jpg", "image/jpeg", 12_345_678_901, "ab" * 32,
                           "0" * 32 + ".jpg", "0" * 32 + ".thumb.jpg", -0.5022, 117.1536, 1600, 1200, "pdam1",
                           T0.astimezone(WITA), "10.0.0.9")
        kept = await repo.add(photo)
        pdf = await repo.add(Attachment(0, made.id, ticket_id, "PDAM", "ba.pdf", "application/pdf", 90, "cd" * 32,
                                        "1" * 32 + ".pdf", None, None, None, None, None, "taker1", T0))
        assert kept.id and pdf.id > kept.id
        read = await repo.get(kept.id)
        assert read == kept and read is not None and read.uploaded_at.tzinfo == timezone.utc
        assert [a.id for a in await repo.of_assignments([made.id])] == [kept.id, pdf.id]
        assert await repo.of_assignments([]) == [] and await repo.get(999) is None
    finally:
        await store.close()
