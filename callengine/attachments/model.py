"""Documentation an agency sends back with its assignment (photos from the phone's camera, PDF
documents), on plain data: the kinds accepted, told by their bytes (magic numbers), never by
the client's name or Content-Type; the client's file name as it may be shown (never used on
disk); the position in a JPEG's EXIF GPS block.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

MAX_BYTES = 10 * 1024 * 1024          # a phone's photo is 2-6 MB; a scanned report a few
MAX_NAME = 200
SNIFF_BYTES = 16                      # enough for every signature below


@dataclass(frozen=True)
class Kind:
    name: str
    content_type: str
    extension: str                    # of the stored file, generated name
    image: bool


KINDS = {k.name: k for k in (Kind("jpeg", "image/jpeg", "jpg", True), Kind("png", "image/png", "png", True),
                             Kind("webp", "image/webp", "webp", True),
                             Kind("pdf", "application/pdf", "pdf", False))}


class AttachmentError(Exception):
    """An upload or a read refused; `code` is the API's error id."""
    code = "refused"


class NotFound(AttachmentError, LookupError):
    code = "not_found"


class NotAllowed(AttachmentError):
    code = "forbidden"


class TooLarge(AttachmentError):
    code = "too_large"


class BadName(AttachmentError):
    code = "bad_filename"


class Unsupported(AttachmentError):
    code = "unsupported_type"


class BadForm(AttachmentError):
    code = "bad_form"


class Unreadable(AttachmentError):
    code = "bad_file"


def sniff(head: bytes) -> Kind | None:
    """The kind the first bytes say, or None: JPEG (FF D8 FF), PNG (its 8-byte signature),
    WebP (RIFF....WEBP), PDF (%PDF-)."""
    if head.startswith(b"\xff\xd8\xff"):
        return KINDS["jpeg"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return KINDS["png"]
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return KINDS["webp"]
    if head.startswith(b"%PDF-"):
        return KINDS["pdf"]
    return None


def clean_filename(name: object) -> str:
    """The client's file name as kept and shown: a plain name. One that carries a path (`/`,
    `\\`, `..`) or a control character is refused, not repaired: a client that sends one is
    broken or probing. No name at all is "lampiran"."""
    if name is None or name == "":
        return "lampiran"
    if not isinstance(name, str):
        raise BadName("file name: must be text")
    if any(c in name for c in "/\\") or name in (".", "..") or name.startswith(".."):
        raise BadName("file name: a plain name without a path")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029\u202e\ufeff" for c in name):
        raise BadName("file name: control characters are not allowed")
    if len(name) > MAX_NAME or not name.strip():
        raise BadName(f"file name: 1 to {MAX_NAME} characters")
    return name.strip()


def _number(value: Any) -> float:
    if isinstance(value, tuple) and len(value) == 2:         # a raw (numerator, denominator) rational
        value = value[0] / value[1] if value[1] else math.nan
    return float(value)


def gps_position(gps: Mapping[int, Any]) -> tuple[float, float] | None:
    """(lat, lon) in degrees from an EXIF GPS IFD (tags 1-4: N/S, degrees-minutes-seconds,
    E/W, d-m-s), or None when it is missing, malformed or out of range (a phone with no fix
    writes zeros or nothing)."""
    try:
        parts = []
        for ref_tag, value_tag, negative, limit in ((1, 2, "S", 90.0), (3, 4, "W", 180.0)):
            ref = gps.get(ref_tag)
            ref = ref.decode("ascii", "replace") if isinstance(ref, bytes) else ref
            dms = gps.get(value_tag)
            if not isinstance(ref, str) or not isinstance(dms, (tuple, list)) or len(dms) != 3:
                return None
            d, m, s = (_number(x) for x in dms)
            degrees = d + m / 60 + s / 3600
            if not math.isfinite(degrees) or not 0 <= degrees <= limit or min(d, m, s) < 0:
                return None
            parts.append(-degrees if ref.strip().upper().startswith(negative) else degrees)
    except (TypeError, ValueError, ZeroDivisionError, AttributeError):
        return None
    lat, lon = parts
    return None if lat == 0 and lon == 0 else (round(lat, 7), round(lon, 7))


@dataclass(frozen=True)
class Attachment:
    id: int
    assignment_id: int
    ticket_id: int
    agency: str
    original_name: str                # as the client named it (checked by clean_filename); never on disk
    content_type: str                 # from the sniffed kind
    size: int
    sha256: str
    stored_name: str                  # generated: <32 hex>.<ext> under runtime/attachments/
    thumbnail_name: str | None        # <32 hex>.thumb.jpg for images
    lat: float | None                 # from the JPEG's EXIF GPS
    lon: float | None
    width: int | None
    height: int | None
    uploaded_by: str
    uploaded_at: datetime
    peer: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()
                if k not in ("stored_name", "thumbnail_name", "lat", "lon", "peer")}
        return {**data, "gps": {"lat": self.lat, "lon": self.lon} if self.lat is not None else None,
                "url": f"/api/v1/attachments/{self.id}",
                "thumbnail": f"/api/v1/attachments/{self.id}/thumbnail" if self.thumbnail_name else None}
